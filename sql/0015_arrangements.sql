-- gis-patrimoine 0015: pooling arrangements costed side by side, stored as results.
-- depends: 0014_diagnostic_results
--
-- An arrangement_run is one comparison (`analyse arrangements`, POST /analysis/arrangements): every arrangement
-- with its totals, ranges and assumptions in `result`. arrangement_commune holds, per arrangement and commune,
-- what the commune pays a year under each cost-sharing key against the status quo, with its outline (maps,
-- tiles, QGIS).

CREATE TABLE analysis.arrangement_run (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    result      jsonb NOT NULL,
    created_by  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE analysis.arrangement_commune (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id                bigint NOT NULL REFERENCES analysis.arrangement_run (id) ON DELETE CASCADE,
    arrangement           text NOT NULL,
    title                 text NOT NULL,
    commune_insee         text NOT NULL,
    name                  text NOT NULL,
    group_name            text,
    status_quo_eur        double precision NOT NULL,
    pays_use_eur          double precision NOT NULL,
    pays_population_eur   double precision NOT NULL,
    pays_stand_alone_eur  double precision NOT NULL,
    saving_eur            double precision NOT NULL,
    saving_pct            double precision NOT NULL,
    pays_more_under       text[] NOT NULL,
    geom                  geometry(MultiPolygon, {{srid}}) NOT NULL
);
CREATE INDEX arrangement_commune_geom_idx ON analysis.arrangement_commune USING gist (geom);
CREATE INDEX arrangement_commune_run_idx ON analysis.arrangement_commune (run_id, arrangement);

INSERT INTO patrimoine_sys.data_version (layer) VALUES ('arrangement_commune');
CREATE TRIGGER arrangement_commune_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON analysis.arrangement_commune FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.bump_result_version();
GRANT INSERT, UPDATE, DELETE ON analysis.arrangement_run, analysis.arrangement_commune TO gp_admin;
