"""Loading the questionnaire: every cell checked first, then all of the file or nothing.

A refusal lists each problem with its sheet, row, column and value, and the database stays as it was. A file
that passes replaces, sheet by sheet, the previous answers of the communes that sheet holds (the history keeps
them; an empty sheet is no answer and changes nothing), and records who answered what
(patrimoine_sys.diagnostic_return), so that a commune that never answered is shown as missing, not as zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import psycopg
from psycopg import sql

from gis_patrimoine.catalogue import Catalogue, DiagnosticTable, get_catalogue
from gis_patrimoine.diagnostic.values import Lookups, Refused, parse
from gis_patrimoine.diagnostic.workbook import (
    SheetRows,
    WorkbookError,
    fillable,
    read_csv,
    read_xlsx,
    tables,
    write,
)
from gis_patrimoine.importer.names import normalise

AGGLO_KEY = "agglo"
MAX_LISTED = 30


class DiagnosticRefused(ValueError):
    """The file was not loaded; `problems` name sheet, row, column and value."""

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file, self.problems = file, problems
        shown = "\n  ".join(problems[:MAX_LISTED])
        more = f"\n  … and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        super().__init__(f"{file}: nothing was loaded, {len(problems)} problem(s):\n  {shown}{more}")


@dataclass
class DiagnosticReport:
    file: str
    communes: list[str]  # INSEE codes answered (agglo for the agglomération)
    written: dict[str, int] = field(default_factory=dict)  # table -> rows
    replaced: dict[str, int] = field(default_factory=dict)  # table -> previous rows removed
    unchanged: list[str] = field(default_factory=list)  # tables whose answers were already these


def lookups(conn: psycopg.Connection, catalogue: Catalogue) -> Lookups:
    communes = conn.execute("SELECT insee, name FROM patrimoine.commune ORDER BY insee").fetchall()
    depots = conn.execute("SELECT id, name, commune_insee FROM patrimoine.depot ORDER BY id").fetchall()
    return Lookups.build(catalogue, communes, depots)


def read(path: Path, catalogue: Catalogue, table: str | None = None, encoding: str | None = None) -> list[SheetRows]:
    if path.suffix.lower() == ".csv":
        return [read_csv(path, catalogue, table, encoding)]
    return read_xlsx(path, catalogue)


def check(
    sheets: list[SheetRows], found: Lookups, none: dict[str, set[str]] | None = None
) -> tuple[dict[str, list[dict]], list[str]]:
    """Typed rows per table, and the problems (sheet, row, column, value, what is wrong). A row that gives its
    commune and nothing else says "none" (no contract, no machine): it goes to `none` (table -> communes)."""
    typed: dict[str, list[dict]] = {}
    problems: list[str] = []
    none = none if none is not None else {}
    for sheet in sheets:
        table = sheet.table
        attrs = {a.name: a for a in fillable(table)}
        seen: dict[tuple, int] = {}
        out = typed.setdefault(table.name, [])
        for number, cells in sheet.rows:
            if "commune_insee" in cells and all(_empty(v) for k, v in cells.items() if k != "commune_insee"):
                try:
                    commune = parse(attrs["commune_insee"], cells["commune_insee"], found)
                except Refused as exc:
                    letter, header = sheet.columns["commune_insee"]
                    problems.append(f"sheet {sheet.sheet!r}, row {number}, column {letter} «{header}»: {exc}")
                    continue
                none.setdefault(table.name, set()).add(commune or AGGLO_KEY)
                continue
            row: dict[str, object] = {}
            # the commune first: a depot's name is looked up within it
            for name in sorted(cells, key=lambda n: attrs[n].type != "commune"):
                attr = attrs[name]
                letter, header = sheet.columns[name]
                try:
                    row[name] = parse(attr, cells[name], found, row.get("commune_insee"))
                except Refused as exc:
                    problems.append(f"sheet {sheet.sheet!r}, row {number}, column {letter} «{header}»: {exc}")
                    continue
                if row[name] is None and attr.required:
                    problems.append(f"sheet {sheet.sheet!r}, row {number}, column {letter} «{header}»: empty")
            for name, attr in attrs.items():
                if row.get(name) is None and attr.default is not None:
                    row[name] = attr.default
            key = tuple(row.get(k) for k in table.key)
            if key in seen:
                titles = ", ".join(table.attribute(k).title.fr for k in table.key)
                problems.append(
                    f"sheet {sheet.sheet!r}, rows {seen[key]} and {number}: the same {titles} twice; "
                    "merge them into one row"
                )
            seen.setdefault(key, number)
            if table.name == "contract" and row.get("activity") is not None and row.get("service"):
                activity = _activity(row["service"], str(row["activity"]))
                if activity is None:
                    letter, header = sheet.columns["activity"]
                    known = ", ".join(_activities().get(row["service"], {}).values()) or "none"
                    problems.append(
                        f"sheet {sheet.sheet!r}, row {number}, column {letter} «{header}»: {row['activity']!r} is not "
                        f"an activity of {row['service']} ({known}); leave it empty for the whole service"
                    )
                row["activity"] = activity
            out.append(row)
    return typed, problems


@cache
def _activities() -> dict[str, dict[str, str]]:
    """service -> normalised activity name or title -> the catalogue's activity name."""
    out: dict[str, dict[str, str]] = {}
    for layer in get_catalogue().asset_layers:
        if layer.maintenance:
            for a in layer.maintenance.activities:
                for text in (a.name, a.title.fr, a.title.en):
                    out.setdefault(layer.maintenance.service, {})[normalise(text)] = a.name
    return out


