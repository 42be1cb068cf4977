"""`import_communes`: commune boundaries, keyed by INSEE code.

Codes come from a code field (found by itself when a field holds INSEE-like codes), or from names matched to
the communes already loaded, or, for a territory that is not French, are generated from the names (a
warning says so). Communes are few (35,000 for all France), so they are read whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
import pyogrio
import shapely
from psycopg.types.json import Jsonb

from gis_patrimoine.db.migrations import stored_srid
from gis_patrimoine.importer import journal
from gis_patrimoine.importer.errors import ImportFailed
from gis_patrimoine.importer.geometry import Normaliser
from gis_patrimoine.importer.names import normalise, normalise_place
from gis_patrimoine.importer.plan import find_field
from gis_patrimoine.importer.report import ImportReport
from gis_patrimoine.importer.run import check_extent, lock_layer
from gis_patrimoine.importer.source import open_source, sha256

INSEE = re.compile(r"^\d[\dAB]\d{3}$")
CODE_FIELDS = ("insee", "insee_com", "code_insee", "codgeo", "code", "com")
NAME_FIELDS = ("nom", "nom_com", "name", "libelle", "lib_com", "nom_commune")
POPULATION_FIELDS = ("population", "pop", "pmun", "ptot", "population_municipale")


@dataclass
class CommuneOptions:
    path: Path
    code_field: str | None = None
    name_field: str | None = None
    population_field: str | None = None
    population_year: int | None = None
    layer_name: str | None = None
    srs: str | None = None
    encoding: str | None = None
    dry_run: bool = False
    app_user: str | None = None


def _pick(fields: list[str], explicit: str | None, candidates: tuple[str, ...], path: str, option: str) -> int | None:
    if explicit:
        index = find_field(fields, explicit)
        if index is None:
            raise ImportFailed(f"{option}: no field {explicit!r}; the file has: {', '.join(fields)}", path=path)
        return index
    return next((find_field(fields, c) for c in candidates if find_field(fields, c) is not None), None)


def slug_code(name: str, taken: set[str]) -> str:
    base = normalise(name).upper().replace(" ", "-")[:16].rstrip("-") or "C"
    code, n = base, 1
    while code in taken:
        n += 1
        code = f"{base[:13].rstrip('-')}-{n}"
    taken.add(code)
    return code


def import_communes(url: str, options: CommuneOptions) -> ImportReport:
    path = Path(options.path)
    report = ImportReport("communes", str(path), path.name, "upsert", options.dry_run)
    report.job_id = journal.open_job(
        url,
        "commune",
        path.name,
        sha256(path) if path.is_file() else None,
        path.name,
        "upsert",
        {"code_field": options.code_field, "name_field": options.name_field},
        options.app_user,
    )
    try:
        _run(url, options, report)
    except Exception as exc:
        journal.close_job(url, report.job_id, "failed", report.counts(), str(exc))
        raise
    journal.close_job(url, report.job_id, "dry_run" if options.dry_run else "succeeded", report.counts())
    return report


def _run(url: str, options: CommuneOptions, report: ImportReport) -> None:
    source = open_source(options.path, options.layer_name, options.srs, options.encoding)
    where = str(source.path)
    meta, _, geometry, values = pyogrio.raw.read(
        source.gdal_path, layer=source.layer, encoding=source.encoding, **source.open_options
    )
    fields = [str(f) for f in meta["fields"]]
    report.read = len(geometry)
    if not report.read:
        raise ImportFailed("the layer holds no feature", path=where)
    code_i = _pick(fields, options.code_field, CODE_FIELDS, where, "--code-field")
    name_i = _pick(fields, options.name_field, NAME_FIELDS, where, "--name-field")
    pop_i = _pick(fields, options.population_field, POPULATION_FIELDS, where, "--population-field")
    if name_i is None:
        raise ImportFailed(
            f"no name field found among {', '.join(fields)}", path=where, hint="say which with --name-field"
        )
    if code_i is not None and not options.code_field:
        sample = [str(v) for v in values[code_i] if v is not None][:50]
        if not sample or not all(INSEE.match(v) for v in sample):
            code_i = None
    with psycopg.connect(url) as conn:
        if options.app_user:
            conn.execute("SELECT set_config('gis_patrimoine.user', %s, true)", (options.app_user,))
        conn.execute("SELECT set_config('gis_patrimoine.import_job', %s, true)", (str(report.job_id),))
        lock_layer(conn, "commune", 30)
        srid = stored_srid(conn)
        if srid is None:
            raise ImportFailed("the database has no schema yet", hint="run `gis-patrimoine db init` first")
        existing = dict(conn.execute("SELECT insee, name FROM patrimoine.commune").fetchall())
        names = [None if v is None else str(v).strip() for v in values[name_i]]
        codes = _codes(values, code_i, names, existing, report)
        geo = Normaliser(source.crs, srid, "MultiPolygon").run(np.asarray(geometry, dtype=object))
        check_extent(source, srid, None)
        reasons: dict[int, str] = {int(i): str(r) for i, r in zip(geo.refused_index, geo.refused_reason, strict=True)}
        for i, code in enumerate(codes):
            if code is None:
                reasons.setdefault(i, f"unknown commune {names[i]!r}: no INSEE code and no commune of that name")
            elif not names[i]:
                reasons.setdefault(i, "no name")
        seen: dict[str, int] = {}
        for i, code in enumerate(codes):
            if code is not None and code in seen:
                reasons.setdefault(i, f"code {code} also used by feature {seen[code]}")
            seen.setdefault(code, i)
        if reasons:
            report.refused = len(reasons)
            report.refusals = [(f"feature {i} ({names[i]})", r) for i, r in sorted(reasons.items())[:20]]
            raise ImportFailed(
                f"{len(reasons)} commune(s) refused, nothing was written: "
                + "; ".join(f"feature {i}: {r}" for i, r in sorted(reasons.items())[:5]),
                path=where,
            )
        pops = [None] * len(codes)
        if pop_i is not None:
            pops = [None if v is None or str(v).strip() == "" else int(float(v)) for v in values[pop_i]]
        used = {i for i in (code_i, name_i, pop_i) if i is not None}
        rows = []
        for k, i in enumerate(geo.index):
            extra = {fields[j]: _plain(values[j][i]) for j in range(len(fields)) if j not in used}
            rows.append(
                (
                    codes[i],
                    names[i],
                    pops[i],
                    options.population_year if pops[i] is not None else None,
                    Jsonb({k2: v for k2, v in extra.items() if v is not None}),
                    shapely.to_wkb(geo.geoms[k], include_srid=False),
                    srid,
                )
            )
        report.repaired = int(geo.repaired.sum())
        report.dropped_z = geo.dropped_z
        with conn.cursor() as cur:
            for row in rows:
                cur.execute(
                    "INSERT INTO patrimoine.commune AS c (insee, name, population, population_year, extra, geom) "
                    "VALUES (%s, %s, %s, %s, %s, ST_Multi(ST_GeomFromWKB(%s, %s))) "
                    "ON CONFLICT (insee) DO UPDATE SET name = excluded.name, "
                    "population = coalesce(excluded.population, c.population), "
                    "population_year = coalesce(excluded.population_year, c.population_year), "
                    "extra = excluded.extra, geom = excluded.geom "
                    "WHERE (c.name, c.population, c.population_year, c.extra, c.geom) IS DISTINCT FROM "
                    "(excluded.name, coalesce(excluded.population, c.population), "
                    "coalesce(excluded.population_year, c.population_year), excluded.extra, excluded.geom) "
                    "RETURNING (xmax = 0)",
                    row,
                )
                result = cur.fetchone()
                if result is None:
                    report.unchanged += 1
                elif result[0]:
                    report.inserted += 1
                else:
                    report.updated += 1
        if options.dry_run:
            conn.rollback()
        else:
            conn.commit()
            report.committed = True


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _codes(
    values: list, code_i: int | None, names: list[str | None], existing: dict[str, str], report: ImportReport
) -> list[str | None]:
    if code_i is not None:
        return [None if v is None else str(v).strip() for v in values[code_i]]
    if existing:
        by_name = {normalise_place(n): c for c, n in existing.items()}
        return [by_name.get(normalise_place(n)) if n else None for n in names]
    taken: set[str] = set()
    report.warnings.append(
        "no INSEE code field and no communes loaded yet: codes were generated from the names "
        "(fine for a territory outside France; for French communes give --code-field)"
    )
    return [slug_code(n, taken) if n else None for n in names]
