"""The field plan: which source field feeds which column, and how source values become codes.

Built from the layer's profile in the catalogue, the `--map NAME=FIELD` options and the fields the file
actually has. Source fields that feed no column are kept in `extra`; nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gis_patrimoine.catalogue import Attribute, Catalogue, Layer, Profile
from gis_patrimoine.importer.errors import ImportFailed
from gis_patrimoine.importer.names import normalise

SHAPEFILE_NAME_MAX = 10
# Columns the importer sets itself; a source field with their name is read for the natural key or commune.
KEY_COLUMNS = ("source", "source_id", "commune_insee")


@dataclass(frozen=True)
class Ref:
    """A value in the source: field number `index`, or key `tag` of the profile's tags field."""

    index: int | None = None
    tag: str | None = None
    label: str = ""


@dataclass
class ColumnPlan:
    attr: Attribute
    refs: list[Ref]


@dataclass
class FieldPlan:
    columns: list[ColumnPlan]
    consumed: set[int] = field(default_factory=set)
    consumed_tags: set[str] = field(default_factory=set)
    tags_index: int | None = None
    id_index: int | None = None
    commune_index: int | None = None
    commune_is_code: bool = False
    row_source_index: int | None = None
    row_source_id_index: int | None = None
    extra_index: int | None = None

    def column(self, name: str) -> ColumnPlan | None:
        return next((c for c in self.columns if c.attr.name == name), None)


def find_field(fields: list[str], name: str) -> int | None:
    """A source field by name: exact, then ignoring case, then as a shapefile would truncate it."""
    if name in fields:
        return fields.index(name)
    lower = [f.lower() for f in fields]
    if name.lower() in lower:
        return lower.index(name.lower())
    if len(name) > SHAPEFILE_NAME_MAX and name.lower()[:SHAPEFILE_NAME_MAX] in lower:
        return lower.index(name.lower()[:SHAPEFILE_NAME_MAX])
    return None


def build_plan(
    layer: Layer,
    profile: Profile,
    fields: list[str],
    mapping: dict[str, str],
    id_field: str | None,
    commune_field: str | None,
    path: str,
    per_row_key: bool,
) -> FieldPlan:
    def need(name: str, option: str) -> int:
        index = find_field(fields, name)
        if index is None:
            raise ImportFailed(f"{option}: no field {name!r}; the file has: {', '.join(fields)}", path=path)
        return index

    writable = {a.name: a for a in layer.writable_attributes if a.name not in KEY_COLUMNS}
    logical = {src for col in writable for src in profile.sources_for(col)}
    for name, source_field in mapping.items():
        if name not in writable and name not in logical:
            raise ImportFailed(
                f"--map {name}={source_field}: {name!r} is neither a column of {layer.collection} nor a field "
                f"the profile reads; columns: {', '.join(writable)}",
                path=path,
            )
        need(source_field, f"--map {name}")

    plan = FieldPlan(columns=[])
    if profile.tags:
        plan.tags_index = find_field(fields, mapping.get(profile.tags, profile.tags))
        if plan.tags_index is not None:
            plan.consumed.add(plan.tags_index)
    for name, attr in writable.items():
        if attr.name == "extra":
            continue
        names = [mapping[name]] if name in mapping else [mapping.get(s, s) for s in profile.sources_for(name)]
        refs = []
        for src in names:
            index = find_field(fields, src)
            if index is not None:
                refs.append(Ref(index=index, label=fields[index]))
                plan.consumed.add(index)
            elif plan.tags_index is not None and name not in mapping:
                refs.append(Ref(tag=src, label=f"{fields[plan.tags_index]}:{src}"))
                plan.consumed_tags.add(src)
        plan.columns.append(ColumnPlan(attr, refs))
    if id_field:
        plan.id_index = need(id_field, "--id-field")
    if commune_field:
        plan.commune_index = need(commune_field, "--commune-field")
    elif (index := find_field(fields, "commune_insee")) is not None:
        plan.commune_index, plan.commune_is_code = index, True
    if per_row_key:
        plan.row_source_index = find_field(fields, "source")
        plan.row_source_id_index = find_field(fields, "source_id")
    for index in (plan.id_index, plan.commune_index, plan.row_source_index, plan.row_source_id_index):
        if index is not None:
            plan.consumed.add(index)
    if per_row_key:  # our own export: its system and computed columns are ours, not source attributes
        for attr in layer.attributes:
            if not attr.writable and (index := find_field(fields, attr.name)) is not None:
                plan.consumed.add(index)
    extra = find_field(fields, "extra")
    if extra is not None and extra not in plan.consumed:
        plan.extra_index = extra
        plan.consumed.add(extra)
    return plan


def code_lookup(catalogue: Catalogue, attr: Attribute, profile: Profile) -> dict[str, str]:
    """Normalised source value → code: the profile's table, then the codes and their labels themselves."""
    codelist = catalogue.codelists[attr.codelist]
    table: dict[str, str] = {}
    for value in codelist.values:
        for text in (value.en, value.fr, value.code):
            table[normalise(text)] = value.code
    for raw, code in profile.values.get(attr.name, {}).items():
        table[normalise(raw)] = code
    return table


def map_code(table: dict[str, str], raw: str) -> str | None:
    key = normalise(raw)
    if key in table:
        return table[key]
    for pattern, code in table.items():
        if pattern.endswith("*") and key.startswith(pattern[:-1]):
            return code
    return None
