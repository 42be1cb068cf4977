"""The tile query of one layer, in the style of Martin and tipg, done a little better.

- The index-friendly filter runs in the storage SRID on the tile envelope widened by the buffer, so no
  feature is cut at tile edges and the GiST index is used as is.
- Generalisation per zoom from the catalogue: simplification to about `simplify_px` pixels, and features
  smaller than `min_size_px` pixels dropped below the layer's detail zoom.
- Attributes thinned by zoom (`tiles.properties` in the catalogue) plus `id` and `commune_insee`.
- A deterministic order decides which features survive the per-tile cap (largest first, then by key);
  the cap counts features after rendering (a slack of candidates is rendered, so the corners of the box
  that miss the tile take no places), and one extra row tells whether the tile was truncated.
- The same statement reads the layer's data version, so a tile and the version it is cached under come
  from one snapshot, in one round trip.
- The SQL of a (layer, zoom, filter shape) is composed once (by the layer's Collection); the tile's x, y,
  envelope, communes and filter values are bound parameters, so psycopg prepares the statement on each
  connection after a few uses and PostgreSQL plans it once, as Martin does.
"""

from __future__ import annotations

import math
from functools import lru_cache

import morecantile
import numpy as np
from psycopg import sql
from pyproj import Transformer

from gis_patrimoine.catalogue import Layer

EARTH = 2 * math.pi * 6378137.0
TMS = morecantile.tms.get("WebMercatorQuad")
DETAIL_ZOOM = 16  # from this zoom on, nothing is dropped for being small


def pixel_metres(z: int, extent: int) -> float:
    """Size of one tile pixel (of `extent` per tile) at zoom z, in Web Mercator metres (≈ metres at 48°N / 1.5)."""
    return EARTH / (2**z) / extent


@lru_cache(maxsize=8)
def _from_mercator(srid: int) -> Transformer:
    return Transformer.from_crs(3857, srid, always_xy=True)


@lru_cache(maxsize=4096)
def native_envelope(z: int, x: int, y: int, margin: float, srid: int) -> str:
    """The tile widened by its buffer, in the storage SRID, densified so that its reprojected edges follow
    the true tile (WKT). Computed here once per tile, rather than by ST_Transform in every query."""
    left, bottom, right, top = TMS.xy_bounds(morecantile.Tile(x, y, z))
    pad = (right - left) * margin
    left, bottom, right, top = left - pad, bottom - pad, right + pad, top + pad
    steps = np.linspace(0.0, 1.0, 17)
    sides = [  # counter-clockwise: bottom, right, top, left
        (left + (right - left) * steps, np.full(17, bottom)),
        (np.full(17, right), bottom + (top - bottom) * steps),
        (right - (right - left) * steps, np.full(17, top)),
        (np.full(17, left), top - (top - bottom) * steps),
    ]
    projected = [_from_mercator(srid).transform(xs, ys) for xs, ys in sides]
    ring = [(px, py) for xs, ys in projected for px, py in zip(xs[:-1], ys[:-1], strict=True)]
    ring.append(ring[0])
    wkt = "POLYGON((" + ",".join(f"{float(px)!r} {float(py)!r}" for px, py in ring) + "))"
    return wkt


def tile_params(
    layer: Layer, z: int, x: int, y: int, srid: int, communes: list[str] | None, values: dict[str, object]
) -> dict[str, object]:
    """The values bound to a tile statement: its coordinates, its widened envelope, communes, filter values."""
    native = native_envelope(z, x, y, layer.tiles.buffer / layer.tiles.extent, srid)
    return {"x": x, "y": y, "native": native, "communes": communes or [], **values}


