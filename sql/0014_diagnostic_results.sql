-- gis-patrimoine 0014: the diagnostic per commune, stored as a result layer (map overlay, QGIS, tiles).
-- depends: 0013_diagnostic
--
-- Replaced by each `gis-patrimoine analyse diagnostic` (or POST /analysis/diagnostic); a figure a commune did
-- not answer stays empty (NULL), never zero, and `missing` names the sheets it did not send.

CREATE TABLE analysis.diagnostic_commune (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    commune_insee      text NOT NULL,
    name               text NOT NULL,
    population         integer,
    posts              double precision,
    capacity_h         double precision,
    workload_h         double precision NOT NULL,
    balance_h          double precision,
    contracts_eur      double precision,
    spending_eur       double precision,
    per_inhabitant_eur double precision,
    missing            text[] NOT NULL,
    computed_at        timestamptz NOT NULL DEFAULT now(),
    geom               geometry(MultiPolygon, {{srid}}) NOT NULL
);
CREATE INDEX diagnostic_commune_geom_idx ON analysis.diagnostic_commune USING gist (geom);
INSERT INTO patrimoine_sys.data_version (layer) VALUES ('diagnostic_commune');
CREATE TRIGGER diagnostic_commune_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analysis.diagnostic_commune
    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.bump_result_version();
GRANT INSERT, UPDATE, DELETE ON analysis.diagnostic_commune TO gp_admin;
