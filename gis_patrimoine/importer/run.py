"""`import_layer`: one file into one layer, in one transaction, journalled, with a report.

read (Arrow batches) → normalise geometries and assign communes (Python, vectorised, in a worker thread)
→ COPY into a temporary staging table → type, map codes and check attributes (set-based SQL)
→ refuse or merge on the natural key (source, source_id) → commit, or roll back on any fatal error.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql
from pyproj import CRS, Transformer

from gis_patrimoine.catalogue import Catalogue, Layer, Profile, get_catalogue
from gis_patrimoine.db.errors import translate
from gis_patrimoine.db.migrations import stored_srid
from gis_patrimoine.importer import direct, journal
from gis_patrimoine.importer.assign import CommuneIndex
from gis_patrimoine.importer.errors import ImportFailed
from gis_patrimoine.importer.geometry import Normaliser
from gis_patrimoine.importer.merge import build_typed, commune_resolver, fill_code_maps, fill_commune_map
from gis_patrimoine.importer.plan import FieldPlan, build_plan
from gis_patrimoine.importer.report import ImportReport, write_refused
from gis_patrimoine.importer.source import Source, batches, open_source, sha256
from gis_patrimoine.importer.stage import BatchConverter, copy_batches, create_stage

Mode = Literal["upsert", "append", "replace"]
log = logging.getLogger(__name__)


@contextmanager
def step(name: str) -> Iterator[None]:
    """Log how long each step of an import takes (DEBUG), for the benchmark and for slow imports."""
    start = time.perf_counter()
    yield
    log.debug("import step %s: %.2f s", name, time.perf_counter() - start)


MAX_LISTED_REFUSALS = 20
NEAR_COMMUNES_M = 10_000


class ImportRefused(ImportFailed):
    """Some features were refused and --skip-refused was not given: nothing was written."""

    def __init__(self, report: ImportReport):
        self.report = report
        super().__init__(
            f"{report.refused} feature(s) refused, nothing was written",
            path=report.file,
            hint=(f"fix them (see {report.refused_file}) and import again, or import the others with --skip-refused"),
        )


@dataclass
class ImportOptions:
    layer: str
    path: Path
    layer_name: str | None = None
    profile: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    commune_field: str | None = None
    srs: str | None = None
    encoding: str | None = None
    source: str | None = None
    id_field: str | None = None
    mode: Mode = "upsert"
    dry_run: bool = False
    report_dir: Path | None = None
    skip_refused: bool = False
    wait_seconds: float = 30.0
    app_user: str | None = None
    # features per batch: the server sets the pace, so smaller batches cost no time and hold less (200,000
    # lights: 4,096 → 1,024 took the peak from 180 to 172 MB, polygons from 197 to 176 MB; 16,384 held 110 MB more)
    batch_size: int = 1_024
    job_id: int | None = None  # a journal row already opened (an upload accepted by the API)
    direct: bool = True  # clean new files straight into the table (importer/direct.py); False: always staged


def lock_layer(conn: psycopg.Connection, table: str, wait_seconds: float) -> None:
    """Imports into one layer never interleave: the second waits, then fails with a clear message."""
    conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(f"{int(wait_seconds * 1000)}ms")))
    try:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('gis_patrimoine.import.' || %s))", (table,))
    except psycopg.errors.LockNotAvailable as exc:
        raise ImportFailed(
            f"another import into {table} is running; waited {wait_seconds:g} s",
            hint="try again when it has finished (see patrimoine_sys.import_job)",
        ) from exc
    conn.execute("SET LOCAL lock_timeout = 0")


def check_extent(source: Source, srid: int, communes: CommuneIndex | None) -> None:
    """Refuse data outside the storage CRS's area of use or far from the communes: usually a wrong --srs."""
    if source.bounds is None:
        return
    xmin, ymin, xmax, ymax = source.bounds
    target = CRS.from_epsg(srid)
    srs_hint = (
        f"the file says its coordinates are in {source.crs.to_string()}; if that is wrong, give the "
        "right one with --srs (a wrong --srs or .prj is the usual cause)"
    )
    try:
        to_lonlat = Transformer.from_crs(source.crs, CRS.from_epsg(4326), always_xy=True)
        lon0, lat0, lon1, lat1 = to_lonlat.transform_bounds(xmin, ymin, xmax, ymax)
    except Exception as exc:
        raise ImportFailed(
            f"coordinates cannot be placed on Earth in {source.crs.to_string()}", path=str(source.path), hint=srs_hint
        ) from exc
    area = target.area_of_use
    if area and not (
        area.west - 1 <= lon0 and lon1 <= area.east + 1 and area.south - 1 <= lat0 and lat1 <= area.north + 1
    ):
        raise ImportFailed(
            f"the data ({lon0:.2f}, {lat0:.2f}) – ({lon1:.2f}, {lat1:.2f}) in lon/lat fall outside the area of use "
            f"of the storage CRS EPSG:{srid} ({area.name})",
            path=str(source.path),
            hint=srs_hint,
        )
    if communes is None:
        return
    to_storage = Transformer.from_crs(source.crs, target, always_xy=True)
    x0, y0, x1, y1 = to_storage.transform_bounds(xmin, ymin, xmax, ymax)
    cx0, cy0, cx1, cy1 = communes.bounds
    d = NEAR_COMMUNES_M
    if x1 < cx0 - d or x0 > cx1 + d or y1 < cy0 - d or y0 > cy1 + d:
        raise ImportFailed(
            f"the data lie far from every commune of the database (more than {d // 1000} km away)",
            path=str(source.path),
            hint=srs_hint,
        )


