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

CREATE FUNCTION patrimoine_app.bump_result_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM patrimoine_app.bump_version(TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER round_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analysis.round
    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.bump_result_version();
CREATE TRIGGER round_stop_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analysis.round_stop
    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.bump_result_version();

-- Per-territory analysis parameters (gis_patrimoine.analysis.params documents them and their defaults): speeds
-- per road class set there take precedence over the catalogue's class defaults when the network is built.
INSERT INTO patrimoine_sys.setting (key, value) VALUES ('analysis_parameters', '{}');

CREATE OR REPLACE FUNCTION patrimoine_app.refresh_network() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    built bigint;
    speeds jsonb;
BEGIN
    SELECT version INTO built FROM patrimoine_sys.data_version WHERE layer = 'road';
    SELECT coalesce(value::jsonb -> 'speed_kmh', '{}') INTO speeds
    FROM patrimoine_sys.setting WHERE key = 'analysis_parameters';
    TRUNCATE analysis.network_edge, analysis.network_node;
    CREATE TEMP TABLE network_ends ON COMMIT DROP AS
    SELECT r.id, ST_SnapToGrid(ST_StartPoint(r.geom), 0.001) AS a, ST_SnapToGrid(ST_EndPoint(r.geom), 0.001) AS b
    FROM patrimoine.road r;
    INSERT INTO analysis.network_node (id, geom)
    SELECT row_number() OVER (ORDER BY ST_X(p), ST_Y(p)), p
    FROM (SELECT a AS p FROM network_ends UNION SELECT b FROM network_ends) s;
    INSERT INTO analysis.network_edge (id, source, target, cost, reverse_cost, length_m, road_class, commune_insee,
                                       geom)
    SELECT r.id, na.id, nb.id,
           CASE WHEN r.oneway = 'backward' THEN -1 ELSE t.seconds END,
           CASE WHEN r.oneway = 'forward' THEN -1 ELSE t.seconds END,
           r.length_m, r.road_class, r.commune_insee, r.geom
    FROM patrimoine.road r
    JOIN network_ends e ON e.id = r.id
    JOIN analysis.network_node na ON na.geom = e.a
    JOIN analysis.network_node nb ON nb.geom = e.b
    JOIN patrimoine_vl.road_class c ON c.code = r.road_class
    CROSS JOIN LATERAL (
        SELECT r.length_m / (coalesce(r.speed_kmh, (speeds ->> r.road_class)::double precision,
                                      c.default_speed_kmh, 30) / 3.6) AS seconds
    ) t;
    UPDATE patrimoine_sys.setting SET value = built::text WHERE key = 'network_version';
    RETURN built;
END
$$;
