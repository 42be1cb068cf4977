"""What an import did: counts, and a file of the refused features the technician can fix in QGIS."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import psycopg
import pyogrio
from psycopg import sql

COUNT_LABELS = {
    "read": "read",
    "inserted": "inserted",
    "updated": "updated",
    "unchanged": "unchanged",
    "repaired": "geometries repaired",
    "refused": "refused",
    "retired": "retired (absent from the file)",
    "kept_in_extra": "features with attributes kept in extra",
    "unmapped_values": "values that fit no code list",
    "split": "pieces from splits at commune boundaries",
    "dropped_z": "Z/M dropped",
}


@dataclass
class ImportReport:
    layer: str
    file: str
    source: str
    mode: str
    dry_run: bool
    job_id: int | None = None
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    repaired: int = 0
    refused: int = 0
    retired: int = 0
    kept_in_extra: int = 0
    unmapped_values: int = 0
    split: int = 0
    dropped_z: int = 0
    committed: bool = False
    path: str = "staged"  # how the rows went in: "direct" (COPY into the layer) or "staged" (importer/direct.py)
    extra_fields: list[str] = field(default_factory=list)
    refusals: list[tuple[str, str]] = field(default_factory=list)  # (feature, reason), first ones
    refused_file: str | None = None
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k in COUNT_LABELS}


def write_refused(conn: psycopg.Connection, fields: list[str], directory: Path, stem: str, srid: int) -> Path:
    """A GeoPackage of the refused features: the source attributes, a `reason` column, the geometry."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}_refused.gpkg"
    cols = sql.SQL("").join(sql.SQL(", s.{}").format(sql.Identifier(f"f{i}")) for i in range(len(fields)))
    rows = conn.execute(
        sql.SQL(
            "SELECT t.fid, t.source_id, array_to_string(t.reasons, '; '), ST_AsBinary(coalesce(t.geom, s.geom)){cols} "
            "FROM import_typed t JOIN import_stage s ON s.fid = t.fid AND s.part = t.part "
            "WHERE cardinality(t.reasons) > 0 ORDER BY t.fid, t.part"
        ).format(cols=cols)
    ).fetchall()
    geoms = np.array([bytes(r[3]) if r[3] is not None else None for r in rows], dtype=object)
    columns = [
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=object),
        np.array([r[2] for r in rows], dtype=object),
    ]
    columns += [np.array([r[4 + i] for r in rows], dtype=object) for i in range(len(fields))]
    names = [
        "source_fid",
        "source_id",
        "reason",
        *[f if f not in ("reason", "source_id", "source_fid") else f"src_{f}" for f in fields],
    ]
    if path.exists():
        path.unlink()
    pyogrio.raw.write(
        path,
        geoms,
        columns,
        fields=names,
        crs=f"EPSG:{srid}",
        driver="GPKG",
        geometry_type="Unknown",
        layer=f"{stem}_refused",
    )
    return path
