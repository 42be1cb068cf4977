"""The direct path: a clean file of new features goes straight into the layer table by COPY.

The staged path (stage.py, merge.py) copies the file into a staging table, types and checks it in SQL, then
merges it: every file, however broken, gets its report — at the price of a second pass over the data on the
server. Most files a technician imports are clean and new (a first import, an export from another
database, a yearly re-import under a new source name): for those, the same typing and checks are made here
in Python (Arrow, vectorised, in the converting thread) and the rows are COPYed into the layer table as
`ogr2ogr -append` would send them, so the server does only what any importer into this schema must do.

It is an optimisation, never a second set of rules: the first feature that would need the staged path —
a value that does not parse, fit its range or its code list, a duplicate, a source already in the layer, a
refused geometry, a feature outside every commune, OSM tags — stops it (`NotDirect`); the import goes back
to the savepoint taken before it and runs the staged path, which writes the same rows or the report.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
from psycopg import sql

from gis_patrimoine.catalogue import Attribute, Catalogue, Layer, Profile
from gis_patrimoine.importer.plan import FieldPlan, code_lookup, map_code
from gis_patrimoine.importer.stage import BatchConverter, as_text

# the patterns of patrimoine_app.to_int, to_bigint and to_real (sql/app/): a value they refuse is refused here
PATTERNS = {
    "integer": r"^\s*[+-]?\d{1,9}(\.0*)?\s*$",
    "reference": r"^\s*[+-]?\d{1,18}(\.0*)?\s*$",
    "bigint": r"^\s*[+-]?\d{1,18}(\.0*)?\s*$",
    "real": r"^\s*[+-]?(\d+([.,]\d*)?|[.,]\d{1,})([eE][+-]?\d{1,2})?\s*$",  # 3-digit exponents: staged path
}
# ASCII digits and spaces, the end of the text: never more lenient than PostgreSQL's patterns (anything else goes
# to the staged path, which decides)
ISO_DATE = re.compile(r"^\s*(\d{4})[-/](\d{1,2})[-/](\d{1,2})([T ].*)?\Z", re.ASCII)
FRENCH_DATE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*\Z", re.ASCII)
SUPPORTED = {"text", "integer", "bigint", "reference", "real", "date", "code", "boolean", "commune"}


class NotDirect(Exception):
    """The direct path does not apply; the message says why (logged), and the staged path takes over."""


@dataclass
class Column:
    attr: Attribute
    index: int | None  # source field, None: the default alone
    default: object
    codes: dict[str, str] | None = None  # normalised source value → code (code columns)


def why_not(layer: Layer, plan: FieldPlan, profile: Profile, options_mode: str) -> str | None:
    """Why this import cannot take the direct path, from its plan alone (None: it may)."""
    if plan.tags_index is not None or plan.consumed_tags:
        return "the profile reads tags"
    if profile.lenient:
        return "the profile is lenient"
    for cp in plan.columns:
        if len(cp.refs) > 1:
            return f"{cp.attr.name} is read from several fields"
        if cp.refs and cp.attr.type not in SUPPORTED:
            return f"{cp.attr.name} is of type {cp.attr.type}"
    if options_mode not in ("upsert", "append", "replace"):
        return f"mode {options_mode}"
    return None


def columns_of(catalogue: Catalogue, plan: FieldPlan, profile: Profile) -> list[Column]:
    """The columns the import writes, as build_typed chooses them: read from the file, required, or defaulted."""
    out = []
    for cp in plan.columns:
        default = profile.defaults.get(cp.attr.name, cp.attr.default)
        if not (cp.refs or cp.attr.required or cp.attr.link_within_m is not None or default is not None):
            continue
        codes = code_lookup(catalogue, cp.attr, profile) if cp.attr.type == "code" and cp.refs else None
        out.append(Column(cp.attr, cp.refs[0].index if cp.refs else None, default, codes))
    return out


def _trimmed(column: pa.Array) -> pa.Array:
    """nullif(btrim(value), ''): spaces trimmed, empty as null, as the staged path reads a field."""
    text = pc.utf8_trim(column, characters=" ")
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _parse_date(text: str) -> date | None:
    m = ISO_DATE.match(text)
    if m:
        y, mo, d = int(m[1]), int(m[2]), int(m[3])
    elif m := FRENCH_DATE.match(text):
        y, mo, d = int(m[3]), int(m[2]), int(m[1])
    else:
        return None
    try:
        return date(y, mo, d)
    except ValueError:
        return None


class _Fields(dict):
    """The batch's fields as the staged path's text (as_text), each converted when first asked for."""

    def __init__(self, batch: pa.RecordBatch, take: pa.Array) -> None:
        super().__init__()
        self.batch, self.take = batch, take

    def __missing__(self, index: int) -> pa.Array:
        self[index] = value = as_text(pc.take(self.batch.column(1 + index), self.take))
        return value


def _uuids(n: int) -> pa.Array:
    """n random version-4 UUIDs (what gen_random_uuid() gives), as 32 hex digits."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.frombuffer(raw.tobytes().hex().encode(), dtype="S32")
    return pa.array(hexed.astype(str), pa.string())