def _activity(service: str, text: str) -> str | None:
    return _activities().get(service, {}).get(normalise(text))


def _depots_held_elsewhere(conn: psycopg.Connection, rows: list[dict], answered: list[str]) -> list[str]:
    """Depots whose costs the file gives but another commune (not replaced by this file) already answered."""
    ids = [r["depot_id"] for r in rows if r.get("depot_id") is not None]
    held = conn.execute(
        "SELECT d.name, coalesce(c.commune_insee, %s) FROM patrimoine.depot_cost c JOIN patrimoine.depot d "
        "ON d.id = c.depot_id WHERE c.depot_id = ANY(%s) AND NOT coalesce(c.commune_insee, %s) = ANY(%s)",
        (AGGLO_KEY, ids, AGGLO_KEY, answered),
    ).fetchall()
    return [
        f"sheet 'Centres techniques': the costs of depot {name!r} are already answered by {owner}; one answer per depot"
        for name, owner in held
    ]


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def load_file(
    conn: psycopg.Connection,
    path: Path,
    table: str | None = None,
    encoding: str | None = None,
    user: str | None = None,
    allowed: set[str] | None = None,
    catalogue: Catalogue | None = None,
) -> DiagnosticReport:
    """Check then load a questionnaire (.xlsx, or one table as .csv), all or nothing; `allowed` (INSEE codes,
    agglo) limits the communes the file may answer for (an editor's)."""
    catalogue = catalogue or get_catalogue()
    try:
        sheets = read(path, catalogue, table, encoding)
    except WorkbookError as exc:
        raise DiagnosticRefused(path.name, [str(exc)]) from exc
    if not any(s.rows for s in sheets):
        raise DiagnosticRefused(path.name, ["no answer: every sheet of the questionnaire is empty"])
    none: dict[str, set[str]] = {}
    typed, problems = check(sheets, lookups(conn, catalogue), none)
    communes = sorted(
        {r.get("commune_insee") or AGGLO_KEY for rows in typed.values() for r in rows}
        | {c for cs in none.values() for c in cs}
    )
    if allowed is not None and (other := [c for c in communes if c not in allowed]):
        problems.append(f"answers for commune(s) {', '.join(other)}, which this account may not edit")
    if typed.get("depot_cost"):
        keys = {r.get("commune_insee") or AGGLO_KEY for r in typed["depot_cost"]} | none.get("depot_cost", set())
        problems += _depots_held_elsewhere(conn, typed["depot_cost"], sorted(keys))
    if problems:
        raise DiagnosticRefused(path.name, problems)
    report = DiagnosticReport(path.name, communes)
    with conn.transaction():
        if user:
            conn.execute("SELECT set_config('gis_patrimoine.user', %s, true)", (user,))
        for name, rows in typed.items():
            answered = sorted({r.get("commune_insee") or AGGLO_KEY for r in rows} | none.get(name, set()))
            if not answered:  # an empty sheet is not an answer: the previous ones stay
                continue
            t = catalogue.tables[name]
            same = sorted(map(_key(t), rows)) == sorted(map(_key(t), _current(conn, t, answered)))
            if same:
                report.unchanged.append(name)  # the same answers again: nothing to write, nothing in the history
            else:
                report.replaced[name] = conn.execute(
                    sql.SQL("DELETE FROM {} WHERE coalesce(commune_insee, %s) = ANY(%s)").format(t.qualified),
                    (AGGLO_KEY, answered),
                ).rowcount
                _insert(conn, t, rows)
                report.written[name] = len(rows)
            for key in answered:
                conn.execute(
                    sql.SQL(
                        "INSERT INTO patrimoine_sys.diagnostic_return (commune_key, table_name, file, rows) "
                        "VALUES (%s, %s, %s, %s) ON CONFLICT (commune_key, table_name) DO {}"
                    ).format(
                        sql.SQL("NOTHING")
                        if same
                        else sql.SQL(
                            "UPDATE SET file = excluded.file, rows = excluded.rows, imported_at = now(), "
                            "imported_by = patrimoine_app.actor()"
                        )
                    ),
                    (key, name, path.name, sum((r.get("commune_insee") or AGGLO_KEY) == key for r in rows)),
                )
    return report


