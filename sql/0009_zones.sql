-- gis-patrimoine 0009: pooling evidence layers: workload grid, depot areas (isochrones, catchments), service
-- zones (balanced and status quo), opportunities. All are results: replaced by the analyses, versioned for tiles.
-- depends: 0008_scenarios

CREATE TABLE analysis.workload_hex (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    size_m      double precision NOT NULL,
    service     text NOT NULL,
    hours       double precision NOT NULL,
    assets      double precision NOT NULL,
    communes    text[] NOT NULL,
    geom        geometry(Polygon, {{srid}}) NOT NULL
);
CREATE INDEX workload_hex_geom_idx ON analysis.workload_hex USING gist (geom);

CREATE TABLE analysis.depot_area (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('isochrone', 'catchment')),
    depot_id    bigint NOT NULL,
    depot_name  text NOT NULL,
    minutes     double precision,
    service     text,
    geom        geometry(MultiPolygon, {{srid}}) NOT NULL
);
CREATE INDEX depot_area_geom_idx ON analysis.depot_area USING gist (geom);

CREATE TABLE analysis.service_zone (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id              bigint NOT NULL,
    variant             text NOT NULL CHECK (variant IN ('balanced', 'status_quo')),
    service             text NOT NULL,
    depot_id            bigint NOT NULL,
    depot_name          text NOT NULL,
    crews               integer NOT NULL,
    hours               double precision NOT NULL,
    target_hours        double precision NOT NULL,
    deviation_pct       double precision NOT NULL,
    longest_travel_min  double precision NOT NULL,
    communes            text[] NOT NULL,
    commune_shares      jsonb NOT NULL,
    geom                geometry(MultiPolygon, {{srid}}) NOT NULL
);
CREATE INDEX service_zone_geom_idx ON analysis.service_zone USING gist (geom);
CREATE SEQUENCE analysis.service_zone_run;

CREATE TABLE analysis.opportunity (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service         text NOT NULL,
    activity        text NOT NULL,
    rank            integer NOT NULL,
    communes        text[] NOT NULL,
    label           text NOT NULL,
    assets          integer NOT NULL,
    hours_saved     double precision NOT NULL,
    km_saved        double precision NOT NULL,
    asset_ids       bigint[] NOT NULL,
    geom            geometry(MultiPoint, {{srid}}) NOT NULL
);
CREATE INDEX opportunity_geom_idx ON analysis.opportunity USING gist (geom);

INSERT INTO patrimoine_sys.data_version (layer)
VALUES ('workload_hex'), ('depot_area'), ('service_zone'), ('opportunity');
CREATE TRIGGER workload_hex_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analysis.workload_hex
    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.bump_result_version();
CREATE TRIGGER depot_area_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analysis.depot_area
    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.bump_result_version();
CREATE TRIGGER service_zone_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analysis.service_zone
    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.bump_result_version();
CREATE TRIGGER opportunity_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analysis.opportunity
    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.bump_result_version();
