CREATE OR REPLACE FUNCTION patrimoine_app.refresh_network()
 RETURNS bigint
 LANGUAGE plpgsql
AS $function$
DECLARE
    built bigint;
    params jsonb;
    speeds jsonb;
    tol double precision;
    near double precision;
BEGIN
    SELECT version INTO built FROM patrimoine_sys.data_version WHERE layer = 'road';
    SELECT coalesce(value::jsonb, '{}') INTO params FROM patrimoine_sys.setting WHERE key = 'analysis_parameters';
    speeds := coalesce(params -> 'speed_kmh', '{}');
    tol := coalesce((params ->> 'node_tolerance_m')::double precision, 1.0);
    near := greatest(coalesce((params ->> 'near_miss_m')::double precision, 10.0), tol);
    TRUNCATE analysis.network_issue, analysis.network_edge, analysis.network_node;

    -- every vertex of every road, keyed to the millimetre (the key says where roads meet)
    CREATE TEMP TABLE nv ON COMMIT DROP AS
    SELECT r.id AS road, coalesce(r.level, 0) AS level, d.path[1] AS k, ST_NPoints(r.geom) AS n,
           round(ST_X(d.geom) * 1000)::bigint AS kx, round(ST_Y(d.geom) * 1000)::bigint AS ky, d.geom AS p
    FROM patrimoine.road r, ST_DumpPoints(r.geom) d;
    CREATE INDEX ON nv (kx, ky);
    CREATE INDEX ON nv (road, k);
    ANALYZE nv;

    -- interior vertices where another road meets this one: same level, or the other road ends there
    CREATE TEMP TABLE nsplit ON COMMIT DROP AS
    SELECT DISTINCT a.road, a.k::double precision AS pos, a.p
    FROM nv a JOIN nv b ON b.kx = a.kx AND b.ky = a.ky AND (b.road <> a.road OR abs(b.k - a.k) > 1)
    WHERE a.k > 1 AND a.k < a.n AND (a.level = b.level OR b.k = 1 OR b.k = b.n);

    -- dangling ends (no other vertex there) and the nearest road within the reporting distance, preferring
    -- one they may join (within the tolerance, same level)
    CREATE TEMP TABLE nnear ON COMMIT DROP AS
    SELECT a.road, a.level, a.p, a.kx, a.ky, o.other, o.other_level, o.dist, o.q, o.geom AS other_geom
    FROM nv a
    CROSS JOIN LATERAL (
        SELECT r.id AS other, coalesce(r.level, 0) AS other_level, ST_Distance(r.geom, a.p) AS dist,
               ST_ClosestPoint(r.geom, a.p) AS q, r.geom
        FROM patrimoine.road r
        WHERE r.id <> a.road AND ST_DWithin(r.geom, a.p, near)
        ORDER BY (ST_DWithin(r.geom, a.p, tol) AND coalesce(r.level, 0) = a.level) DESC, r.geom <-> a.p
        LIMIT 1
    ) o
    WHERE (a.k = 1 OR a.k = a.n)
      AND NOT EXISTS (SELECT 1 FROM nv b WHERE b.kx = a.kx AND b.ky = a.ky
                      AND (b.road <> a.road OR abs(b.k - a.k) > 1));  -- a repeated end vertex is still a dangle

    CREATE TEMP TABLE njoin ON COMMIT DROP AS
    SELECT n.*, s.pos, s.at_end, round(ST_X(n.q) * 1000)::bigint AS qx, round(ST_Y(n.q) * 1000)::bigint AS qy
    FROM nnear n
    CROSS JOIN LATERAL (
        SELECT CASE WHEN t.f < 1e-9 THEN t.i::double precision WHEN t.f > 1 - 1e-9 THEN t.i + 1.0 ELSE t.i + t.f END
                   AS pos,
               ST_DWithin(n.q, ST_StartPoint(n.other_geom), 0.001) OR ST_DWithin(n.q, ST_EndPoint(n.other_geom), 0.001)
                   AS at_end
        FROM (SELECT g.path[1] AS i, ST_LineLocatePoint(g.geom, n.q) AS f
              FROM ST_DumpSegments(n.other_geom) g ORDER BY ST_Distance(g.geom, n.q), g.path[1] LIMIT 1) t
    ) s
    WHERE n.dist <= tol AND (n.level = n.other_level OR s.at_end);

    INSERT INTO analysis.network_issue (kind, road_id, other_road_id, distance_m, reason, geom)
    SELECT 'joined', road, other, dist,
           format('end of road %s joined to road %s %s m away (tolerance %s m)', road, other, round(dist::numeric, 2),
                  tol), p
    FROM njoin
    UNION ALL
    SELECT 'near_miss', n.road, n.other, n.dist,
           CASE WHEN n.dist > tol
                THEN format('end of road %s stops %s m from road %s, beyond the %s m tolerance: extend it if they meet',
                            n.road, round(n.dist::numeric, 2), n.other, tol)
                ELSE format('end of road %s is %s m from road %s, on another level (%s, %s): join them if it is a ramp',
                            n.road, round(n.dist::numeric, 2), n.other, n.level, n.other_level) END,
           n.p
    FROM nnear n WHERE NOT EXISTS (SELECT 1 FROM njoin j WHERE j.road = n.road AND j.kx = n.kx AND j.ky = n.ky);

    -- where each road is cut: its ends, shared vertices, and the points dangles join it at
    CREATE TEMP TABLE nbreak ON COMMIT DROP AS
    SELECT DISTINCT ON (road, pos) road, pos, p FROM (
        SELECT road, pos, p FROM nsplit
        UNION ALL SELECT road, k::double precision, p FROM nv WHERE k = 1 OR k = n
        UNION ALL SELECT other, pos, q FROM njoin
    ) b ORDER BY road, pos;

    CREATE TEMP TABLE npiece ON COMMIT DROP AS
    SELECT road, piece, ST_MakeLine(pts) AS geom FROM (
        SELECT b.road, row_number() OVER w AS piece, b.pos, lead(b.pos) OVER w AS pos_to,
               b.p, lead(b.p) OVER w AS p_to
        FROM nbreak b WINDOW w AS (PARTITION BY b.road ORDER BY b.pos)
    ) c
    CROSS JOIN LATERAL (
        SELECT array_append(array_prepend(c.p, coalesce(array_agg(v.p ORDER BY v.k), '{}')), c.p_to) AS pts
        FROM nv v WHERE v.road = c.road AND v.k > c.pos AND v.k < c.pos_to
    ) m
    WHERE c.pos_to IS NOT NULL;

    -- junctions: the piece ends (and connector ends), to the millimetre; numbered in x, y order
    CREATE TEMP TABLE nends ON COMMIT DROP AS
    SELECT road, piece, ST_SnapToGrid(ST_StartPoint(geom), 0.001) AS a, ST_SnapToGrid(ST_EndPoint(geom), 0.001) AS b,
           ST_Length(geom) AS len, geom
    FROM npiece;
    DELETE FROM nends WHERE len = 0 OR ST_Equals(a, b) AND len < 0.001;
    INSERT INTO analysis.network_node (id, geom)
    SELECT row_number() OVER (ORDER BY ST_X(pt), ST_Y(pt)), pt
    FROM (SELECT a AS pt FROM nends UNION SELECT b FROM nends
          UNION SELECT ST_SnapToGrid(p, 0.001) FROM njoin UNION SELECT ST_SnapToGrid(q, 0.001) FROM njoin) s;

    INSERT INTO analysis.network_edge (id, road_id, piece, frac_start, frac_end, source, target, cost, reverse_cost,
                                       length_m, road_class, drivable, level, commune_insee, geom)
    SELECT row_number() OVER (ORDER BY r.id, e.piece), r.id, e.piece,
           coalesce(sum(e.len) OVER run - e.len, 0) / nullif(sum(e.len) OVER road, 0),
           coalesce(sum(e.len) OVER run, 0) / nullif(sum(e.len) OVER road, 0),
           na.id, nb.id,
           CASE WHEN r.oneway = 'backward' THEN -1 ELSE e.len / t.mps END,
           CASE WHEN r.oneway = 'forward' THEN -1 ELSE e.len / t.mps END,
           e.len, r.road_class, coalesce(c.default_drivable, true), coalesce(r.level, 0), r.commune_insee, e.geom
    FROM nends e
    JOIN patrimoine.road r ON r.id = e.road
    JOIN analysis.network_node na ON na.geom = e.a
    JOIN analysis.network_node nb ON nb.geom = e.b
    JOIN patrimoine_vl.road_class c ON c.code = r.road_class
    CROSS JOIN LATERAL (
        SELECT coalesce(r.speed_kmh, (speeds ->> r.road_class)::double precision, c.default_speed_kmh, 30) / 3.6 AS mps
    ) t
    WINDOW run AS (PARTITION BY r.id ORDER BY e.piece), road AS (PARTITION BY r.id);

    -- connectors: a dangling end to the point it joins, two-way, at its road's speed, driven if both roads are
    INSERT INTO analysis.network_edge (id, road_id, piece, frac_start, frac_end, source, target, cost, reverse_cost,
                                       length_m, road_class, drivable, level, commune_insee, geom)
    SELECT (SELECT coalesce(max(id), 0) FROM analysis.network_edge) + row_number() OVER (ORDER BY j.road, j.kx, j.ky),
           NULL, 1, 0, 1, na.id, nb.id, j.dist / t.mps, j.dist / t.mps, j.dist, r.road_class,
           coalesce(c.default_drivable, true) AND coalesce(oc.default_drivable, true), j.level, r.commune_insee,
           ST_MakeLine(j.p, j.q)
    FROM (  -- two dangles facing each other make one connector: one per unordered pair of points
        SELECT DISTINCT ON (e.lo, e.hi) * FROM (
            SELECT n.*, least(ROW(n.kx, n.ky)::text, ROW(n.qx, n.qy)::text) AS lo,
                   greatest(ROW(n.kx, n.ky)::text, ROW(n.qx, n.qy)::text) AS hi
            FROM njoin n) e
        ORDER BY e.lo, e.hi, e.road) j
    JOIN patrimoine.road r ON r.id = j.road
    JOIN patrimoine.road o ON o.id = j.other
    JOIN patrimoine_vl.road_class c ON c.code = r.road_class
    JOIN patrimoine_vl.road_class oc ON oc.code = o.road_class
    JOIN analysis.network_node na ON na.geom = ST_SnapToGrid(j.p, 0.001)
    JOIN analysis.network_node nb ON nb.geom = ST_SnapToGrid(j.q, 0.001)
    CROSS JOIN LATERAL (
        SELECT coalesce(r.speed_kmh, (speeds ->> r.road_class)::double precision, c.default_speed_kmh, 30) / 3.6 AS mps
    ) t
    WHERE na.id <> nb.id;

    UPDATE analysis.network_node n SET drivable = true
    WHERE EXISTS (SELECT 1 FROM analysis.network_edge e WHERE e.drivable AND (e.source = n.id OR e.target = n.id));

    -- one-way dead ends: junctions of the driven network that can be entered but not left, or the reverse
    INSERT INTO analysis.network_issue (kind, road_id, other_road_id, distance_m, reason, geom)
    SELECT 'one_way_dead_end', x.road_id, NULL, NULL,
           CASE WHEN x.can_enter THEN format('one-way road %s leads into a junction with no way out', x.road_id)
                ELSE format('one-way road %s leaves a junction no road leads to', x.road_id) END,
           n.geom
    FROM (
        SELECT node, min(road_id) AS road_id, bool_or(enters) AS can_enter, bool_or(leaves) AS can_leave
        FROM (SELECT source AS node, road_id, reverse_cost >= 0 AS enters, cost >= 0 AS leaves
              FROM analysis.network_edge WHERE drivable
              UNION ALL
              SELECT target, road_id, cost >= 0, reverse_cost >= 0 FROM analysis.network_edge WHERE drivable) s
        GROUP BY node
    ) x JOIN analysis.network_node n ON n.id = x.node
    WHERE x.can_enter <> x.can_leave;

    UPDATE patrimoine_sys.setting SET value = built::text WHERE key = 'network_version';
    RETURN built;
END
$function$;
