"""Set-based SQL from the staging table to the layer: typing, code lists, keys, refusals, then the merge.

Everything here is composed with psycopg.sql from catalogue names and numbered staging columns; user input
only ever arrives as parameters or as rows of temporary tables.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from gis_patrimoine.catalogue import Catalogue, Profile
from gis_patrimoine.importer.names import normalise_place
from gis_patrimoine.importer.plan import ColumnPlan, FieldPlan, Ref, code_lookup, map_code


def _raw(ref: Ref) -> sql.Composable:
    if ref.index is not None:
        return sql.SQL("nullif(btrim(s.{}), '')").format(sql.Identifier(f"f{ref.index}"))
    return sql.SQL("nullif(btrim(s.tags ->> {}), '')").format(sql.Literal(ref.tag))


def _first(refs: list[Ref]) -> sql.Composable:
    exprs = [_raw(r) for r in refs]
    return exprs[0] if len(exprs) == 1 else sql.SQL("coalesce({})").format(sql.SQL(", ").join(exprs))


def fill_code_maps(conn: psycopg.Connection, catalogue: Catalogue, plan: FieldPlan, profile: Profile) -> None:
    """Map every distinct source value of the code columns to a code (in Python: few distinct values)."""
    conn.execute(
        "CREATE TEMP TABLE import_codemap (col text, raw text, code text, codes text[], "
        "PRIMARY KEY (col, raw)) ON COMMIT DROP"
    )
    rows = []
    for cp in plan.columns:
        if cp.attr.type not in ("code", "codes") or not cp.refs:
            continue
        table = code_lookup(catalogue, cp.attr, profile)
        values = set()
        for ref in cp.refs:
            values |= {
                r[0]
                for r in conn.execute(
                    sql.SQL(
                        "SELECT DISTINCT {raw} FROM (SELECT *, {tags} AS tags FROM import_stage) s "
                        "WHERE {raw} IS NOT NULL"
                    ).format(raw=_raw(ref), tags=_tags_expr(plan))
                )
            }
        for raw in values:
            if cp.attr.type == "code":
                rows.append((cp.attr.name, raw, map_code(table, raw), None))
            else:
                items = [v for v in _split_list(raw)]
                codes = [map_code(table, v) for v in items]
                rows.append((cp.attr.name, raw, None, codes if all(codes) and codes else None))
    if rows:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO import_codemap VALUES (%s, %s, %s, %s)", rows)


def _split_list(raw: str) -> list[str]:
    return [v for v in re.split(r"\s*[;,|]\s*", raw.strip("{}[] ")) if v]


def commune_resolver(conn: psycopg.Connection) -> Callable[[str], str | None]:
    """A source commune value (INSEE code, or name with articles and accents ignored) → its INSEE code; both
    import paths read commune fields through it."""
    communes = conn.execute("SELECT insee, name FROM patrimoine.commune").fetchall()
    by_code = {c[0]: c[0] for c in communes}
    by_name = {normalise_place(c[1]): c[0] for c in communes}
    return lambda raw: by_code.get(raw) or by_name.get(normalise_place(raw))


def fill_commune_map(conn: psycopg.Connection, plan: FieldPlan) -> list[str]:
    """Source commune values → INSEE codes, for the staged path's typing query."""
    conn.execute("CREATE TEMP TABLE import_communemap (raw text PRIMARY KEY, insee text) ON COMMIT DROP")
    if plan.commune_index is None:
        return []
    resolve = commune_resolver(conn)
    field = sql.Identifier(f"f{plan.commune_index}")
    raws = [
        r[0]
        for r in conn.execute(
            sql.SQL("SELECT DISTINCT btrim({f}) FROM import_stage WHERE {f} IS NOT NULL").format(f=field)
        )
    ]
    rows = [(raw, resolve(raw)) for raw in raws]
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO import_communemap VALUES (%s, %s)", rows)
    return sorted(raw for raw, insee in rows if insee is None)


def _tags_expr(plan: FieldPlan) -> sql.Composable:
    if plan.tags_index is None:
        return sql.SQL("NULL::jsonb")
    return sql.SQL("patrimoine_app.hstore_to_jsonb(import_stage.{})").format(sql.Identifier(f"f{plan.tags_index}"))


def _ident(prefix: str, name: str) -> sql.Identifier:
    return sql.Identifier(f"{prefix}_{name}")


@dataclass
class ColumnSql:
    """The SQL of one column at each level of the typing query (raw text, parsed, final, reason, extra)."""

    name: str
    raw: sql.Composable
    typed: sql.Composable
    final: sql.Composable
    reason: sql.Composable | None
    extra: sql.Composable | None
    typed_at_raw: bool = False  # code lookups read the source fields, so they sit at the first level


