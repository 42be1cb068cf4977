"""CRS identifiers of OGC API – Features Part 2: CRS84 and the storage CRS."""

from __future__ import annotations

from fastapi import HTTPException

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"


def supported(storage_srid: int) -> list[str]:
    return [CRS84, EPSG_URI.format(storage_srid), EPSG_URI.format(4326), EPSG_URI.format(3857)]


def to_srid(uri: str | None, storage_srid: int, param: str = "crs") -> int:
    """The SRID for a CRS URI; CRS84 and EPSG:4326 are both served in longitude, latitude order here."""
    if uri is None or uri == CRS84:
        return 4326
    for srid in (storage_srid, 4326, 3857):
        if uri in (EPSG_URI.format(srid), f"EPSG:{srid}", f"http://www.opengis.net/def/crs/EPSG/0/{srid}"):
            return srid
    raise HTTPException(400, f"{param}: unsupported CRS {uri!r}; supported: {', '.join(supported(storage_srid))}")


def uri_of(srid: int) -> str:
    return CRS84 if srid == 4326 else EPSG_URI.format(srid)