class DirectConverter:
    """Arrow batch → CSV rows of the layer table, or NotDirect."""

    def __init__(
        self,
        base: BatchConverter,
        layer: Layer,
        plan: FieldPlan,
        columns: list[Column],
        fields: list[str],
        source: str,
        id_label: str,
        empty_layers: set[str],
        communes: Callable[[str], str | None] | None,
        actor: str | None = None,
    ) -> None:
        self.base = base
        self.empty_layers = empty_layers  # tables with no row: a lookup there finds nothing
        self.communes = communes  # a commune field's value → INSEE code (merge.commune_resolver)
        self.layer = layer
        self.plan = plan
        self.columns = columns
        self.fields = fields
        self.source = source
        self.id_label = id_label
        self.key_index = plan.row_source_id_index if plan.row_source_id_index is not None else plan.id_index
        self.kept = [i for i in range(len(fields)) if i not in plan.consumed]
        self.sources: set[str] = set()
        self.inserted = 0
        self.kept_in_extra = 0
        self.unmapped_values = 0
        self.code_names = {cp.attr.name for cp in plan.columns if cp.attr.type in ("code", "codes")}
        self.actor = actor  # patrimoine_app.actor(), read once: as a default it is a SQL function called per row
        audit = ["updated_by"] if actor is not None else []
        names = [c.attr.name for c in columns]
        self.targets = ["commune_insee", "uuid", "source", "source_id", *names, "extra", *audit, "geom"]

    @property
    def counts(self):
        return self.base.counts

    @property
    def nfields(self) -> int:
        return self.base.nfields

    def copy_sql(self) -> sql.Composable:
        return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
            self.layer.qualified, sql.SQL(", ").join(map(sql.Identifier, self.targets))
        )

    def convert(self, batch: pa.RecordBatch) -> bytes:
        p = self.base.prepare(batch)
        if len(p.refused_rows):
            raise NotDirect(f"feature {p.fids[p.refused_rows[0]]}: {p.refused_reason[0]}")
        if len(p.reason) and (bad := np.flatnonzero(p.reason != None)).size:  # noqa: E711
            raise NotDirect(f"feature {p.fids[p.rows[bad[0]]]}: {p.reason[bad[0]]}")
        take = pa.array(p.rows.astype(np.int64))
        field = _Fields(batch, take)
        n = len(p.rows)
        out: dict[str, pa.Array] = {"commune_insee": self._commune(field, p.commune)}
        out["uuid"] = _uuids(n)  # sent, not defaulted: a volatile default would make COPY insert row by row
        out["source"] = self._source(field, n)
        out["source_id"] = self._source_id(field, p.fids[p.rows], p.parts)
        unmapped: dict[str, pa.Array] = {}
        for column in self.columns:
            out[column.attr.name], raw_unmapped = self._value(column, field)
            if raw_unmapped is not None:
                unmapped[column.attr.name] = raw_unmapped
        out["extra"] = self._extra(field, unmapped, n)
        if self.actor is not None:
            out["updated_by"] = pa.array(np.full(n, self.actor, dtype=object), pa.string())
        out["geom"] = pa.array(self.base.ewkb(self._multi(p.geoms)), pa.string())
        self.inserted += n
        sink = pa.BufferOutputStream()
        pacsv.write_csv(pa.table(out), sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
        return sink.getvalue().to_pybytes()

    def _commune(self, field: _Fields, assigned: np.ndarray) -> pa.Array:
        """By geometry (the converter), or from the file's commune field as fill_commune_map reads it."""
        if self.plan.commune_index is None:
            return pa.array(assigned, pa.string())
        raw = pc.utf8_trim(field[self.plan.commune_index], characters=" ")
        if raw.null_count:
            raise NotDirect("a feature has no commune")
        known = {v: self.communes(v) for v in pc.unique(raw).to_pylist()}
        if None in known.values():
            raise NotDirect("a commune of the file is unknown")
        return pa.array([known[v] for v in raw.to_pylist()], pa.string())

    def _source(self, field: _Fields, n: int) -> pa.Array:
        if self.plan.row_source_index is None:
            self.sources.add(self.source)
            return pa.array(np.full(n, self.source, dtype=object), pa.string())
        values = pc.fill_null(_trimmed(field[self.plan.row_source_index]), self.source)
        self.sources.update(pc.unique(values).to_pylist())
        return values

    def _source_id(self, field: _Fields, fids: np.ndarray, parts: np.ndarray) -> pa.Array:
        if self.key_index is None:
            key = pc.cast(pa.array(fids, pa.int64()), pa.string())
        else:
            key = _trimmed(field[self.key_index])
            if key.null_count:
                raise NotDirect(f"no identifier in field {self.id_label}")
        if not parts.any():
            return key
        suffix = pa.array(np.where(parts > 0, np.char.add("#", parts.astype(str)), ""), pa.string())
        return pc.binary_join_element_wise(key, suffix, "")

    def _value(self, column: Column, field: _Fields) -> tuple[pa.Array, pa.Array | None]:
        """The column's values (text for COPY) and, for a code column, the source values kept in extra."""
        attr = column.attr
        if column.index is None:
            raw = pa.nulls(len(field.take), pa.string())
        else:
            raw = _trimmed(field[column.index])
        unmapped = None
        if attr.type == "code" and column.codes is not None:
            mapped = {v: map_code(column.codes, v) for v in pc.unique(raw).to_pylist() if v is not None}
            typed = pa.array([mapped.get(v) if v is not None else None for v in raw.to_pylist()], pa.string())
            lost = pc.and_(pc.is_valid(raw), pc.is_null(typed))
            # always, as build_typed appends {column: the lost value or null} to extra for every code column read
            unmapped = pc.if_else(lost, raw, pa.scalar(None, pa.string()))
        elif attr.type in PATTERNS:
            ok = pc.match_substring_regex(raw, PATTERNS[attr.type])
            if not pc.all(pc.fill_null(ok, True)).as_py():
                raise NotDirect(f"{attr.name}: a value is not {attr.form.words}")
            text = pc.utf8_trim_whitespace(raw)
            if attr.type != "real":  # round(numeric): only zeros may follow the point
                text = pc.replace_substring_regex(pc.replace_substring_regex(text, r"\.0*$", ""), r"^\+", "")
            if attr.type == "real":
                number = pc.cast(pc.replace_substring(text, ",", "."), pa.float64())
            else:
                number = pc.cast(text, pa.int64())
            self._check_range(attr, number)
            typed = pc.cast(number, pa.string())
        elif attr.type == "date":
            parsed = {v: _parse_date(v) for v in pc.unique(raw).to_pylist() if v is not None}
            if any(d is None for d in parsed.values()):
                raise NotDirect(f"{attr.name}: a value is not a date")
            typed = pa.array([parsed[v].isoformat() if v is not None else None for v in raw.to_pylist()], pa.string())
        else:  # text, and values PostgreSQL reads itself (true/false); a refusal stops the COPY
            typed = raw
        if column.default is not None:
            default = json.dumps(column.default) if isinstance(column.default, bool) else str(column.default)
            typed = pc.fill_null(typed, default)
        if attr.link_within_m is not None and typed.null_count and attr.references not in self.empty_layers:
            raise NotDirect(f"{attr.name}: missing values are looked up in {attr.references}")
        if attr.required and typed.null_count:
            raise NotDirect(f"{attr.name}: no value in some features")
        return typed, unmapped

    def _check_range(self, attr: Attribute, number: pa.Array) -> None:
        if attr.min is not None and pc.any(pc.less(number, attr.min)).as_py():
            raise NotDirect(f"{attr.name}: a value is below {attr.min:g}")
        if attr.max is not None and pc.any(pc.greater(number, attr.max)).as_py():
            raise NotDirect(f"{attr.name}: a value is above {attr.max:g}")
        if attr.type == "real" and not pc.all(pc.is_finite(pc.fill_null(number, 0.0))).as_py():
            raise NotDirect(f"{attr.name}: a value is not finite")

    def _extra(self, field: _Fields, unmapped: dict[str, pa.Array], n: int) -> pa.Array:
        """The `extra` object of each row: the file's own `extra`, then the fields no column reads, then, for
        every code column read, the value no code fits (or null: the key goes), nulls stripped — as build_typed
        makes it. The file's own objects are never parsed here (PostgreSQL reads JSON numbers exactly): a row
        whose own object has to be merged with anything goes to the staged path."""
        index = self.plan.extra_index
        lost_any = any(values.null_count < len(values) for values in unmapped.values())
        own = field[index] if index is not None else None
        if own is not None:
            named = [c for c in self.code_names if pc.any(pc.match_substring(own, f'"{c}"')).as_py()]
            if named:  # the staged path's {code column: …} would replace those keys
                raise NotDirect(f"extra: the file's own objects hold {', '.join(named)}")
        if not self.kept and not lost_any:
            if own is None:
                return pa.array(np.full(n, "{}", dtype=object), pa.string())
            objects = pc.match_substring_regex(own, r"^\s*[{]")
            if pc.all(pc.fill_null(objects, False)).as_py() and not pc.any(pc.match_substring(own, "null")).as_py():
                empty = pc.match_substring_regex(own, r"^\s*[{]\s*[}]\s*$")
                self.kept_in_extra += pc.sum(pc.invert(empty)).as_py() or 0
                return own  # JSON objects without nulls: read by PostgreSQL as they are
        rows = []
        own_values = own.to_pylist() if own is not None else None
        kept = {self.fields[i]: field[i].to_pylist() for i in self.kept}
        lost = {name: values.to_pylist() for name, values in unmapped.items()}
        for r in range(n):
            extra: dict = {}
            if own_values is not None and (value := own_values[r]) is not None:
                if value.lstrip().startswith("{"):
                    if not re.fullmatch(r"\s*\{\s*\}\s*", value):
                        raise NotDirect("extra: the file's own objects would be merged with other values")
                else:
                    extra["extra"] = value
            for name, values in kept.items():
                extra[name] = values[r]
            for name, values in lost.items():
                extra[name] = values[r]
            extra = {k: v for k, v in extra.items() if v is not None}
            if extra:
                self.kept_in_extra += 1
                self.unmapped_values += sum(1 for k in extra if k in self.code_names)
            rows.append(json.dumps(extra, ensure_ascii=False))
        return pa.array(rows, pa.string())

    def _multi(self, geoms: np.ndarray) -> np.ndarray:
        """ST_Multi: single geometries of a multi layer wrapped, as the staged path's merge does."""
        if not self.layer.geometry.startswith("Multi") or not len(geoms):
            return geoms
        types = shapely.get_type_id(geoms)
        single = np.isin(types, (0, 1, 3))
        if not single.any():
            return geoms
        out = geoms.copy()
        make = {0: shapely.multipoints, 1: shapely.multilinestrings, 3: shapely.multipolygons}
        for type_id, maker in make.items():
            mask = types == type_id
            if mask.any():
                out[mask] = maker(geoms[mask], indices=np.arange(int(mask.sum())))
        return out
