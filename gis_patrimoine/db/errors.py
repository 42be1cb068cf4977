"""Turn PostgreSQL's refusals into messages that name the layer, the field and the value.

The database holds the rules (typmods, checks, foreign keys), so QGIS, psql, the importer and the API get
the same checks; this module gives the CLI and the API the same words for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import errors as pgerr

from gis_patrimoine.catalogue import Catalogue, get_catalogue

_FK_DETAIL = re.compile(r"Key \((?P<field>[^)]+)\)=\((?P<value>.*)\) is not present in table \"(?P<table>[^\"]+)\"")
_IN_USE_DETAIL = re.compile(
    r"Key \((?P<field>[^)]+)\)=\((?P<value>.*)\) is still referenced from table \"(?P<table>[^\"]+)\""
)
_UNIQUE_DETAIL = re.compile(r"Key \((?P<field>[^)]+)\)=\((?P<value>.*)\) already exists")
_GEOM_TYPE = re.compile(r"Geometry type \((?P<got>\w+)\) does not match column type \((?P<want>\w+)\)")
_GEOM_SRID = re.compile(r"Geometry SRID \((?P<got>\d+)\) does not match column SRID \((?P<want>\d+)\)")


@dataclass
class DataError(Exception):
    """A write the schema refused: which layer and field, which value, and why in plain words."""

    message: str
    layer: str | None = None
    field: str | None = None
    value: str | None = None
    code: str = "invalid"

    def __str__(self) -> str:
        where = " ".join(
            p
            for p in (
                f"layer {self.layer}" if self.layer else "",
                f"field {self.field}" if self.field else "",
            )
            if p
        )
        return f"{where}: {self.message}" if where else self.message


def _constraint_field(table: str | None, constraint: str | None) -> str | None:
    """Our constraint names are `<table>_<field>_<rule>`; recover the field."""
    if not table or not constraint or not constraint.startswith(table + "_"):
        return None
    rest = constraint[len(table) + 1 :]
    for suffix in ("_range", "_valid", "_not_empty", "_known", "_format", "_not_blank", "_fkey"):
        if rest.endswith(suffix):
            return rest[: -len(suffix)]
    return None


def _referenced_layer(catalogue: Catalogue, table: str | None, constraint: str | None) -> str | None:
    """For an FK refusal raised on the referencing table, the layer that is referenced."""
    field = _constraint_field(table, constraint)
    if table not in catalogue.layers or not field:
        return table
    attr = catalogue.layers[table].attribute(field)
    return "commune" if attr.type == "commune" else attr.references or table


def translate(exc: psycopg.Error, catalogue: Catalogue | None = None, notices: list[str] | None = None) -> DataError:
    """A DataError for a refused write; `notices` may carry PostGIS's validity reasons."""
    catalogue = catalogue or get_catalogue()
    diag = exc.diag
    table = diag.table_name
    primary = diag.message_primary or str(exc)
    detail = diag.message_detail or ""

    if isinstance(exc, pgerr.ForeignKeyViolation):
        m = _FK_DETAIL.search(detail)
        if m:
            field, value, target = m["field"], m["value"], m["table"]
            if target == "commune":
                return DataError(
                    f"unknown commune {value!r}: load the commune boundaries first "
                    "(`gis-patrimoine import communes`) or fix the INSEE code",
                    table,
                    field,
                    value,
                    "unknown_commune",
                )
            if target in catalogue.codelists:
                allowed = ", ".join(catalogue.codelists[target].codes)
                return DataError(
                    f"unknown value {value!r} (code list {target}; allowed: {allowed})",
                    table,
                    field,
                    value,
                    "unknown_code",
                )
            return DataError(f"{value!r} refers to a missing {target}", table, field, value, "missing_reference")
        m = _IN_USE_DETAIL.search(detail)
        if m:
            target = _referenced_layer(catalogue, table, diag.constraint_name)
            return DataError(
                f"{target} {m['value']} is still used by features of layer {m['table']}: move or delete them first",
                target,
                m["field"],
                m["value"],
                "in_use",
            )
        return DataError(f"{primary}. {detail}".strip(), table, None, None, "in_use")
    if isinstance(exc, pgerr.UniqueViolation):
        m = _UNIQUE_DETAIL.search(detail)
        field, value = (m["field"], m["value"]) if m else (None, None)
        return DataError(f"a feature with {field} = {value} already exists", table, field, value, "duplicate")
    if isinstance(exc, pgerr.NotNullViolation):
        return DataError("a value is required", table, diag.column_name, None, "required")
    if isinstance(exc, pgerr.CheckViolation):
        field = _constraint_field(table, diag.constraint_name)
        name = diag.constraint_name or ""
        if name.endswith("_geom_valid"):
            reasons = [n for n in (notices or []) if n]
            reason = f" ({reasons[-1]})" if reasons else ""
            return DataError(
                f"invalid geometry{reason}: repair it (e.g. ST_MakeValid, or QGIS's 'Fix geometries') and try again",
                table,
                "geom",
                None,
                "invalid_geometry",
            )
        if name.endswith("_geom_not_empty"):
            return DataError("empty geometry", table, "geom", None, "empty_geometry")
        if name.endswith("_range") and table in catalogue.layers and field:
            attr = catalogue.layers[table].attribute(field)
            return DataError(
                f"value out of range [{attr.min:g}, {attr.max:g}]"
                if attr.min is not None and attr.max is not None
                else f"value above {attr.max:g}"
                if attr.max is not None
                else f"value below {attr.min:g}",
                table,
                field,
                None,
                "out_of_range",
            )
        if name.endswith("_known"):
            return DataError("unknown code in list", table, field, None, "unknown_code")
        return DataError(f"rule {name} refused the value", table, field, None, "check")
    m = _GEOM_TYPE.search(primary)
    if m:
        return DataError(
            f"wrong geometry type {m['got']}: this layer holds {m['want']}",
            table,
            "geom",
            m["got"],
            "wrong_geometry_type",
        )
    m = _GEOM_SRID.search(primary)
    if m:
        return DataError(
            f"geometry in SRID {m['got']}, the layer stores SRID {m['want']}: reproject it",
            table,
            "geom",
            m["got"],
            "wrong_srid",
        )
    if isinstance(
        exc,
        pgerr.InvalidTextRepresentation
        | pgerr.NumericValueOutOfRange
        | pgerr.DatetimeFieldOverflow
        | pgerr.InvalidDatetimeFormat,
    ):
        return DataError(primary, table, diag.column_name, None, "bad_value")
    return DataError(primary, table, diag.column_name, None, "database")
