-- gis-patrimoine 0007: maintenance rounds, stored as results that the API, tiles and QGIS publish.
-- depends: 0006_network
--
-- A plan is one computation (service, activity, communes, depots, parameters); its rounds are the crews'
-- shifts, each with the geometry it drives along the roads and its kilometres and hours; its stops are the
-- ordered visits (a group of point assets, or a required road segment for arc routing).
-- Result tables are replaced by the analyses, never edited by hand: no history, but a data version so tile
-- caches and ETags follow them.

CREATE TABLE analysis.round_plan (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service        text NOT NULL REFERENCES patrimoine_vl.service (code),
    activity       text NOT NULL,
    label          text NOT NULL,
    communes       text[] NOT NULL,
    routing        text NOT NULL CHECK (routing IN ('node', 'arc')),
    parameters     jsonb NOT NULL,
    summary        jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL DEFAULT coalesce(nullif(current_setting('gis_patrimoine.user', true), ''),
                                                  session_user)
);

CREATE TABLE analysis.round (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id         bigint NOT NULL REFERENCES analysis.round_plan (id) ON DELETE CASCADE,
    number          integer NOT NULL,
    label           text NOT NULL,
    service         text NOT NULL,
    activity        text NOT NULL,
    depot_id        bigint NOT NULL,
    depot_name      text NOT NULL,
    day             integer NOT NULL,
    crew            integer NOT NULL,
    stops           integer NOT NULL,
    assets          integer NOT NULL,
    km_travel       double precision NOT NULL,
    km_work         double precision NOT NULL,
    hours_on_site   double precision NOT NULL,
    hours_travel    double precision NOT NULL,
    communes        text[] NOT NULL,
    geom            geometry(MultiLineString, {{srid}}) NOT NULL,
    UNIQUE (plan_id, number)
);
CREATE INDEX round_geom_idx ON analysis.round USING gist (geom);

CREATE TABLE analysis.round_stop (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id         bigint NOT NULL REFERENCES analysis.round_plan (id) ON DELETE CASCADE,
    round_number    integer NOT NULL,
    seq             integer NOT NULL,
    layer           text NOT NULL,
    asset_ids       bigint[] NOT NULL,
    road_id         bigint,
    commune_insee   text NOT NULL,
    label           text NOT NULL,
    arrival_min     double precision NOT NULL,
    on_site_min     double precision NOT NULL,
    geom            geometry(Point, {{srid}}) NOT NULL,
    UNIQUE (plan_id, round_number, seq)
);
CREATE INDEX round_stop_geom_idx ON analysis.round_stop USING gist (geom);
CREATE INDEX round_stop_assets_idx ON analysis.round_stop USING gin (asset_ids);

INSERT INTO patrimoine_sys.data_version (layer) VALUES ('round'), ('round_stop');

-- patrimoine_app.bump_result_version(): sql/app/bump_result_version.sql (the application schema, rebuilt at every db init)

CREATE TRIGGER round_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analysis.round
    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.bump_result_version();
CREATE TRIGGER round_stop_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analysis.round_stop
    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.bump_result_version();

-- Per-territory analysis parameters (gis_patrimoine.analysis.params documents them and their defaults): speeds
-- per road class set there take precedence over the catalogue's class defaults when the network is built.
INSERT INTO patrimoine_sys.setting (key, value) VALUES ('analysis_parameters', '{}');

-- patrimoine_app.refresh_network(): sql/app/refresh_network.sql (the application schema, rebuilt at every db init)
