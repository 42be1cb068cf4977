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

-- patrimoine_app.refresh_network(): sql/app/refresh_network.sql (the application schema, rebuilt at every db init)
