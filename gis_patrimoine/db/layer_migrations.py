"""Migrations generated from the layer catalogue: a layer added as one file in `layers/` gets its table.

`plan()` compares each asset layer of the catalogue with the database and writes the SQL that brings the
database to it: a missing table is created with its checks, keys, indexes, data version, history triggers and
rights, exactly as the hand-written layers were (the tests compare the two); a missing attribute is added as a
column. What cannot be done without losing data or guessing is refused with what to do instead: a column the
catalogue no longer lists, a type or geometry changed, required made optional or the reverse, a code column
moved to another list, a required attribute without a default added to a layer that holds rows. Defaults and
ranges of existing columns are not compared: a numbered migration changes them.

The SQL is applied by `migrations.migrate` through yoyo as `catalogue_NNNN`, one migration per `db init` that
has something to do, and its text is kept in `patrimoine_sys.generated_migration`.

Two things to know when writing a numbered migration under `sql/` later: the generated ones run after the
numbered ones on a new database but before a later numbered one on an upgraded database, so a numbered
migration must not assume a generated table or value list exists (or does not); and a value list created
here has no `default_<key>` columns, so `defaults:` on its codes need a numbered migration adding them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from gis_patrimoine.catalogue import Attribute, Catalogue, Layer


class CatalogueChangeRefused(RuntimeError):
    """The catalogue asks for a change a generated migration will not make; the message says what to do."""


@dataclass
class LayerPlan:
    """What one `db init` would generate: the SQL, the layers it touches, one line per change."""

    statement: str = ""
    layers: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    later: str = ""  # columns added to existing tables: after the new tables, which they may reference
    codelists: set[str] = field(default_factory=set)  # lists new columns use: filled before the DDL

    def __bool__(self) -> bool:
        return bool(self.changes)


def _literal(value: object) -> str:
    """A SQL literal: booleans and numbers as written (floats to the last digit), anything else quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise CatalogueChangeRefused(f"{value!r} cannot be written in a migration")
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def _default(attr: Attribute) -> str:
    """The column default, typed as the column (a list column's default is the one-element list, as imports
    read it)."""
    if attr.form.ddl.endswith("[]"):
        return f"ARRAY[{_literal(attr.default)}]::{attr.form.ddl}"
    if isinstance(attr.default, str) and attr.form.ddl not in ("text",):
        return f"{_literal(attr.default)}::{attr.form.ddl}"
    return _literal(attr.default)


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else _literal(float(value))


def _range(table: str, attr: Attribute) -> str:
    """The range check, named `<table>_<column>_range` as db/errors.py reads it back."""
    if attr.min is None and attr.max is None:
        return ""
    if attr.min is not None and attr.max is not None:
        rule = f"{attr.name} BETWEEN {_bound(attr.min)} AND {_bound(attr.max)}"
    elif attr.min is not None:
        rule = f"{attr.name} >= {_bound(attr.min)}"
    else:
        rule = f"{attr.name} <= {_bound(attr.max)}"  # type: ignore[arg-type]
    return f" CONSTRAINT {table}_{attr.name}_range CHECK ({rule})"


def column_sql(layer: Layer, attr: Attribute) -> str:
    """One column as the hand-written layers declare it (sql/0001_foundation.sql is the model)."""
    table, name = layer.table, attr.name
    if attr.generated:
        raise CatalogueChangeRefused(
            f"layers/{layer.name}.yaml: attribute {name} is generated (computed from other columns); a generated "
            "column's expression is not in the catalogue: add it with a migration of your own under sql/"
        )
    if attr.type == "identity":
        return f"{name} bigint GENERATED ALWAYS AS IDENTITY" + (" PRIMARY KEY" if name == layer.key else "")
    if attr.type == "uuid":
        return f"{name} uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE"
    if attr.type == "timestamp" and attr.system:
        return f"{name} timestamptz NOT NULL DEFAULT now()"
    if attr.type == "text" and attr.system:  # the audit column: who wrote the row
        return f"{name} text NOT NULL DEFAULT patrimoine_app.actor()"
    if attr.type == "jsonb":
        return f"{name} jsonb NOT NULL DEFAULT '{{}}'"
    parts = [f"{name} {attr.form.ddl}"]
    if attr.required:
        parts.append("NOT NULL")
    if attr.default is not None:
        parts.append(f"DEFAULT {_default(attr)}")
    if attr.type == "code":
        parts.append(f"REFERENCES patrimoine_vl.{attr.codelist} (code)")
    elif attr.type == "codes":
        parts.append(f"CONSTRAINT {table}_{name}_known CHECK (patrimoine_app.codes_exist('{attr.codelist}', {name}))")
    elif attr.type == "commune":
        parts.append("REFERENCES patrimoine.commune (insee) ON UPDATE CASCADE")
    elif attr.type == "reference":
        parts.append(f"REFERENCES patrimoine.{attr.references} (id) ON DELETE SET NULL")
    return " ".join(parts) + _range(table, attr)