def _column_sql(cp: ColumnPlan, default: object, lenient: bool) -> ColumnSql:
    attr, name = cp.attr, cp.attr.name
    r, t, v = _ident("r", name), _ident("t", name), _ident("v", name)
    label = sql.Literal(" / ".join(ref.label for ref in cp.refs) or "(none)")
    col = sql.Literal(name)
    raw = _first(cp.refs) if cp.refs else sql.SQL("NULL::text")
    reason: sql.Composable | None = None
    extra: sql.Composable | None = None
    if attr.form.parser is not None:
        typed = sql.SQL("patrimoine_app.{}({})").format(sql.Identifier(attr.form.parser), r)
        bad = sql.SQL("{r} IS NOT NULL AND {t} IS NULL").format(r=r, t=t)
        if lenient:
            extra = sql.SQL("CASE WHEN {bad} THEN {r} END").format(bad=bad, r=r)
        else:
            reason = sql.SQL(
                "CASE WHEN {bad} THEN format('%s: %L (field %s) is not {what}', {col}, {r}, {label}) END"
            ).format(bad=bad, what=sql.SQL(attr.form.words), col=col, r=r, label=label)
        if attr.min is not None or attr.max is not None:
            lo = attr.min if attr.min is not None else -1e308
            hi = attr.max if attr.max is not None else 1e308
            rng = sql.SQL(
                "CASE WHEN {t} NOT BETWEEN {lo} AND {hi} THEN format('%s: %s is out of range "
                "[{lo_s}, {hi_s}]', {col}, {t}) END"
            ).format(
                t=t, lo=sql.Literal(lo), hi=sql.Literal(hi), lo_s=sql.SQL(f"{lo:g}"), hi_s=sql.SQL(f"{hi:g}"), col=col
            )
            reason = rng if reason is None else sql.SQL("coalesce({}, {})").format(reason, rng)
    elif attr.type == "code" and cp.refs:
        lookups = [
            sql.SQL("(SELECT code FROM import_codemap m WHERE m.col = {c} AND m.raw = {r})").format(c=col, r=_raw(ref))
            for ref in cp.refs
        ]
        # the lookups read the source fields again, so the typed value is computed at the raw level
        typed = lookups[0] if len(lookups) == 1 else sql.SQL("coalesce({})").format(sql.SQL(", ").join(lookups))
        extra = sql.SQL("CASE WHEN {t} IS NULL THEN {r} END").format(r=r, t=t)
    elif attr.type == "codes" and cp.refs:
        typed = sql.SQL("(SELECT codes FROM import_codemap m WHERE m.col = {c} AND m.raw = {r})").format(c=col, r=r)
        extra = sql.SQL("CASE WHEN {t} IS NULL THEN {r} END").format(r=r, t=t)
    elif attr.type == "codes":
        typed = sql.SQL("NULL::text[]")
    else:
        typed = r if cp.refs else sql.SQL("NULL::text")
    final: sql.Composable = t
    if default is not None:
        final = sql.SQL("coalesce({t}, {d})").format(t=t, d=sql.Literal([default] if attr.type == "codes" else default))
    if attr.link_within_m is not None and attr.references:
        nearest = sql.SQL(
            "(SELECT x.id FROM {layer} x WHERE ST_DWithin(x.geom, b.geom, {d}) ORDER BY x.geom <-> b.geom LIMIT 1)"
        ).format(layer=sql.Identifier("patrimoine", attr.references), d=sql.Literal(attr.link_within_m))
        final = sql.SQL("coalesce({}, {})").format(final, nearest)
    if attr.required:
        missing = sql.SQL(
            "CASE WHEN {v} IS NULL THEN CASE WHEN {r} IS NULL THEN format('%s: no value (field %s)', "
            "{col}, {label}) ELSE format('%s: %L (field %s) fits no code of the list', {col}, {r}, "
            "{label}) END END"
        ).format(v=v, r=r, col=col, label=label)
        reason = missing if reason is None else sql.SQL("coalesce({}, {})").format(reason, missing)
    return ColumnSql(name, raw, typed, final, reason, extra, typed_at_raw=attr.type == "code" and bool(cp.refs))


