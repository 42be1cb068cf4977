-- gis-patrimoine 0006: the routable road network (pgRouting), derived from patrimoine.road.
-- depends: 0005_api_tokens
--
-- Nodes are the road end points (snapped to the millimetre); an edge per road segment, with travel time in
-- seconds from its length and speed (the segment's own, else its class's default), one-way where known.
-- `patrimoine_app.refresh_network()` rebuilds it; analyses call it when the road layer's data version has
-- moved since the last build, so the network follows imports and edits from any client.

CREATE EXTENSION IF NOT EXISTS pgrouting SCHEMA public;
CREATE SCHEMA IF NOT EXISTS analysis;

CREATE TABLE analysis.network_node (
    id   bigint PRIMARY KEY,
    geom geometry(Point, {{srid}}) NOT NULL
);
CREATE INDEX network_node_geom_idx ON analysis.network_node USING gist (geom);

CREATE TABLE analysis.network_edge (
    id           bigint PRIMARY KEY,  -- the road's id
    source       bigint NOT NULL REFERENCES analysis.network_node (id),
    target       bigint NOT NULL REFERENCES analysis.network_node (id),
    cost         double precision NOT NULL,  -- seconds, digitised direction (-1: forbidden)
    reverse_cost double precision NOT NULL,  -- seconds, other direction (-1: forbidden)
    length_m     double precision NOT NULL,
    road_class   text NOT NULL,
    commune_insee text NOT NULL,
    geom         geometry(LineString, {{srid}}) NOT NULL
);
CREATE INDEX network_edge_geom_idx ON analysis.network_edge USING gist (geom);
CREATE INDEX network_edge_source_idx ON analysis.network_edge (source);
CREATE INDEX network_edge_target_idx ON analysis.network_edge (target);

-- Default speeds per road class (km/h), synced from layers/codelists.yaml (road_class defaults) by db init.
ALTER TABLE patrimoine_vl.road_class ADD COLUMN default_speed_kmh double precision;

INSERT INTO patrimoine_sys.setting (key, value) VALUES ('network_version', '-1');

CREATE FUNCTION patrimoine_app.refresh_network() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    built bigint;
BEGIN
    SELECT version INTO built FROM patrimoine_sys.data_version WHERE layer = 'road';
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
    CROSS JOIN LATERAL (SELECT r.length_m / (coalesce(r.speed_kmh, c.default_speed_kmh, 30) / 3.6) AS seconds) t;
    UPDATE patrimoine_sys.setting SET value = built::text WHERE key = 'network_version';
    RETURN built;
END
$$;