def _index(table: str, attr: Attribute) -> str:
    """A reference's index, named as sql/0001 named street_light_road_idx."""
    return f"{table}_{attr.name.removesuffix('_id')}_idx"


def create_table_sql(layer: Layer, srid: int) -> str:
    """The table of a new asset layer and everything the hand-written ones have around it."""
    t = layer.table
    columns = [column_sql(layer, a) for a in layer.attributes]
    columns += [
        f"geom geometry({layer.geometry}, {srid}) NOT NULL",
        f"CONSTRAINT {t}_source_key UNIQUE (source, source_id)",
        f"CONSTRAINT {t}_geom_valid CHECK (ST_IsValid(geom))",
        f"CONSTRAINT {t}_geom_not_empty CHECK (NOT ST_IsEmpty(geom))",
    ]
    body = ",\n    ".join(columns)
    lines = [
        f"CREATE TABLE patrimoine.{t} (\n    {body}\n);",
        f"COMMENT ON TABLE patrimoine.{t} IS {_literal(layer.title.en + ': ' + layer.description)};",
        f"CREATE INDEX {t}_geom_idx ON patrimoine.{t} USING gist (geom);",
        f"CREATE INDEX {t}_commune_idx ON patrimoine.{t} (commune_insee);",
        *(
            f"CREATE INDEX {_index(t, a)} ON patrimoine.{t} ({a.name});"
            for a in layer.attributes
            if a.type == "reference"
        ),
        # names are the catalogue's identifiers (^[a-z][a-z0-9_]*$, checked when it loads): no quoting needed
        f"INSERT INTO patrimoine_sys.data_version (layer) VALUES ('{t}') ON CONFLICT DO NOTHING;",  # noqa: S608
        f"SELECT patrimoine_app.attach_history('{t}', '{layer.key}');",
        f"SELECT patrimoine_app.attach_rights('{t}');",
        f"GRANT SELECT ON patrimoine.{t} TO gp_reader;",
    ]
    return "\n".join(lines)


def _columns(conn: psycopg.Connection, layer: Layer) -> dict[str, tuple[str, bool, str]]:
    """name: (data type, nullable, udt name: `_text` and `_int8` tell the array types apart)."""
    rows = conn.execute(
        "SELECT column_name, data_type, is_nullable = 'YES', udt_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s",
        (layer.schema, layer.table),
    ).fetchall()
    return {name: (data_type, nullable, udt) for name, data_type, nullable, udt in rows}


def _foreign_keys(conn: psycopg.Connection, layer: Layer) -> dict[str, str]:
    """column: the table its foreign key points to (schema.table)."""
    rows = conn.execute(
        "SELECT a.attname, n.nspname || '.' || t.relname FROM pg_constraint k "
        "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
        "JOIN pg_class t ON t.oid = k.confrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE k.contype = 'f' AND k.conrelid = %s::regclass",
        (f"{layer.schema}.{layer.table}",),
    ).fetchall()
    return dict(rows)


def _target(attr: Attribute) -> str | None:
    """The table an attribute's foreign key points to, as the hand-written layers have it."""
    if attr.type == "code":
        return f"patrimoine_vl.{attr.codelist}"
    if attr.type == "commune":
        return "patrimoine.commune"
    if attr.type == "reference":
        return f"patrimoine.{attr.references}"
    return None


def _not_null(layer: Layer, attr: Attribute) -> bool:
    return attr.required or attr.system or attr.type == "jsonb" or attr.name == layer.key


def _geometry(conn: psycopg.Connection, layer: Layer) -> str | None:
    row = conn.execute(
        "SELECT type FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s AND f_geometry_column = "
        "'geom'",
        (layer.schema, layer.table),
    ).fetchone()
    return row[0] if row else None