def _fresh_sources(conn: psycopg.Connection, layer: Layer, source: str | None) -> bool:
    """Whether the layer holds no feature of the file's sources (`source`, or read from the rows when they name
    their own): then every accepted row is new, and a plain INSERT does the merge (ON CONFLICT's speculative
    insertion costs a fifth more on a million rows). The natural key stays unique: another import waits on the
    layer's lock, and an edit adding one of these keys meanwhile makes the import fail whole, with the
    database's message."""
    sources = (
        [source]
        if source is not None
        else [r[0] for r in conn.execute("SELECT DISTINCT source FROM import_typed WHERE cardinality(reasons) = 0")]
    )
    return not conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE source = ANY(%s))").format(
            sql.Identifier("patrimoine", layer.table)
        ),
        (sources,),
    ).fetchone()[0]


SAME_WITHIN_M = 0.001  # a feature re-imported within a millimetre of where it is stored has not moved


def same_within(srid: int) -> float:
    """The distance, in the storage CRS's units, within which two geometries are the same feature's: a
    millimetre (an export through WGS84 or decimal text comes back a few nanometres off)."""
    crs = CRS.from_epsg(srid)
    return SAME_WITHIN_M / 111_320 if crs.is_geographic else SAME_WITHIN_M


def moved(old: sql.Composable, new: sql.Composable, tolerance: float) -> sql.Composable:
    """SQL: has a geometry changed beyond `tolerance`? Equal coordinates first (the usual case, cheap), then
    another type or vertex count, then the farthest distance between the two (Hausdorff) — so an export read
    back changes nothing, while stored geometries keep their full precision."""
    return sql.SQL(
        "CASE WHEN {o} = {n} THEN false WHEN ST_GeometryType({o}) <> ST_GeometryType({n}) OR "
        "ST_NPoints({o}) <> ST_NPoints({n}) THEN true ELSE ST_HausdorffDistance({o}, {n}) > {t} END"
    ).format(o=old, n=new, t=sql.Literal(tolerance))


def _counts_sql(
    layer: Layer, provided: list[str], mode: Mode, fresh: bool = False, tolerance: float = SAME_WITHIN_M
) -> sql.Composable:
    table = sql.Identifier("patrimoine", layer.table)
    cols = ["commune_insee", "source", "source_id", *provided, "extra", "geom"]
    geom = sql.SQL("ST_Multi(i.geom)") if layer.geometry.startswith("Multi") else sql.SQL("i.geom")
    select = sql.SQL(", ").join([*(sql.SQL("i.{}").format(sql.Identifier(c)) for c in cols[:-1]), geom])
    target = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
    if fresh:  # the statement's row count says how many were inserted
        return sql.SQL(
            "INSERT INTO {table} ({target}) SELECT {select} FROM import_typed i WHERE cardinality(i.reasons) = 0 "
            "ORDER BY i.fid, i.part"
        ).format(table=table, target=target, select=select)
    if mode == "append":
        conflict = sql.SQL("DO NOTHING")
    else:
        updatable = [c for c in cols if c not in ("source", "source_id")]
        attrs = [c for c in updatable if c != "geom"]
        conflict = sql.SQL("DO UPDATE SET {sets} WHERE ({old}) IS DISTINCT FROM ({new}) OR {geom}").format(
            sets=sql.SQL(", ").join(sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in updatable),
            old=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in attrs),
            new=sql.SQL(", ").join(sql.SQL("excluded.{}").format(sql.Identifier(c)) for c in attrs),
            geom=moved(sql.SQL("t.geom"), sql.SQL("excluded.geom"), tolerance),
        )
    return sql.SQL("""WITH w AS (
            INSERT INTO {table} AS t ({target})
            SELECT {select} FROM import_typed i WHERE cardinality(i.reasons) = 0 ORDER BY i.fid, i.part
            ON CONFLICT (source, source_id) {conflict}
            RETURNING (xmax = 0) AS inserted)
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM w""").format(
        table=table, target=target, select=select, conflict=conflict
    )


