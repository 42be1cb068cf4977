"""CQL2 (text and JSON) filters to SQL, through pygeofilter's parser and our own translation.

Only properties of the collection (its queryables) may appear. A filter becomes SQL with named placeholders
plus their values: the values travel as bound parameters, never as text in the statement, so a filter can
never carry SQL, and two filters of the same shape share one statement (prepared once per connection).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime

from psycopg import sql
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parse as parse_text

from gis_patrimoine.collection.errors import QueryError

COMPARISON = {
    ast.Equal: "=",
    ast.NotEqual: "<>",
    ast.LessThan: "<",
    ast.LessEqual: "<=",
    ast.GreaterThan: ">",
    ast.GreaterEqual: ">=",
}
SPATIAL = {
    "INTERSECTS": "ST_Intersects",
    "DISJOINT": "ST_Disjoint",
    "CONTAINS": "ST_Contains",
    "WITHIN": "ST_Within",
    "TOUCHES": "ST_Touches",
    "CROSSES": "ST_Crosses",
    "OVERLAPS": "ST_Overlaps",
    "EQUALS": "ST_Equals",
}


class FilterError(QueryError):
    """A filter that cannot be read or names what the collection does not have (answered 400)."""


@dataclass(frozen=True)
class Filter:
    """A translated filter: SQL with placeholders `%(f0)s`…, their values, and its text (for cache keys)."""

    sql: sql.Composable
    params: dict[str, object] = field(default_factory=dict)
    text: str = ""


def parse(text: str, lang: str | None) -> ast.Node:
    try:
        if lang == "cql2-json" or (lang is None and text.lstrip().startswith("{")):
            return parse_json(json.loads(text))
        return parse_text(text)
    except Exception as exc:  # pygeofilter raises several kinds of parse errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FilterError(f"filter: cannot parse {text!r} as {lang or 'cql2-text'}: {first}") from exc


class Translator:
    """AST → psycopg.sql. `columns` maps queryable names to SQL column names; geometries arrive in `filter_srid`."""

    def __init__(self, columns: dict[str, str], storage_srid: int, filter_srid: int = 4326):
        self.columns = columns
        self.storage_srid = storage_srid
        self.filter_srid = filter_srid
        self.params: dict[str, object] = {}

    def bind(self, value: object) -> sql.Placeholder:
        """A value as a named placeholder; the value goes to `params`."""
        name = f"f{len(self.params)}"
        self.params[name] = value
        return sql.Placeholder(name)

    def __call__(self, node: object) -> sql.Composable:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise FilterError(f"filter: {type(node).__name__} is not supported")
        return method(node)

    def _attr(self, node: ast.Attribute) -> sql.Composable:
        if node.name not in self.columns:
            raise FilterError(f"filter: unknown property {node.name!r}; queryables: {', '.join(sorted(self.columns))}")
        return sql.Identifier(self.columns[node.name])

    def _value(self, value: object) -> sql.Composable:
        if isinstance(value, ast.Attribute):
            return self._attr(value)
        if isinstance(value, values.Geometry):
            return sql.SQL("ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON({}::text), {}), {})").format(
                self.bind(json.dumps(value.geometry)), sql.Literal(self.filter_srid), sql.Literal(self.storage_srid)
            )
        if isinstance(value, values.Envelope):
            return sql.SQL("ST_Transform(ST_MakeEnvelope({}, {}, {}, {}, {}), {})").format(
                *(self.bind(float(v)) for v in (value.x1, value.y1, value.x2, value.y2)),
                sql.Literal(self.filter_srid),
                sql.Literal(self.storage_srid),
            )
        if isinstance(value, ast.Node):
            return self(value)
        if value is None:
            return sql.SQL("NULL")
        if isinstance(value, bool | int | float | str | date | datetime):
            return self.bind(value)
        raise FilterError(f"filter: unsupported value {value!r}")

    def _Attribute(self, node: ast.Attribute) -> sql.Composable:
        return self._attr(node)

    def _And(self, node: ast.And) -> sql.Composable:
        return sql.SQL("({} AND {})").format(self(node.lhs), self(node.rhs))

    def _Or(self, node: ast.Or) -> sql.Composable:
        return sql.SQL("({} OR {})").format(self(node.lhs), self(node.rhs))

    def _Not(self, node: ast.Not) -> sql.Composable:
        return sql.SQL("(NOT {})").format(self(node.sub_node))

    def _comparison(self, node: ast.BinaryComparisonPredicate) -> sql.Composable:
        return sql.SQL("({} {} {})").format(
            self._value(node.lhs), sql.SQL(COMPARISON[type(node)]), self._value(node.rhs)
        )

    _Equal = _NotEqual = _LessThan = _LessEqual = _GreaterThan = _GreaterEqual = _comparison

    def _Like(self, node: ast.Like) -> sql.Composable:
        pattern = (
            node.pattern.replace(node.wildcard, "%").replace(node.singlechar, "_")
            if node.wildcard != "%"
            else node.pattern
        )
        op = "ILIKE" if node.nocase else "LIKE"
        return sql.SQL("({} {} {} {})").format(
            self._value(node.lhs), sql.SQL("NOT" if node.not_ else ""), sql.SQL(op), self.bind(pattern)
        )

    def _In(self, node: ast.In) -> sql.Composable:
        items = sql.SQL(", ").join(self._value(v) for v in node.sub_nodes)
        return sql.SQL("({} {} IN ({}))").format(self._value(node.lhs), sql.SQL("NOT" if node.not_ else ""), items)

    def _Between(self, node: ast.Between) -> sql.Composable:
        return sql.SQL("({} {} BETWEEN {} AND {})").format(
            self._value(node.lhs), sql.SQL("NOT" if node.not_ else ""), self._value(node.low), self._value(node.high)
        )

    def _IsNull(self, node: ast.IsNull) -> sql.Composable:
        return sql.SQL("({} IS {} NULL)").format(self._value(node.lhs), sql.SQL("NOT" if node.not_ else ""))

    def _spatial(self, node: ast.SpatialComparisonPredicate) -> sql.Composable:
        function = SPATIAL.get(node.op.name)
        if function is None:
            raise FilterError(f"filter: spatial operator {node.op.name} is not supported")
        return sql.SQL("{}({}, {})").format(sql.SQL(function), self._geometry(node.lhs), self._geometry(node.rhs))

    _GeometryIntersects = _GeometryDisjoint = _GeometryContains = _GeometryWithin = _spatial
    _GeometryTouches = _GeometryCrosses = _GeometryOverlaps = _GeometryEquals = _spatial

    def _Function(self, node: ast.Function) -> sql.Composable:
        if node.name.lower() == "bbox" and len(node.arguments) in (4, 6):
            args = [float(a) for a in node.arguments]
            x1, y1, x2, y2 = (
                (args[0], args[1], args[2], args[3]) if len(args) == 4 else (args[0], args[1], args[3], args[4])
            )
            return self._value(values.Envelope(x1, x2, y1, y2))
        raise FilterError(f"filter: function {node.name!r} is not supported")

    def _geometry(self, value: object) -> sql.Composable:

        if isinstance(value, ast.Attribute):
            if value.name not in ("geometry", "geom"):
                raise FilterError(f"filter: {value.name!r} is not the geometry")
            return sql.Identifier("geom")
        return self._value(value)


def translate(
    text: str | None, lang: str | None, columns: dict[str, str], storage_srid: int, filter_srid: int = 4326
) -> Filter | None:
    """The filter as SQL with placeholders and their values; None without a filter."""
    if not text:
        return None
    if lang not in (None, "cql2-text", "cql2-json"):
        raise FilterError(f"filter-lang: {lang!r} is not supported; use cql2-text or cql2-json")
    translator = Translator(columns, storage_srid, filter_srid)
    where = translator(parse(text, lang))
    return Filter(where, translator.params, f"{lang}:{text}:{filter_srid}")