def tile_sql(layer: Layer, z: int, srid: int, where: sql.Composable | None, by_commune: bool) -> bytes:
    """SELECT returning (mvt bytea, features int, data version) for one layer at zoom z; features > cap:
    truncated. Placeholders: x, y, native (the envelope's WKT), communes, and the filter's own."""
    t = layer.tiles
    px = pixel_metres(z, t.extent)
    # Lambert-93 metres are about 0.67 Web Mercator metres at 48°N: simplify in storage units
    scale = math.cos(math.radians(48.0))
    tolerance = t.simplify_px * px * scale
    min_size = t.min_size_px * px * scale if z < DETAIL_ZOOM else 0.0
    always = ["commune_insee"] if layer.kind == "asset" else []
    props = [p for p in dict.fromkeys([*always, *t.properties_at(z)]) if p != layer.key]

    key = sql.Identifier(layer.key)
    # integer keys become the MVT feature id; others (INSEE codes) travel as a property of their own name
    numeric = layer.attribute(layer.key).type == "identity"
    idcol = "id" if numeric else layer.key
    fid = sql.SQL(", 'id'") if numeric else sql.SQL("")
    geom = sql.SQL("geom")
    if tolerance > 0 and layer.geometry != "Point":
        geom = sql.SQL("ST_Simplify(geom, {}, true)").format(sql.Literal(tolerance))
    # the box test alone (index-friendly); the few candidates in the corners of the box that miss the tile are
    # dropped by ST_AsMVTGeom, so a slack of candidates is rendered and the cap applies to what reaches the tile
    conditions = [sql.SQL("geom && bounds.native")]
    size = None
    if layer.geometry in ("LineString", "MultiLineString"):
        size = sql.SQL("ST_Length(geom)")
    elif layer.geometry in ("Polygon", "MultiPolygon"):
        size = sql.SQL("ST_Area(geom)")
        min_size = min_size * min_size
    if size is not None and min_size > 0:
        conditions.append(sql.SQL("{} >= {}").format(size, sql.Literal(min_size)))
    names = {a.name for a in layer.attributes}
    communes = sql.Placeholder("communes")
    if by_commune and "commune_insee" in names:
        conditions.append(sql.SQL("commune_insee = ANY({}::text[])").format(communes))
    elif by_commune and "communes" in names:  # results that span communes (rounds, zones)
        conditions.append(sql.SQL("communes && {}::text[]").format(communes))
    elif by_commune and layer.kind == "reference":  # the communes themselves, by their INSEE key
        conditions.append(sql.SQL("{} = ANY({}::text[])").format(key, communes))
    if where is not None:
        conditions.append(where)
    order = sql.SQL("{} DESC, {}").format(size, key) if size is not None else key
    # the same order over the picked rows (size recomputed on the few), for the cap after rendering
    rank = sql.SQL("row_number() OVER (ORDER BY {})").format(
        sql.SQL("{} DESC, {}").format(size, sql.Identifier(idcol)) if size is not None else sql.Identifier(idcol)
    )
    cols = sql.SQL("").join(sql.SQL(", {}").format(sql.Identifier(p)) for p in props)
    return (
        sql.SQL("""
        WITH bounds AS (
            SELECT ST_TileEnvelope({z}, {x}::int, {y}::int) AS merc,
                   ST_GeomFromText({native}::text, {srid}) AS native

        ),
        picked AS (
            SELECT {key} AS {idcol}{cols}, geom
            FROM {table}, bounds
            WHERE {conditions}
            ORDER BY {order}
            LIMIT {slack}
        ),
        rendered AS (
            SELECT {idcol}{cols}, {rank} AS gp_tile_rank,
                   ST_AsMVTGeom(ST_Transform({geom}, 3857), bounds.merc, {extent}, {buffer}, true) AS geom
            FROM picked, bounds
        ),
        kept AS (
            SELECT * FROM rendered WHERE geom IS NOT NULL ORDER BY gp_tile_rank LIMIT {cap_plus_one}
        ),
        mvtgeom AS (
            SELECT {idcol}{cols}, geom FROM (SELECT * FROM kept ORDER BY gp_tile_rank LIMIT {cap}) k
        )
        SELECT (SELECT ST_AsMVT(mvtgeom, {name}, {extent}, 'geom'{fid}) FROM mvtgeom),
               (SELECT count(*) FROM kept),
               coalesce((SELECT version FROM patrimoine_sys.data_version WHERE layer = {table_name}), 0)
    """)
        .format(
            z=sql.Literal(z),
            x=sql.Placeholder("x"),
            y=sql.Placeholder("y"),
            native=sql.Placeholder("native"),
            table_name=sql.Literal(layer.table),
            srid=sql.Literal(srid),
            key=key,
            idcol=sql.Identifier(idcol),
            fid=fid,
            cols=cols,
            table=layer.qualified,
            conditions=sql.SQL(" AND ").join(conditions),
            order=order,
            cap_plus_one=sql.Literal(t.max_features + 1),
            slack=sql.Literal(t.max_features + max(16, t.max_features // 8)),
            rank=rank,
            cap=sql.Literal(t.max_features),
            geom=geom,
            extent=sql.Literal(t.extent),
            buffer=sql.Literal(t.buffer),
            name=sql.Literal(layer.collection),
        )
        .as_bytes(None)
    )
