-- gis-patrimoine 0012: a network noded the way real road files are drawn, levels, who may drive where.
-- depends: 0011_layer_styles
--
-- Road files do not all meet at their end points: OpenStreetMap ways (and many municipal files) meet at
-- shared interior vertices, and some ends stop just short of the road they lead to. The network is derived
-- (the road rows stay as imported or edited): each road is cut into pieces at every vertex it shares with
-- another road of the same level (or with another road's end: a ramp, a bridge's approach), and a dangling
-- end within `node_tolerance_m` of a road of its level (or of another road's end) is joined to it by a short
-- connector. Roads on different levels (bridge over road, tunnel under it) only meet at their ends.
-- Every piece keeps the id of its road and where along it it lies, so arc work, legs and round sheets name
-- the real road and its pieces add up to its length. analysis.network_issue lists what a technician should
-- look at: dangles joined, near misses left apart and why, one-way dead ends.

ALTER TABLE patrimoine.road
    ADD COLUMN level integer CONSTRAINT road_level_range CHECK (level BETWEEN -5 AND 5);
COMMENT ON COLUMN patrimoine.road.level IS
    'Vertical level: 0 (or empty) on the ground, 1 a bridge, -1 a tunnel (OSM layer, IGN POS_SOL)';

-- Whether a maintenance vehicle drives a class (synced from layers/codelists.yaml by db init).
ALTER TABLE patrimoine_vl.road_class ADD COLUMN default_drivable boolean;

DROP TABLE analysis.network_edge;
DROP TABLE analysis.network_node;

CREATE TABLE analysis.network_node (
    id       bigint PRIMARY KEY,
    drivable boolean NOT NULL DEFAULT false,  -- a driven segment ends here
    geom     geometry(Point, {{srid}}) NOT NULL
);
CREATE INDEX network_node_geom_idx ON analysis.network_node USING gist (geom);

CREATE TABLE analysis.network_edge (
    id            bigint PRIMARY KEY,
    road_id       bigint,  -- the road the piece comes from; NULL for a connector joining a dangling end
    piece         integer NOT NULL,  -- order along the road, from 1
    frac_start    double precision NOT NULL,  -- share of the road's length where the piece starts ...
    frac_end      double precision NOT NULL,  -- ... and ends (0-1, in the digitised direction)
    source        bigint NOT NULL REFERENCES analysis.network_node (id),
    target        bigint NOT NULL REFERENCES analysis.network_node (id),
    cost          double precision NOT NULL,  -- seconds, digitised direction (-1: forbidden)
    reverse_cost  double precision NOT NULL,  -- seconds, other direction (-1: forbidden)
    length_m      double precision NOT NULL,
    road_class    text NOT NULL,
    drivable      boolean NOT NULL,  -- maintenance vehicles drive it (the class's default_drivable)
    level         integer NOT NULL,
    commune_insee text NOT NULL,
    geom          geometry(LineString, {{srid}}) NOT NULL
);
CREATE INDEX network_edge_geom_idx ON analysis.network_edge USING gist (geom);
CREATE INDEX network_edge_source_idx ON analysis.network_edge (source);
CREATE INDEX network_edge_target_idx ON analysis.network_edge (target);
CREATE INDEX network_edge_road_idx ON analysis.network_edge (road_id);

CREATE TABLE analysis.network_issue (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('joined', 'near_miss', 'one_way_dead_end')),
    road_id       bigint,
    other_road_id bigint,
    distance_m    double precision,
    reason        text NOT NULL,
    geom          geometry(Point, {{srid}}) NOT NULL
);
CREATE INDEX network_issue_geom_idx ON analysis.network_issue USING gist (geom);
INSERT INTO patrimoine_sys.data_version (layer) VALUES ('network_issue');
CREATE TRIGGER network_issue_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON analysis.network_issue
    FOR EACH STATEMENT EXECUTE FUNCTION patrimoine_app.bump_result_version();

-- patrimoine_app.refresh_network(): sql/app/refresh_network.sql (the application schema, rebuilt at every db init)

-- the network is rebuilt with the new rules at its next use
UPDATE patrimoine_sys.setting SET value = '-1' WHERE key = 'network_version';

GRANT INSERT, UPDATE, DELETE ON analysis.network_node, analysis.network_edge, analysis.network_issue TO gp_admin;