def _key(table: DiagnosticTable):
    """A row as a comparable tuple (numbers as their column's type: 1607 and 1607.0 are the same answer)."""
    kinds = [(a.name, a.type) for a in fillable(table)]

    def key(row: dict) -> str:
        out = []
        for name, kind in kinds:
            v = row.get(name)
            out.append(float(v) if kind == "real" and v is not None else v)
        return repr(out)

    return key


def _current(conn: psycopg.Connection, table: DiagnosticTable, answered: list[str]) -> list[dict]:
    names = [a.name for a in fillable(table)]
    rows = conn.execute(
        sql.SQL("SELECT {} FROM {} WHERE coalesce(commune_insee, %s) = ANY(%s)").format(
            sql.SQL(", ").join(map(sql.Identifier, names)), table.qualified
        ),
        (AGGLO_KEY, answered),
    )
    return [dict(zip(names, r, strict=True)) for r in rows]


def _insert(conn: psycopg.Connection, table: DiagnosticTable, rows: list[dict]) -> None:
    if not rows:
        return
    names = [a.name for a in fillable(table)]
    with conn.cursor() as cur:
        cur.executemany(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                table.qualified,
                sql.SQL(", ").join(map(sql.Identifier, names)),
                sql.SQL(", ").join(sql.Placeholder() * len(names)),
            ),
            [tuple(r.get(n) for n in names) for r in rows],
        )


def stored(conn: psycopg.Connection, catalogue: Catalogue, communes: list[str] | None = None) -> dict[str, list[dict]]:
    """The answers in the database (of these communes, agglo included), as rows of each table."""
    out = {}
    for t in tables(catalogue):
        names = [a.name for a in fillable(t)]
        order = sql.SQL(", ").join(sql.SQL("{} NULLS FIRST").format(sql.Identifier(k)) for k in t.key)
        query = sql.SQL(
            "SELECT {} FROM {} WHERE %s::text[] IS NULL OR coalesce(commune_insee, %s) = ANY(%s) ORDER BY {}, id"
        ).format(sql.SQL(", ").join(map(sql.Identifier, names)), t.qualified, order)
        out[t.name] = [dict(zip(names, r, strict=True)) for r in conn.execute(query, (communes, AGGLO_KEY, communes))]
        # a commune that answered "none": its commune alone on a line, as it sent it
        out[t.name] += [
            {"commune_insee": None if key == AGGLO_KEY else key}
            for (key,) in conn.execute(
                "SELECT commune_key FROM patrimoine_sys.diagnostic_return WHERE table_name = %s AND rows = 0 "
                "AND (%s::text[] IS NULL OR commune_key = ANY(%s)) ORDER BY 1",
                (t.name, communes, communes),
            )
        ]
    return out


def template(conn: psycopg.Connection, path: Path, catalogue: Catalogue | None = None) -> None:
    catalogue = catalogue or get_catalogue()
    write(path, catalogue, lookups(conn, catalogue))


def export(
    conn: psycopg.Connection, path: Path, communes: list[str] | None = None, catalogue: Catalogue | None = None
) -> None:
    catalogue = catalogue or get_catalogue()
    write(path, catalogue, lookups(conn, catalogue), stored(conn, catalogue, communes))