def _existing_layer(conn: psycopg.Connection, layer: Layer, plan: LayerPlan, problems: list[str]) -> None:
    """A layer whose table exists: new attributes are added; a removed column, a type, geometry, nullability or
    foreign-key target that differs is refused (defaults and ranges are not compared)."""
    where = f"layers/{layer.name}.yaml"
    columns = _columns(conn, layer)
    wanted = {a.name for a in layer.attributes} | {"geom"}
    for name in sorted(set(columns) - wanted):
        problems.append(
            f"{where}: column {name} of {layer.schema}.{layer.table} is not in the catalogue any more. A generated "
            f"migration does not drop a column (its values and their history would go). Put the attribute back, "
            f"or drop it in a migration of your own under sql/ (ALTER TABLE {layer.schema}.{layer.table} DROP "
            f"COLUMN {name}) after exporting what it holds."
        )
    geometry = _geometry(conn, layer)
    if geometry and geometry.lower() != layer.geometry.lower():
        problems.append(
            f"{where}: the geometry is {layer.geometry} in the catalogue but {geometry} in the database. A "
            "generated migration does not convert geometries: put the type back, or convert them in a migration "
            "of your own under sql/."
        )
    added = []
    keys = _foreign_keys(conn, layer)
    holds_rows = None
    own = f"in a migration of your own under sql/ (ALTER TABLE {layer.schema}.{layer.table} …)"
    for attr in layer.attributes:
        if attr.name not in columns:
            if attr.required and attr.default is None:
                if holds_rows is None:
                    holds_rows = conn.execute(f"SELECT EXISTS (SELECT FROM {layer.schema}.{layer.table})").fetchone()[0]  # noqa: S608
                if holds_rows:
                    problems.append(
                        f"{where}: attribute {attr.name} is new and required but has no default, and the rows "
                        "already in the layer have no value for it. Give it a `default`, or add it as not required, "
                        "fill it, then make it required."
                    )
                    continue
            added.append(attr)
            continue
        data_type, nullable, udt = columns[attr.name]
        array = {"codes": "_text", "texts": "_text", "bigints": "_int8"}.get(attr.type)
        if data_type != attr.sql_type or (array and udt != array):
            problems.append(
                f"{where}: attribute {attr.name} is {attr.type} ({attr.form.ddl}) in the catalogue but "
                f"{data_type if not array else udt.lstrip('_') + '[]'} in the database. A generated migration does "
                "not change a column's type (values could be lost): put the type back, or add a new attribute and "
                f"copy the values over {own}."
            )
        elif not attr.generated and nullable == _not_null(layer, attr):
            wanted = "required" if _not_null(layer, attr) else "optional"
            problems.append(
                f"{where}: attribute {attr.name} is {wanted} in the catalogue but not in the database. A generated "
                "migration does not change that (rows may lack a value): put it back, or "
                f"{own.replace('in a', 'use a')} {'SET' if wanted == 'required' else 'DROP'} NOT NULL) after "
                "filling the column."
            )
        elif keys.get(attr.name) != _target(attr) and layer.kind == "asset":
            problems.append(
                f"{where}: attribute {attr.name} refers to {_target(attr) or 'nothing'} in the catalogue but to "
                f"{keys.get(attr.name) or 'nothing'} in the database (its code list or layer changed). A generated "
                f"migration does not remap values: put it back, or move the values and the key {own}."
            )
    if added and not problems:
        t = layer.table
        clauses = ",\n    ".join(f"ADD COLUMN {column_sql(layer, a)}" for a in added)
        plan.later += f"ALTER TABLE patrimoine.{t}\n    {clauses};\n"
        plan.later += "".join(
            f"CREATE INDEX {_index(t, a)} ON patrimoine.{t} ({a.name});\n" for a in added if a.type == "reference"
        )
        plan.layers.append(t)
        plan.codelists |= {a.codelist for a in added if a.codelist}
        plan.changes += [f"{layer.collection}: new attribute {a.name} ({a.type})" for a in added]


def _order(layers: list[Layer]) -> list[Layer]:
    """New layers after the new layers they reference."""
    names = {la.name for la in layers}
    done: list[Layer] = []
    pending = list(layers)
    while pending:
        ready = [
            la
            for la in pending
            if all(
                a.references not in names or a.references == la.name or a.references in {d.name for d in done}
                for a in la.attributes
            )
        ]
        if not ready:
            raise CatalogueChangeRefused(
                "new layers reference each other in a cycle: " + ", ".join(la.name for la in pending)
            )
        done += ready
        pending = [la for la in pending if la not in ready]
    return done


