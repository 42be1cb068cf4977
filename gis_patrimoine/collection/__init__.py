"""The collection layer between HTTP and SQL: one `Collection` per catalogue layer (collection.py), the tile
statement it composes (tile_sql.py), CQL2 filters with bound values (cql.py), the caches keyed by data
version (cache.py), the clock that reads those versions (clock.py) and the MapLibre style (style.py)."""

from gis_patrimoine.collection.collection import Collection, Collections, ItemsQuery, RenderedTile
from gis_patrimoine.collection.cql import Filter, FilterError
from gis_patrimoine.collection.errors import NotFound, QueryError

__all__ = [
    "Collection",
    "Collections",
    "Filter",
    "FilterError",
    "ItemsQuery",
    "NotFound",
    "QueryError",
    "RenderedTile",
]