def build_typed(
    conn: psycopg.Connection, plan: FieldPlan, profile: Profile, fields: list[str], source: str, id_label: str
) -> list[str]:
    """CREATE import_typed: one row per staged piece with typed columns, natural key, extra and reasons.

    Four levels: source text (r_*), parsed (t_*), with defaults (v_*), then reasons and extra. Returns the
    columns the source provides: an update changes only those, never what QGIS users set by hand.
    """
    columns = [
        _column_sql(cp, profile.defaults.get(cp.attr.name, cp.attr.default), profile.lenient)
        for cp in plan.columns
        if cp.refs
        or cp.attr.required
        or cp.attr.link_within_m is not None
        or profile.defaults.get(cp.attr.name, cp.attr.default) is not None
    ]
    source_expr = sql.Literal(source)
    if plan.row_source_index is not None:
        source_expr = sql.SQL("coalesce(nullif(btrim(s.{}), ''), {})").format(
            sql.Identifier(f"f{plan.row_source_index}"), sql.Literal(source)
        )
    reasons: list[sql.Composable] = [sql.SQL("c.reason")]
    id_index = plan.row_source_id_index if plan.row_source_id_index is not None else plan.id_index
    if id_index is not None:
        key = sql.SQL("nullif(btrim(s.{}), '')").format(sql.Identifier(f"f{id_index}"))
        reasons.append(
            sql.SQL("CASE WHEN c.key IS NULL THEN {} END").format(sql.Literal(f"no identifier in field {id_label}"))
        )
    else:
        key = sql.SQL("s.fid::text")
    commune = sql.SQL("s.commune")
    if plan.commune_index is not None:
        cf = sql.Identifier(f"f{plan.commune_index}")
        commune = sql.SQL("(SELECT insee FROM import_communemap m WHERE m.raw = btrim(s.{}))").format(cf)
        name = fields[plan.commune_index]  # the file's field name: a literal, whatever quotes or % it holds
        reasons.append(
            sql.SQL(
                "CASE WHEN c.commune_insee IS NULL THEN CASE WHEN c.{cf} IS NULL THEN {empty} "
                "ELSE format({unknown}, c.{cf}) END END"
            ).format(
                cf=cf,
                empty=sql.Literal(f"no commune (field {name} is empty)"),
                unknown=sql.Literal(f"unknown commune %L (field {name.replace('%', '%%')})"),
            )
        )
    reasons += [c.reason for c in columns if c.reason is not None]
    extra_parts: list[sql.Composable] = []
    if plan.extra_index is not None:
        ef = sql.Identifier(f"f{plan.extra_index}")
        extra_parts.append(
            sql.SQL(
                r"CASE WHEN c.{f} ~ '^\s*[{{]' THEN c.{f}::jsonb ELSE "
                "jsonb_build_object('extra', c.{f}) END"
            ).format(f=ef)
        )
    kept = [
        sql.SQL("{}, c.{}").format(sql.Literal(fields[i]), sql.Identifier(f"f{i}"))
        for i in range(len(fields))
        if i not in plan.consumed
    ]
    for start in range(0, len(kept), 50):  # PostgreSQL functions take at most 100 arguments
        extra_parts.append(sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(kept[start : start + 50])))
    if plan.tags_index is not None:
        extra_parts.append(sql.SQL("(c.tags - {}::text[])").format(sql.Literal(sorted(plan.consumed_tags))))
    unmapped = [sql.SQL("{}, {}").format(sql.Literal(c.name), c.extra) for c in columns if c.extra]
    if unmapped:
        extra_parts.append(sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(unmapped)))
    extra = sql.SQL(" || ").join(extra_parts) if extra_parts else sql.SQL("'{}'::jsonb")
    level = "SELECT {prev}.*{cols} FROM ({inner} OFFSET 0) {prev}"  # OFFSET 0: each level computed once

    def lvl(inner: sql.Composable, prev: str, cols: list[sql.Composable]) -> sql.Composable:
        return sql.SQL(level).format(
            prev=sql.Identifier(prev), inner=inner, cols=sql.SQL("").join(sql.SQL(", {}").format(x) for x in cols)
        )

    base = sql.SQL("SELECT import_stage.*, {} AS tags FROM import_stage").format(_tags_expr(plan))
    level_r = lvl(
        base,
        "s",
        [
            sql.SQL("{} AS commune_insee").format(commune),
            sql.SQL("{} AS source").format(source_expr),
            sql.SQL("{} AS key").format(key),
            *[sql.SQL("{} AS {}").format(c.raw, _ident("r", c.name)) for c in columns],
            *[sql.SQL("{} AS {}").format(c.typed, _ident("t", c.name)) for c in columns if c.typed_at_raw],
        ],
    )
    level_t = lvl(
        level_r, "a", [sql.SQL("{} AS {}").format(c.typed, _ident("t", c.name)) for c in columns if not c.typed_at_raw]
    )
    level_v = lvl(level_t, "b", [sql.SQL("{} AS {}").format(c.final, _ident("v", c.name)) for c in columns])
    query = sql.SQL("""CREATE TEMP TABLE import_typed ON COMMIT DROP AS
        SELECT c.fid, c.part, c.repaired, c.geom, c.commune_insee, c.source,
               c.key || CASE WHEN c.part > 0 THEN '#' || c.part ELSE '' END AS source_id,
               {values} jsonb_strip_nulls({extra}) AS extra,
               array_remove(ARRAY[{reasons}]::text[], NULL) AS reasons
        FROM ({inner}) c""").format(
        values=sql.SQL("").join(
            sql.SQL("{} AS {}, ").format(_ident("v", c.name), sql.Identifier(c.name)) for c in columns
        ),
        extra=extra,
        reasons=sql.SQL(", ").join(reasons),
        inner=level_v,
    )
    conn.execute(query)
    return [c.name for c in columns]