def _retire(conn: psycopg.Connection, layer: Layer) -> int:
    """replace mode: features of the file's sources that the file no longer has are deleted (kept in history)."""
    return conn.execute(
        sql.SQL(
            "DELETE FROM {t} t WHERE t.source IN (SELECT DISTINCT source FROM import_typed) AND NOT EXISTS "
            "(SELECT 1 FROM import_typed i WHERE i.source = t.source AND i.source_id = t.source_id)"
        ).format(t=sql.Identifier("patrimoine", layer.table))
    ).rowcount


def _flag_duplicates(conn: psycopg.Connection, id_label: str) -> None:
    """Refuse every feature whose identifier appears more than once (one hash aggregate; an update only when
    there are duplicates)."""
    found = conn.execute(
        "CREATE TEMP TABLE import_dups ON COMMIT DROP AS SELECT source, source_id, count(*) AS n FROM import_typed "
        "GROUP BY 1, 2 HAVING count(*) > 1"
    ).rowcount
    if found:
        conn.execute(
            "UPDATE import_typed t SET reasons = t.reasons || "
            "format('identifier %%s appears %%s times in the file (field %%s)', d.source_id, d.n, %s::text) "
            "FROM import_dups d WHERE t.source = d.source AND t.source_id = d.source_id",
            (id_label,),
        )


def import_layer(
    url: str,
    options: ImportOptions,
    catalogue: Catalogue | None = None,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[Source], None] | None = None,
) -> ImportReport:
    """Import one file into one asset layer. Raises ImportFailed (nothing written) on a fatal error."""
    catalogue = catalogue or get_catalogue()
    try:
        layer = catalogue.layer(options.layer)
    except KeyError as exc:
        raise ImportFailed(str(exc.args[0])) from exc
    if layer.kind != "asset":
        raise ImportFailed(f"{layer.collection} are imported with `gis-patrimoine import communes`")
    path = Path(options.path)
    source_name = options.source or path.name
    report = ImportReport(layer.collection, str(path), source_name, options.mode, options.dry_run)
    if options.job_id is not None:
        report.job_id = options.job_id
    else:
        report.job_id = journal.open_job(
            url,
            layer.table,
            path.name,
            None,  # the file's SHA-256, computed meanwhile and recorded at the end
            source_name,
            options.mode,
            {k: v for k, v in vars(options).items() if k not in ("path", "app_user", "job_id")},
            options.app_user,
        )

    digest = concurrent.futures.ThreadPoolExecutor(1, "import-sha256")
    sha = digest.submit(sha256, path) if path.is_file() else None  # hashlib releases the GIL: off the main path

    def close(status: str, message: str | None = None) -> None:
        details = {"refusals": [{"feature": f, "reason": r} for f, r in report.refusals[:50]],
                   "warnings": report.warnings, "refused_file": report.refused_file}  # fmt: skip
        try:
            digest_hex = sha.result() if sha else None
        except OSError:  # the file went away meanwhile: the journal says what it can
            digest_hex = None
        journal.close_job(url, report.job_id, status, report.counts(), message, details, digest_hex)
        digest.shutdown()

    try:
        _run(url, options, catalogue, layer, report, progress, on_start)
    except ImportFailed as exc:  # ImportRefused too
        close("failed", str(exc))
        raise
    except psycopg.Error as exc:
        error = translate(exc, catalogue)
        close("failed", str(error))
        raise ImportFailed(f"the database refused the import: {error}", path=str(path)) from exc
    except BaseException as exc:
        close("failed", f"{type(exc).__name__}: {exc}")
        raise
    close("dry_run" if options.dry_run else "succeeded")
    return report


