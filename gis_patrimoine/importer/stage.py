"""From Arrow batches to the staging table: geometry normalised, commune assigned, COPYed as CSV.

Conversion runs in a worker thread while the main thread feeds COPY, so that Python (GEOS, PROJ, Arrow,
mostly outside the GIL) and PostgreSQL use both cores. Refused features are staged too, with their reason,
so that the report and the retirement of absent features see every feature of the file.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
from psycopg import sql

from gis_patrimoine.importer.assign import CommuneIndex
from gis_patrimoine.importer.geometry import Normaliser

FIXED_COLUMNS = ("fid", "part", "commune", "repaired", "reason", "geom")


@dataclass
class StageCounts:
    read: int = 0
    staged: int = 0
    repaired: int = 0
    dropped_z: int = 0
    split: int = 0


def create_stage(conn: psycopg.Connection, nfields: int, srid: int) -> None:
    fields = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(f"f{i}")) for i in range(nfields))
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE import_stage (fid bigint NOT NULL, part integer NOT NULL, commune text, "
            "repaired boolean NOT NULL, reason text, geom geometry(Geometry, {srid}){comma}{fields}) ON COMMIT DROP"
        ).format(srid=sql.Literal(srid), comma=sql.SQL(", ") if nfields else sql.SQL(""), fields=fields)
    )


def _part_numbers(orig: np.ndarray, base_parts: np.ndarray) -> np.ndarray:
    """Number the pieces of each feature 1..k when it has several, 0 when it stays whole."""
    order = np.argsort(orig, kind="stable")
    sorted_orig = orig[order]
    counts = np.bincount(sorted_orig) if len(orig) else np.array([], int)
    first = np.searchsorted(sorted_orig, sorted_orig)
    rank = np.arange(len(orig)) - first + 1
    parts = np.zeros(len(orig), dtype=np.int32)
    several = counts[sorted_orig] > 1
    parts[order[several]] = rank[several]
    parts[order[~several]] = base_parts[order[~several]]
    return parts


class BatchConverter:
    """Turns one Arrow batch into CSV bytes for COPY into import_stage."""

    def __init__(
        self, normaliser: Normaliser, communes: CommuneIndex | None, srid: int, split_lines: bool, nfields: int
    ):
        self.normaliser = normaliser
        self.communes = communes
        self.srid = srid
        self.split_lines = split_lines
        self.nfields = nfields
        self.counts = StageCounts()

    def convert(self, batch: pa.RecordBatch) -> bytes:
        n = batch.num_rows
        fids = batch.column(0).to_numpy(zero_copy_only=False)
        wkb = batch.column(batch.num_columns - 1).to_numpy(zero_copy_only=False)
        fields = [batch.column(i) for i in range(1, 1 + self.nfields)]
        geo = self.normaliser.run(wkb)
        self.counts.read += n
        self.counts.dropped_z += geo.dropped_z
        orig, geoms, repaired = geo.index, geo.geoms, geo.repaired
        commune = np.full(len(orig), None, dtype=object)
        reason = np.full(len(orig), None, dtype=object)
        base_parts = geo.part
        if self.communes is not None and len(geoms):
            assigned = self.communes.assign(geoms, self.normaliser.dimension, self.split_lines)
            self.counts.split += int((assigned.split & (assigned.reason == None)).sum())  # noqa: E711
            orig, geoms, commune, reason = orig[assigned.row], assigned.geoms, assigned.insee, assigned.reason
            repaired, base_parts = repaired[assigned.row], base_parts[assigned.row]
        parts = _part_numbers(orig, base_parts)
        self.counts.repaired += int(np.unique(orig[repaired]).size)
        self.counts.staged += len(orig)
        hexes = (
            shapely.to_wkb(shapely.set_srid(geoms, self.srid), hex=True, include_srid=True)
            if len(geoms)
            else np.array([], dtype=object)
        )
        # features refused before a geometry could be made (null, wrong type, unrepairable)
        rorig = np.asarray(geo.refused_index, dtype=np.int64)
        nref = len(rorig)
        rows = np.concatenate([orig, rorig]).astype(np.int64)
        take = pa.array(rows)
        table = pa.table(
            {
                "fid": pa.array(fids[rows], pa.int64()),
                "part": pa.array(np.concatenate([parts, np.zeros(nref, np.int32)]), pa.int32()),
                "commune": pa.array(np.concatenate([commune, np.full(nref, None, object)]), pa.string()),
                "repaired": pa.array(np.concatenate([repaired, np.zeros(nref, bool)]), pa.bool_()),
                "reason": pa.array(np.concatenate([reason, np.asarray(geo.refused_reason, dtype=object)]), pa.string()),
                "geom": pa.array(np.concatenate([hexes, self._refused_geometries(wkb[rorig])]), pa.string()),
                **{f"f{i}": _as_text(pc.take(col, take)) for i, col in enumerate(fields)},
            }
        )
        out = io.BytesIO()
        pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
        return out.getvalue()

    def _refused_geometries(self, wkb: np.ndarray) -> np.ndarray:
        """Best effort, for the report: the original geometry, 2D, in the storage CRS."""
        if not len(wkb):
            return np.array([], dtype=object)
        geoms = shapely.from_wkb(wkb, on_invalid="ignore")
        ok = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
        out = np.full(len(wkb), None, dtype=object)
        if ok.any():
            g = self.normaliser.reproject(shapely.force_2d(geoms[ok]))
            out[ok] = shapely.to_wkb(shapely.set_srid(g, self.srid), hex=True, include_srid=True)
        return out


def _as_text(column: pa.Array) -> pa.Array:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        return pa.array([None if v is None else v.hex() for v in column.to_pylist()], pa.string())
    return pc.cast(column, pa.string())


def copy_batches(
    conn: psycopg.Connection,
    batches: Iterator[pa.RecordBatch],
    converter: BatchConverter,
    on_progress: Callable[[int], None] | None = None,
) -> StageCounts:
    """COPY every batch into import_stage; conversion of batch k+1 overlaps the COPY of batch k."""
    chunks: queue.Queue = queue.Queue(maxsize=3)
    failure: list[BaseException] = []
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                chunks.put((converter.convert(batch), batch.num_rows))
        except BaseException as exc:  # handed to the main thread
            failure.append(exc)
        finally:
            chunks.put(None)

    worker = threading.Thread(target=produce, name="import-convert", daemon=True)
    worker.start()
    columns = sql.SQL(", ").join(
        sql.Identifier(c) for c in (*FIXED_COLUMNS, *(f"f{i}" for i in range(converter.nfields)))
    )
    try:
        with conn.cursor().copy(sql.SQL("COPY import_stage ({}) FROM STDIN (FORMAT csv)").format(columns)) as copy:
            while (item := chunks.get()) is not None:
                copy.write(item[0])
                if on_progress:
                    on_progress(item[1])
    finally:
        stop.set()
        while worker.is_alive():
            try:
                chunks.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()
    if failure:
        raise failure[0]
    return converter.counts