def _values_sql(catalogue: Catalogue, name: str) -> str:
    """The codes of a list, inserted if missing: a new column's default or check reads them at once (db init
    syncs labels and order after the migration; these rows only have to exist)."""
    rows = ", ".join(
        f"({_literal(v.code)}, {_literal(v.fr)}, {_literal(v.en)}, {i})"
        for i, v in enumerate(catalogue.codelists[name].values)
    )
    insert = f"INSERT INTO patrimoine_vl.{name} (code, label_fr, label_en, sort_order) VALUES "  # noqa: S608
    return insert + rows + " ON CONFLICT (code) DO NOTHING;\n"


def plan(conn: psycopg.Connection, catalogue: Catalogue, srid: int) -> LayerPlan:
    """The generated migration `db init` would apply now (empty when the database is at the catalogue).

    In order: new value lists, the codes new columns use, new tables (referenced ones first), then columns added
    to existing tables (which may reference a new table)."""
    out = LayerPlan()
    problems: list[str] = []
    lists = [
        name
        for name in catalogue.codelists
        if conn.execute("SELECT to_regclass(%s)", (f"patrimoine_vl.{name}",)).fetchone()[0] is None
    ]
    head = ""
    for name in lists:
        head += f"SELECT patrimoine_app.create_value_list('{name}');\n"
        head += f"GRANT SELECT ON patrimoine_vl.{name} TO gp_reader;\n"
        head += f"GRANT INSERT, UPDATE, DELETE ON patrimoine_vl.{name} TO gp_admin;\n"
        out.changes.append(f"code list {name}: new table patrimoine_vl.{name}")
    new = []
    for layer in catalogue.asset_layers:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{layer.schema}.{layer.table}",)).fetchone()[0]
        if exists is None:
            new.append(layer)
        else:
            _existing_layer(conn, layer, out, problems)
    for layer in catalogue.layers.values():
        if (
            layer.kind != "asset"
            and conn.execute("SELECT to_regclass(%s) IS NULL", (f"{layer.schema}.{layer.table}",)).fetchone()[0]
        ):
            problems.append(
                f"layers/{layer.name}.yaml: a {layer.kind} layer has no table and is not generated (only asset "
                "layers are): add its table with a migration of your own under sql/"
            )
    if problems:
        raise CatalogueChangeRefused(
            "the catalogue asks for changes db init will not make:\n  " + "\n  ".join(problems)
        )
    common = set.intersection(*({a.name for a in la.attributes} for la in catalogue.asset_layers))
    tables = ""
    for layer in _order(new):
        tables += create_table_sql(layer, srid) + "\n"
        out.layers.append(layer.table)
        out.codelists |= {a.codelist for a in layer.attributes if a.codelist}
        own = [a.name for a in layer.attributes if a.name not in common]
        out.changes.append(f"{layer.collection}: new layer ({layer.geometry}; {', '.join(own)})")
    values = "".join(_values_sql(catalogue, name) for name in sorted(out.codelists))
    out.statement = head + values + tables + out.later
    return out


def migration_text(migration_id: str, layer_plan: LayerPlan) -> str:
    """The migration file: the plan's SQL, then its own record in `patrimoine_sys.generated_migration`."""
    summary = "; ".join(layer_plan.changes)
    layers = ", ".join(map(_literal, layer_plan.layers))
    # the statement between dollar quotes: its own text, quotes and all (the tag never occurs in generated SQL)
    record = (
        "INSERT INTO patrimoine_sys.generated_migration (migration_id, layers, summary, statement) VALUES "  # noqa: S608
        f"({_literal(migration_id)}, ARRAY[{layers}]::text[], {_literal(summary)}, "
        f"$gp_generated${layer_plan.statement}$gp_generated$);\n"
    )
    header = f"-- gis-patrimoine {migration_id}: generated by `db init` from the layer catalogue.\n"
    return header + "".join(f"-- {c}\n" for c in layer_plan.changes) + layer_plan.statement + record


def next_id(conn: psycopg.Connection) -> str:
    """`catalogue_NNNN`, numbered after the highest this database went through (its record or yoyo's)."""
    n = conn.execute(
        "SELECT coalesce(max(substring(id FROM '^catalogue_([0-9]+)$')::int), 0) FROM ("
        "SELECT migration_id AS id FROM patrimoine_sys.generated_migration UNION ALL "
        "SELECT migration_id FROM patrimoine_sys._yoyo_migration) ids"
    ).fetchone()[0]
    return f"catalogue_{n + 1:04d}"
