"""One object per catalogue layer, between HTTP and SQL: its features, extent, counts, queryables and tiles.

As in tipg (a collection object owns its queries) and Martin (a source per table, SQL prepared once): the
statements of a collection are composed once and kept, with every value of a request (page, box, filter
values, tile coordinates and envelope, communes) bound as a parameter, so psycopg prepares each statement on a
connection after a few uses and PostgreSQL plans it once. Facts that cost a scan (counts, extents) are kept
per data version. The routers, the tile fast path and the export are thin callers of the methods below.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from gis_patrimoine.catalogue import Attribute, Catalogue, Layer
from gis_patrimoine.collection.cache import VersionedCache
from gis_patrimoine.collection.cql import Filter, translate
from gis_patrimoine.collection.errors import NotFound, QueryError
from gis_patrimoine.collection.tile_sql import tile_params, tile_sql

log = logging.getLogger("gis_patrimoine.tiles")
MAX_BBOX_DEG2 = 100.0  # 10° × 10°: more than France; wider boxes are refused, not scanned
MAX_BBOX_M2 = 1.2e12  # the same in metres
MAX_STATEMENTS = 512  # composed statements kept per collection (zoom × filter shape)


@dataclass(frozen=True)
class ItemsQuery:
    """One page of features, as the items endpoint or any caller asks for it."""

    limit: int
    offset: int = 0
    properties: list[str] | None = None  # None: all of them
    sortby: str | None = None  # "name,-power_w"
    bbox: tuple[float, float, float, float] | None = None
    bbox_srid: int | None = None  # None: the storage SRID
    filter: Filter | None = None
    equals: dict[str, str] = field(default_factory=dict)  # queryable = value, compared as text
    out_srid: int | None = None  # None: the storage SRID


@dataclass(frozen=True)
class RenderedTile:
    data: bytes
    truncated: bool
    version: int  # the layer's data version, read in the same statement


@contextmanager
def _filter_errors() -> Iterator[None]:
    """A filter the database cannot apply (a text compared with a number, a bad date) is the client's error."""
    try:
        yield
    except (psycopg.DataError, psycopg.errors.UndefinedFunction) as exc:  # SQLSTATE class 22, 42883
        raise QueryError(f"filter: {exc.diag.message_primary}") from exc