def _run(
    url: str,
    options: ImportOptions,
    catalogue: Catalogue,
    layer: Layer,
    report: ImportReport,
    progress: Callable[[int], None] | None,
    on_start: Callable[[Source], None] | None,
) -> None:
    source = open_source(options.path, options.layer_name, options.srs, options.encoding)
    try:
        profile = layer.profile(options.profile)
    except KeyError as exc:
        raise ImportFailed(str(exc.args[0])) from exc
    per_row_key = options.profile in (None, "default") and not options.source and not options.id_field
    plan = build_plan(
        layer,
        profile,
        source.fields,
        options.mapping,
        options.id_field,
        options.commune_field,
        str(source.path),
        per_row_key,
    )
    id_label = options.id_field or ("source_id" if plan.row_source_id_index is not None else "(feature id)")
    with psycopg.connect(url) as conn:
        conn.execute("SELECT set_config('gis_patrimoine.import_job', %s, true)", (str(report.job_id),))
        if options.app_user:
            conn.execute("SELECT set_config('gis_patrimoine.user', %s, true)", (options.app_user,))
        lock_layer(conn, layer.table, options.wait_seconds)
        srid = stored_srid(conn)
        if srid is None:
            raise ImportFailed("the database has no schema yet", hint="run `gis-patrimoine db init` first")
        communes = CommuneIndex.load(conn)
        if communes is None:
            raise ImportFailed(
                "no communes in the database: every asset belongs to a commune",
                hint="load them first with `gis-patrimoine import communes PATH`",
            )
        check_extent(source, srid, communes)
        if on_start:
            on_start(source)

        def converter_of() -> BatchConverter:
            return BatchConverter(
                Normaliser(source.crs, srid, layer.geometry),
                None if plan.commune_index is not None else communes,
                srid,
                split_lines=layer.name == "road",
                nfields=len(source.fields),
            )

        why = direct.why_not(layer, plan, profile, options.mode) if options.direct else "staged path asked for"
        if why is None:
            why = _direct(
                conn, source, options, catalogue, layer, plan, profile, converter_of(), report, id_label, progress
            )
        if why is None:
            return
        log.debug("import: staged path (%s)", why)
        create_stage(conn, len(source.fields), srid)
        converter = converter_of()
        with step("read+convert+copy"), batches(source, options.batch_size) as stream:
            counts = copy_batches(conn, stream, converter, progress)
        report.read, report.repaired, report.dropped_z, report.split = (
            counts.read,
            counts.repaired,
            counts.dropped_z,
            counts.split,
        )
        if counts.read == 0:
            raise ImportFailed("the layer holds no feature", path=str(source.path))
        with step("maps"):
            conn.execute("ANALYZE import_stage")
            fill_code_maps(conn, catalogue, plan, profile)
            fill_commune_map(conn, plan)
        with step("typed"):
            provided = build_typed(conn, plan, profile, source.fields, report.source, id_label)
        with step("duplicates"):
            _flag_duplicates(conn, id_label)
        report.refused = conn.execute("SELECT count(*) FROM import_typed WHERE cardinality(reasons) > 0").fetchone()[0]
        report.refusals = [
            (f"feature {fid}" + (f" (id {sid})" if sid else ""), reason)
            for fid, sid, reason in conn.execute(
                "SELECT fid, source_id, array_to_string(reasons, '; ') FROM import_typed "
                "WHERE cardinality(reasons) > 0 ORDER BY fid, part LIMIT %s",
                (MAX_LISTED_REFUSALS,),
            )
        ]
        code_columns = [c.attr.name for c in plan.columns if c.attr.type in ("code", "codes")]
        report.kept_in_extra, report.unmapped_values = conn.execute(
            "SELECT count(*) FILTER (WHERE extra <> '{}'), coalesce(sum((SELECT count(*) FROM jsonb_object_keys(extra) "
            "k WHERE k = ANY(%s))), 0)::int FROM import_typed WHERE cardinality(reasons) = 0",
            (code_columns,),
        ).fetchone()
        report.extra_fields = [source.fields[i] for i in range(len(source.fields)) if i not in plan.consumed]
        if report.refused or options.report_dir:
            directory = options.report_dir or Path.cwd() / "import-reports"
            if report.refused:
                report.refused_file = str(
                    write_refused(conn, source.fields, directory, f"{source.path.stem}_job{report.job_id}", srid)
                )
        if report.refused and not options.skip_refused:
            conn.rollback()
            raise ImportRefused(report)
        with step("merge"):
            if _fresh_sources(conn, layer, report.source if plan.row_source_index is None else None):
                inserted, updated = conn.execute(_counts_sql(layer, provided, options.mode, fresh=True)).rowcount, 0
            else:
                inserted, updated = conn.execute(
                    _counts_sql(layer, provided, options.mode, tolerance=same_within(srid))
                ).fetchone()
        accepted = conn.execute("SELECT count(*) FROM import_typed WHERE cardinality(reasons) = 0").fetchone()[0]
        report.inserted, report.updated = inserted, updated
        report.unchanged = accepted - inserted - updated
        if options.mode == "replace":
            report.retired = _retire(conn, layer)
        _finish(conn, options, report)


