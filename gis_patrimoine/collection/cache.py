"""In-process caches keyed by data versions: rendered tiles (by bytes) and a collection's facts (by count).

A key holds the data version of every layer it depends on, read from the database for each request (by the
version clock, clock.py): a change committed by anyone — the importer, an API edit, QGIS — changes the
version, so a stale tile, count or extent can never be served, not even for an instant after one's own edit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class VersionedCache:
    """Small LRU for facts keyed by a layer's data version: numberMatched per filter (counting a million rows
    for every page is wasteful), extents. A new version makes new keys; old ones age out."""

    def __init__(self, size: int = 256):
        self.size = size
        self._items: OrderedDict[tuple, object] = OrderedDict()

    def get(self, key: tuple) -> object | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple, value: object) -> None:
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)


class TileCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[tuple, tuple[bytes, str, str]] = OrderedDict()  # tile, truncated layers, ETag
        self._lock = threading.Lock()

    def get(self, key: tuple) -> tuple[bytes, str, str] | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def contains(self, key: tuple) -> bool:
        """Whether the key is cached, without counting a hit or a miss."""
        return key in self._items

    def put(self, key: tuple, data: bytes, truncated: str, etag: str) -> None:
        if len(data) > self.max_bytes // 4:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.size -= len(old[0])
            self._items[key] = (data, truncated, etag)
            self.size += len(data)
            while self.size > self.max_bytes and self._items:
                _, (dropped, _, _) = self._items.popitem(last=False)
                self.size -= len(dropped)