class Collection:
    """A catalogue layer served: built once at start-up for the storage SRID."""

    def __init__(self, layer: Layer, catalogue: Catalogue, srid: int) -> None:
        self.layer = layer
        self.id = layer.collection
        self.table = layer.table
        self.srid = srid
        self.catalogue = catalogue
        self.numeric_key = layer.attribute(layer.key).type == "identity"
        # the queryables: every attribute with a JSON form (not free JSON)
        self.columns = {a.name: a.name for a in layer.attributes if a.form.json}
        self.facts = VersionedCache()
        self._statements: dict[tuple, bytes] = {}
        self._extent_sql = sql.SQL(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Transform(ST_SetSRID(ST_Extent(geom)::geometry, {}), 4326) AS e FROM {}) s"
        ).format(sql.Literal(srid), layer.qualified)

    # --- description -------------------------------------------------------------------------------------

    def queryables(self) -> dict[str, dict]:
        """JSON Schema of each queryable property, the geometry first."""
        props: dict[str, dict] = {"geometry": {"$ref": f"https://geojson.org/schema/{self.layer.geometry}.json"}}
        for attr in self.layer.attributes:
            if not attr.form.json:
                continue
            entry: dict = {"title": attr.title.fr, "description": attr.title.en, **attr.form.json}
            if attr.codelist:
                codes = self.catalogue.codelists[attr.codelist].codes
                if attr.type == "code":
                    entry["enum"] = codes
                else:
                    entry["items"] = {"type": "string", "enum": codes}
            if attr.min is not None:
                entry["minimum"] = attr.min
            if attr.max is not None:
                entry["maximum"] = attr.max
            props[attr.name] = entry
        return props

    def tile_fields(self) -> list[str]:
        """Every attribute the layer's tiles may carry, at some zoom."""
        layer = self.layer
        always = ["commune_insee"] if layer.kind == "asset" else []
        fields = dict.fromkeys([*always, *(p for props in layer.tiles.properties.values() for p in props)])
        own_key = [] if self.numeric_key else [layer.key]
        return [p for p in own_key + list(fields) if not (self.numeric_key and p == layer.key)]

    def filter(self, text: str | None, lang: str | None = None, filter_srid: int = 4326) -> Filter | None:
        """A CQL2 filter on this collection's queryables, translated (values bound)."""
        return translate(text, lang, self.columns, self.srid, filter_srid)

    # --- facts kept per data version ------------------------------------------------------------------------

    async def extent(self, conn: psycopg.AsyncConnection, version: int) -> tuple | None:
        """The layer's extent in CRS84, computed once per data version (a full scan on big layers)."""
        key = ("extent", version)
        extent = self.facts.get(key)
        if extent is None:
            extent = await (await conn.execute(self._extent_sql)).fetchone()
            self.facts.put(key, extent)
        return extent if extent and extent[0] is not None else None

    # --- features -------------------------------------------------------------------------------------------

    def attributes(self, properties: list[str] | None) -> list[Attribute]:
        """The properties asked for (all but the key by default); unknown names are refused."""
        attrs = [a for a in self.layer.attributes if a.name != self.layer.key]
        if properties is None:
            return attrs
        known = {a.name: a for a in attrs}
        unknown = [p for p in properties if p not in known and p != self.layer.key]
        if unknown:
            raise QueryError(f"properties: unknown {', '.join(unknown)}; available: {', '.join(known)}")
        return [known[p] for p in properties if p in known]

    def feature_sql(self, attrs: list[Attribute], srid: int) -> sql.Composable:
        """A row as a GeoJSON feature (json), its geometry in `srid` (7 decimals in degrees, mm in metres)."""
        digits = 7 if srid == 4326 else 3
        props = sql.SQL(", ").join(sql.SQL("{}, {}").format(sql.Literal(a.name), sql.Identifier(a.name)) for a in attrs)
        return sql.SQL(
            "json_build_object('type', 'Feature', 'id', {key}, 'geometry', "
            "ST_AsGeoJSON(ST_Transform(geom, {srid}), {digits})::json, 'properties', {props})"
        ).format(
            key=sql.Identifier(self.layer.key),
            srid=sql.Literal(srid),
            digits=sql.Literal(digits),
            props=sql.SQL("json_build_object({})").format(props) if attrs else sql.SQL("'{}'::json"),
        )

    def _order(self, sortby: str | None) -> sql.Composable:
        key = sql.Identifier(self.layer.key)
        if not sortby:
            return key
        names = {a.name for a in self.layer.attributes}
        parts = []
        for item in sortby.split(","):
            item = item.strip()
            desc = item.startswith("-")
            name = item.lstrip("+-")
            if name not in names:
                raise QueryError(f"sortby: unknown property {name!r}")
            parts.append(sql.SQL("{} {} NULLS LAST").format(sql.Identifier(name), sql.SQL("DESC" if desc else "ASC")))
        return sql.SQL(", ").join([*parts, key])

    def _where(self, q: ItemsQuery) -> tuple[sql.Composable, dict[str, object]]:
        conditions: list[sql.Composable] = []
        params: dict[str, object] = {}
        if q.bbox is not None:
            box, bsrid = q.bbox, q.bbox_srid or self.srid
            area = (box[2] - box[0]) * (box[3] - box[1])
            if area > (MAX_BBOX_DEG2 if bsrid == 4326 else MAX_BBOX_M2):
                raise QueryError(f"bbox: too wide ({area:.3g} square units); narrow it to the territory")
            params.update(zip(("b0", "b1", "b2", "b3"), (float(v) for v in box), strict=True))
            envelope = sql.SQL("ST_MakeEnvelope(%(b0)s, %(b1)s, %(b2)s, %(b3)s, {})").format(sql.Literal(bsrid))
            if bsrid != self.srid:  # densified, so that the reprojected edges follow the true box
                params["bstep"] = float((box[2] - box[0]) / 32 or 1)
                envelope = sql.SQL("ST_Transform(ST_Segmentize({}, %(bstep)s), {})").format(
                    envelope, sql.Literal(self.srid)
                )
            conditions.append(sql.SQL("(geom && {e} AND ST_Intersects(geom, {e}))").format(e=envelope))
        if q.filter is not None:
            conditions.append(q.filter.sql)
            params.update(q.filter.params)
        for i, (name, value) in enumerate(q.equals.items()):
            if name not in self.columns:
                raise QueryError(f"unknown query parameter {name!r}; queryables: {', '.join(self.columns)}")
            conditions.append(sql.SQL("{}::text = {}").format(sql.Identifier(name), sql.Placeholder(f"q{i}")))
            params[f"q{i}"] = value
        where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
        return where, params

    async def features(self, conn: psycopg.AsyncConnection, q: ItemsQuery) -> list[str]:
        """The page's features, each as GeoJSON text."""
        where, params = self._where(q)
        order = self._order(q.sortby)
        # the page's rows first, then their JSON: built in the select list of the same query, it would be built
        # for the rows that OFFSET skips too (a thousand for the tenth page)
        query = sql.SQL(
            "SELECT {feature}::text FROM (SELECT * FROM {table}{where} ORDER BY {order} "
            "LIMIT %(limit)s OFFSET %(offset)s) page ORDER BY {order}"
        ).format(
            feature=self.feature_sql(self.attributes(q.properties), q.out_srid or self.srid),
            order=order,
            table=self.layer.qualified,
            where=where,
        )
        with _filter_errors():
            cur = await conn.execute(query, {**params, "limit": q.limit, "offset": q.offset})
            return [r[0] for r in await cur.fetchall()]

    async def matched(self, conn: psycopg.AsyncConnection, q: ItemsQuery, version: int) -> int:
        """How many features match, counted once per filter and data version (paging does not count again)."""
        where, params = self._where(q)
        key = ("count", version, where.as_bytes(None), tuple(sorted(params.items())))
        matched = self.facts.get(key)
        if matched is None:
            count = sql.SQL("SELECT count(*) FROM {table}{where}").format(table=self.layer.qualified, where=where)
            with _filter_errors():
                matched = (await (await conn.execute(count, params)).fetchone())[0]
            self.facts.put(key, matched)
        return matched

    async def one(
        self, conn: psycopg.AsyncConnection, feature_id: str, properties: list[str] | None, out_srid: int | None
    ) -> str | None:
        """One feature as GeoJSON text, None if there is no such feature."""
        if self.numeric_key and not feature_id.isdigit():
            return None
        query = sql.SQL("SELECT {feature}::text FROM {table} WHERE {key} = %(id)s").format(
            feature=self.feature_sql(self.attributes(properties), out_srid or self.srid),
            table=self.layer.qualified,
            key=sql.Identifier(self.layer.key),
        )
        value = int(feature_id) if self.numeric_key else feature_id
        row = await (await conn.execute(query, {"id": value})).fetchone()
        return row[0] if row else None

    # --- tiles ----------------------------------------------------------------------------------------------

    def shows_at(self, z: int) -> bool:
        return self.layer.tiles.minzoom <= z <= self.layer.tiles.maxzoom

    def tile_statement(self, z: int, where: Filter | None = None, by_commune: bool = False) -> bytes:
        """The tile SQL of a zoom and filter shape, composed once (placeholders for everything else)."""
        key = (z, where.sql.as_bytes(None) if where is not None else b"", by_commune)
        statement = self._statements.get(key)
        if statement is None:
            if len(self._statements) >= MAX_STATEMENTS:
                self._statements.clear()
            statement = tile_sql(self.layer, z, self.srid, where.sql if where else None, by_commune)
            self._statements[key] = statement
        return statement

    def tile_query(
        self, z: int, x: int, y: int, where: Filter | None = None, communes: list[str] | None = None
    ) -> tuple[bytes, dict[str, object]]:
        """The statement and the values of one tile (for callers with their own connection: benchmarks)."""
        params = tile_params(self.layer, z, x, y, self.srid, communes, where.params if where else {})
        return self.tile_statement(z, where, bool(communes)), params

    async def tile(
        self,
        conn: psycopg.AsyncConnection,
        z: int,
        x: int,
        y: int,
        where: Filter | None = None,
        communes: list[str] | None = None,
        slow_ms: float = math.inf,
    ) -> RenderedTile:
        """The layer's tile, whether it was truncated, and the data version it was rendered from. A tile
        slower than `slow_ms` is logged with its query plan."""
        query, params = self.tile_query(z, x, y, where, communes)
        start = time.perf_counter()
        with _filter_errors():  # a filter value the column cannot take: 400, as on items
            cur = await conn.execute(query, params)
            data, count, version = await cur.fetchone()
        elapsed_ms = (time.perf_counter() - start) * 1000
        if elapsed_ms > slow_ms:
            cur = await conn.execute(b"EXPLAIN " + query, params)
            plan = "\n".join(r[0] for r in await cur.fetchall())
            log.warning("slow tile %s %s/%s/%s: %.0f ms\n%s", self.id, z, y, x, elapsed_ms, plan)
        return RenderedTile(bytes(data or b""), count > self.layer.tiles.max_features, version)

    # --- export ---------------------------------------------------------------------------------------------

    def export_query(self, communes: list[str] | None, srid: int) -> tuple[sql.Composable, list[Attribute]]:
        """Every column but the identity, typed as the file will hold it, then the geometry as WKB in `srid`."""
        columns = [a for a in self.layer.attributes if a.type != "identity"]
        select = sql.SQL(", ").join(
            [
                *(
                    sql.Identifier(a.name) if a.form.arrow else sql.SQL("{}::text").format(sql.Identifier(a.name))
                    for a in columns
                ),
                sql.SQL("ST_AsBinary(ST_Transform(geom, {}))").format(sql.Literal(srid)),
            ]
        )
        where = (
            sql.SQL("WHERE commune_insee = ANY({})").format(sql.Literal(communes))
            if communes and self.layer.kind == "asset"
            else sql.SQL("")
        )
        query = sql.SQL("SELECT {s} FROM {t} {w} ORDER BY {k}").format(
            s=select, t=self.layer.qualified, w=where, k=sql.Identifier(self.layer.key)
        )
        return query, columns


class Collections:
    """Every layer of the catalogue as a Collection, by collection id, in the catalogue's order."""

    def __init__(self, catalogue: Catalogue, srid: int) -> None:
        self.catalogue = catalogue
        self.srid = srid
        self._by_id = {layer.collection: Collection(layer, catalogue, srid) for layer in catalogue.layers.values()}

    def __iter__(self):
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, collection_id: str) -> Collection:
        try:
            return self._by_id[collection_id]
        except KeyError:
            raise NotFound(f"no collection {collection_id!r}") from None

    def find(self, collection_id: str) -> Collection | None:
        return self._by_id.get(collection_id)

    def of_layer(self, name: str) -> Collection:
        return self.get(self.catalogue.layer(name).collection)

    def pick(self, ids: str | None) -> list[Collection]:
        """Comma-separated collection ids; None or empty: all of them."""
        if not ids:
            return list(self)
        return [self.get(c.strip()) for c in ids.split(",") if c.strip()]