def _finish(conn: psycopg.Connection, options: ImportOptions, report: ImportReport) -> None:
    if options.dry_run:
        conn.rollback()
    else:
        with step("commit"):
            conn.commit()
        report.committed = True


def _direct(
    conn: psycopg.Connection,
    source: Source,
    options: ImportOptions,
    catalogue: Catalogue,
    layer: Layer,
    plan: FieldPlan,
    profile: Profile,
    base: BatchConverter,
    report: ImportReport,
    id_label: str,
    progress: Callable[[int], None] | None,
) -> str | None:
    """The direct path (importer/direct.py): None when the file went in that way (committed, or rolled back
    for a dry run), else why not — the database is then as it was before, and the staged path runs."""
    columns = direct.columns_of(catalogue, plan, profile)
    lookups = {c.attr.references for c in columns if c.attr.link_within_m is not None}
    empty = {
        name
        for name in lookups
        if not conn.execute(
            sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(catalogue.layer(name).qualified)
        ).fetchone()[0]
    }
    communes = commune_resolver(conn) if plan.commune_index is not None else None
    names = {a.name for a in layer.attributes}
    actor = conn.execute("SELECT patrimoine_app.actor()").fetchone()[0] if "updated_by" in names else None
    converter = direct.DirectConverter(
        base, layer, plan, columns, source.fields, report.source, id_label, empty, communes, actor
    )
    if conn.execute("SELECT row_security_active(%s::regclass)", (layer.qualified.as_string(conn),)).fetchone()[0]:
        return "row-level security applies to this login (PostgreSQL refuses COPY FROM then)"
    held = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE source = %s)").format(layer.qualified)
    if plan.row_source_index is None and conn.execute(held, (report.source,)).fetchone()[0]:
        return "the layer holds features of this source"  # known before copying a row: a merge
    reported = 0

    def counted(n: int) -> None:
        nonlocal reported
        reported += n
        if progress:
            progress(n)

    conn.execute("SAVEPOINT gp_direct")
    try:
        with step("direct copy"), batches(source, options.batch_size) as stream:
            counts = copy_batches(conn, stream, converter, counted, converter.copy_sql(), rows_per_statement=50_000)
        if counts.read == 0:
            raise direct.NotDirect("the layer holds no feature")  # the staged path says so
        mine = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE source = ANY(%s)").format(layer.qualified),
            (list(converter.sources),),
        ).fetchone()[0]
        if mine != converter.inserted:  # the layer held features of these sources: a merge, not an insert
            raise direct.NotDirect("the layer holds features of the same source")
    except (
        direct.NotDirect,
        psycopg.errors.IntegrityError,
        psycopg.errors.DataError,
        psycopg.errors.FeatureNotSupported,
    ) as exc:
        conn.execute("ROLLBACK TO SAVEPOINT gp_direct")
        if progress:
            progress(-reported)
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    conn.execute("RELEASE SAVEPOINT gp_direct")
    report.read, report.repaired, report.dropped_z, report.split = (
        counts.read, counts.repaired, counts.dropped_z, counts.split,
    )  # fmt: skip
    report.inserted, report.path = converter.inserted, "direct"
    report.kept_in_extra, report.unmapped_values = converter.kept_in_extra, converter.unmapped_values
    report.extra_fields = [source.fields[i] for i in range(len(source.fields)) if i not in plan.consumed]
    log.debug("import: direct path, %s features", converter.inserted)
    _finish(conn, options, report)
    return None
