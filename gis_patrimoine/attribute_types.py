"""What each attribute type of the catalogue is, in every form it takes: one table, read by all.

A catalogue attribute says `type: integer`; the schema check, the DDL of a generated migration, the
queryables' JSON Schema, the API's edit checks, the importer's parser, the export's column type and the
QGIS form all follow from the row below. A new type is added here, and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Form:
    """The forms of one attribute type."""

    sql: str  # as information_schema.columns.data_type reports it (the schema check)
    ddl: str  # as a column is declared
    json: dict = field(default_factory=dict)  # JSON Schema of one value (queryables); empty: not queryable
    python: tuple[type, ...] = ()  # what a JSON edit may send; () = anything the database accepts
    words: str = "a value"  # in messages: "… is not an integer"
    parser: str | None = None  # patrimoine_app function that reads imported text; None: taken as text
    arrow: str | None = None  # pyarrow type of an exported column; None: exported as text
    read_only: bool = False  # filled by the database (identity, uuid, audit time): never typed in QGIS


FORMS: dict[str, Form] = {
    "identity": Form(
        "bigint",
        "bigint GENERATED ALWAYS AS IDENTITY",
        {"type": "integer"},
        (int,),
        "an identifier",
        read_only=True,
    ),
    "uuid": Form("uuid", "uuid", {"type": "string", "format": "uuid"}, (str,), "a UUID", read_only=True),
    "text": Form("text", "text", {"type": "string"}, (str,), "a text"),
    "integer": Form("integer", "integer", {"type": "integer"}, (int,), "an integer", "to_int", "int32"),
    "bigint": Form("bigint", "bigint", {"type": "integer"}, (int,), "an integer", "to_bigint", "int64"),
    "real": Form(
        "double precision", "double precision", {"type": "number"}, (int, float), "a number", "to_real", "float64"
    ),
    "boolean": Form("boolean", "boolean", {"type": "boolean"}, (bool,), "true or false", arrow="bool_"),
    "date": Form("date", "date", {"type": "string", "format": "date"}, (str,), "a date", "to_date", "date32"),
    "timestamp": Form(
        "timestamp with time zone",
        "timestamptz",
        {"type": "string", "format": "date-time"},
        (str,),
        "a time",
        arrow="timestamp",
        read_only=True,
    ),
    "jsonb": Form("jsonb", "jsonb", {}, (dict,), "a JSON object"),
    "code": Form("text", "text", {"type": "string"}, (str,), "a code"),
    "codes": Form("ARRAY", "text[]", {"type": "array", "items": {"type": "string"}}, (list,), "a list of codes"),
    "commune": Form("text", "text", {"type": "string"}, (str,), "an INSEE code"),
    "reference": Form("bigint", "bigint", {"type": "integer"}, (int,), "an identifier", "to_bigint", "int64"),
    "texts": Form("ARRAY", "text[]", {"type": "array", "items": {"type": "string"}}, (list,), "a list of texts"),
    "bigints": Form(
        "ARRAY", "bigint[]", {"type": "array", "items": {"type": "integer"}}, (list,), "a list of integers"
    ),
}


def form(type_name: str) -> Form:
    return FORMS[type_name]
