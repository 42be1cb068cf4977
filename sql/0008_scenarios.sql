-- gis-patrimoine 0008: pooling scenarios ("each commune alone" vs "pooled"), stored as results.
-- depends: 0007_rounds
--
-- A scenario is one comparison for a service and activity; scenario_commune holds its per-commune figures with
-- the commune's outline, so that maps, tiles and QGIS show where pooling saves.

CREATE TABLE analysis.scenario (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service     text NOT NULL REFERENCES patrimoine_vl.service (code),
    activity    text NOT NULL,
    result      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE analysis.scenario_commune (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scenario_id       bigint NOT NULL REFERENCES analysis.scenario (id) ON DELETE CASCADE,
    service           text NOT NULL,
    activity          text NOT NULL,
    commune_insee     text NOT NULL,
    name              text NOT NULL,
    alone_km          double precision NOT NULL,
    pooled_km         double precision NOT NULL,
    alone_hours       double precision NOT NULL,
    pooled_hours      double precision NOT NULL,
    alone_cost_eur    double precision NOT NULL,
    pays_pooled_eur   double precision NOT NULL,
    saving_eur        double precision NOT NULL,
    saving_pct        double precision NOT NULL,
    sharing_key       double precision NOT NULL,
    geom              geometry(MultiPolygon, {{srid}}) NOT NULL
);
CREATE INDEX scenario_commune_geom_idx ON analysis.scenario_commune USING gist (geom);

INSERT INTO patrimoine_sys.data_version (layer) VALUES ('scenario_commune');
CREATE TRIGGER scenario_commune_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analysis.scenario_commune
    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.bump_result_version();
