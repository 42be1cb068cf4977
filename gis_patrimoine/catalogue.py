"""The layer catalogue: typed loader and cross-checks of `layers/*.yaml`.

The catalogue is the one source of truth about layers: geometry, attributes, code lists, maintenance
model, tile and style settings. The schema test, the importer, the API, the tiles and the QGIS styles all
read it from here. Loading fails with a message naming the file and the field when an entry is wrong.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gis_patrimoine.attribute_types import FORMS, Form
from gis_patrimoine.settings import get_settings

GeometryType = Literal["Point", "LineString", "MultiPolygon", "MultiLineString", "Polygon", "MultiPoint"]
AttributeType = Literal[
    "identity",
    "uuid",
    "text",
    "integer",
    "bigint",
    "real",
    "boolean",
    "date",
    "timestamp",
    "jsonb",
    "code",
    "codes",
    "commune",
    "reference",
    "texts",
    "bigints",
]
Unit = Literal["item", "m", "100m", "km", "m2", "100m2", "ha"]


class CatalogueError(ValueError):
    """The catalogue is inconsistent; the message names the file and the entry."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Title(Strict):
    fr: str
    en: str


class CodeValue(Strict):
    code: str
    fr: str
    en: str
    colour: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    defaults: dict[str, bool | float | int | str] = {}


class CodeList(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")  # a table name: generated migrations write it unquoted
    title: Title
    values: tuple[CodeValue, ...]

    @property
    def codes(self) -> list[str]:
        return [v.code for v in self.values]

    def value(self, code: str) -> CodeValue:
        for v in self.values:
            if v.code == code:
                return v
        raise KeyError(code)


class Attribute(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: AttributeType
    title: Title
    codelist: str | None = None
    references: str | None = None
    link_within_m: float | None = Field(default=None, gt=0)  # reference: nearest feature when the source has none

    required: bool = False
    system: bool = False
    generated: bool = False
    default: str | int | float | bool | None = None
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    help: Title | None = None  # for the people who fill it in (the diagnostic's workbook)

    @model_validator(mode="after")
    def _codelist_for_codes(self) -> Attribute:
        if (self.type in ("code", "codes")) != (self.codelist is not None):
            raise ValueError(f"attribute {self.name}: 'codelist' goes with type code/codes, and only there")
        if (self.type == "reference") != (self.references is not None):
            raise ValueError(f"attribute {self.name}: 'references' goes with type reference, and only there")
        return self

    @property
    def form(self) -> Form:
        """The type's forms: SQL, DDL, JSON Schema, parser, export and QGIS (attribute_types.py)."""
        return FORMS[self.type]

    @property
    def sql_type(self) -> str:
        return self.form.sql

    @property
    def writable(self) -> bool:
        """Whether a user or an import may set this column (not identity, audit or generated)."""
        return not (self.system or self.generated)


class Activity(Strict):
    name: str
    title: Title
    per: Unit
    minutes: float = Field(gt=0)
    visits_per_year: float | None = Field(default=None, gt=0)
    every_years: float | None = Field(default=None, gt=0)
    routing: Literal["node", "arc"]
    equipment: str | None = None
    where: dict[str, list[str]] = {}
    quantity: str | None = None  # an attribute giving the measure (m, m²) when known: a building's floor area
    # who does it and when (the pooling arrangements size posts and machines from these): the skill it takes
    # (codelist skill), the agents in its crew (None: the territory's crew_size), its season (codelist season)
    skill: str | None = None
    crew: int | None = Field(default=None, ge=1, le=6)
    season: str = "all_year"

    @model_validator(mode="after")
    def _one_frequency(self) -> Activity:
        if (self.visits_per_year is None) == (self.every_years is None):
            raise ValueError(f"activity {self.name}: give exactly one of visits_per_year, every_years")
        return self

    @property
    def visits(self) -> float:
        """Visits per year, whichever way the frequency was given."""
        return self.visits_per_year if self.visits_per_year is not None else 1.0 / self.every_years


class Profile(Strict):
    """How a known source (OpenStreetMap, IGN BD TOPO, ...) maps onto a layer.

    `fields` names, for each of our columns, the source field(s) holding it, first mapped value wins;
    `values` maps source values to codes (case and accents ignored; a trailing `*` matches a prefix);
    `tags` names an hstore-like field (`"k"=>"v",...`) whose keys are read as fields too; `defaults` fill
    columns the source leaves empty; `lenient` keeps unparsable numbers in `extra` instead of refusing the
    feature (OSM tags are free text).
    """

    fields: dict[str, str | list[str]] = {}
    values: dict[str, dict[str, str]] = {}
    tags: str | None = None
    defaults: dict[str, str | int | float] = {}
    lenient: bool = False

    def sources_for(self, column: str) -> list[str]:
        found = self.fields.get(column, column)
        return [found] if isinstance(found, str) else list(found)


class Maintenance(Strict):
    service: str
    activities: tuple[Activity, ...]


class Tiles(Strict):
    minzoom: int = Field(default=0, ge=0, le=24)
    maxzoom: int = Field(default=22, ge=0, le=24)
    simplify_px: float = Field(default=0.0, ge=0)
    min_size_px: float = Field(default=0.0, ge=0)
    buffer: int = Field(default=64, ge=0, le=1024)
    extent: int = 4096
    max_features: int = Field(default=50_000, gt=0)
    properties: dict[int, list[str]] = {}

    def properties_at(self, zoom: int) -> list[str]:
        """Attributes carried by tiles at `zoom`: those of the highest listed zoom not above it."""
        levels = [z for z in self.properties if z <= zoom]
        return self.properties[max(levels)] if levels else []


class Style(Strict):
    type: Literal["fill", "line", "circle"]
    colour: str | None = None
    by: str | None = None
    outline: str | None = None
    opacity: float = Field(default=1.0, ge=0, le=1)
    width: float = 1.0
    radius: float = 4.0
    label: str | None = None
    label_minzoom: int | None = None
    minzoom: int | None = None


class Layer(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: Literal["asset", "reference", "result"]  # result: written by the analyses, read-only elsewhere
    collection: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: Title
    description: str
    geometry: GeometryType
    key: str = "id"
    attributes: tuple[Attribute, ...]
    maintenance: Maintenance | None = None
    tiles: Tiles = Tiles()
    style: Style
    profiles: dict[str, Profile] = {}
    # where the layer comes in lists: a service's main layer first (its first activity is the service's default
    # for rounds and comparisons), layers added later after it
    order: int = 50

    def profile(self, name: str | None) -> Profile:
        """A named profile, or the generic one (source fields named as our columns)."""
        if name in (None, "default"):
            return self.profiles.get("default", Profile())
        if name not in self.profiles:
            known = ", ".join(["default", *sorted(self.profiles)])
            raise KeyError(f"layer {self.collection} has no profile {name!r}; profiles: {known}")
        return self.profiles[name]

    @property
    def table(self) -> str:
        return self.name

    @property
    def schema(self) -> str:
        """Inventory layers live in `patrimoine`, analysis results in `analysis`."""
        return "analysis" if self.kind == "result" else "patrimoine"

    @property
    def qualified(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)

    def attribute(self, name: str) -> Attribute:
        for a in self.attributes:
            if a.name == name:
                return a
        raise KeyError(f"layer {self.name} has no attribute {name!r}")

    @property
    def writable_attributes(self) -> list[Attribute]:
        return [a for a in self.attributes if a.writable]


class DiagnosticTable(Strict):
    """A table of the shared diagnostic (layers/diagnostic/): the means of the communes, beside the inventory.

    Non-spatial, one sheet of the questionnaire workbook each; rows belong to a commune (`commune_insee`, empty
    for the agglomération), which sets who may edit them; `key` says which columns make a row unique.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: Title
    sheet: str = Field(max_length=31)  # Excel's limit for a sheet name
    description: str
    key: tuple[str, ...]
    attributes: tuple[Attribute, ...]

    @property
    def qualified(self) -> sql.Identifier:
        return sql.Identifier("patrimoine", self.name)

    def attribute(self, name: str) -> Attribute:
        for a in self.attributes:
            if a.name == name:
                return a
        raise KeyError(f"table {self.name} has no attribute {name!r}")


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True)

    layers: dict[str, Layer]
    codelists: dict[str, CodeList]
    tables: dict[str, DiagnosticTable] = {}

    @property
    def asset_layers(self) -> list[Layer]:
        """The inventory's layers, each service's main one first (`order`), then by name."""
        assets = [layer for layer in self.layers.values() if layer.kind == "asset"]
        return sorted(assets, key=lambda layer: (layer.order, layer.name))

    def layer(self, name: str) -> Layer:
        """A layer by table name or collection name (`road` or `roads`)."""
        for layer in self.layers.values():
            if name in (layer.name, layer.collection):
                return layer
        known = ", ".join(sorted(layer.collection for layer in self.layers.values()))
        raise KeyError(f"unknown layer {name!r}; known layers: {known}")

    def check(self) -> None:
        """Cross-file consistency: code lists, references, tile properties, style fields exist."""
        problems = [p for layer in self.layers.values() for p in self._layer_problems(layer)]
        problems += [p for table in self.tables.values() for p in self._table_problems(table)]
        if problems:
            raise CatalogueError("layer catalogue is inconsistent:\n  " + "\n  ".join(problems))

    def _table_problems(self, table: DiagnosticTable) -> list[str]:
        where = f"layers/diagnostic/{table.name}.yaml"
        names = [a.name for a in table.attributes]
        problems = [f"{where}: key column {k!r} is not an attribute" for k in table.key if k not in names]
        if len(set(names)) != len(names):
            problems.append(f"{where}: duplicate attribute names")
        for a in table.attributes:
            if a.codelist and a.codelist not in self.codelists:
                problems.append(f"{where}: attribute {a.name}: unknown code list {a.codelist!r}")
            if a.references and a.references not in self.layers:
                problems.append(f"{where}: attribute {a.name}: unknown layer {a.references!r}")
        return problems

    def _codes(self, codelist: str | None) -> set[str]:
        return set(self.codelists[codelist].codes) if codelist in self.codelists else set()

    def _layer_problems(self, layer: Layer) -> list[str]:
        where = f"layers/{layer.name}.yaml"
        attrs = {a.name: a for a in layer.attributes}
        problems = []
        if len(attrs) != len(layer.attributes):
            problems.append(f"{where}: duplicate attribute names")
        if layer.key not in attrs:
            problems.append(f"{where}: key {layer.key!r} is not an attribute")
        for a in layer.attributes:
            if a.codelist and a.codelist not in self.codelists:
                problems.append(f"{where}: attribute {a.name}: unknown code list {a.codelist!r}")
            elif a.codelist and a.default is not None and a.default not in self._codes(a.codelist):
                problems.append(f"{where}: attribute {a.name}: default {a.default!r} not in its code list")
            if a.references and a.references not in self.layers:
                problems.append(f"{where}: attribute {a.name}: unknown layer {a.references!r}")
            elif a.references and self.layers[a.references].kind != "asset" and layer.kind == "asset":
                problems.append(  # its key is `id` in patrimoine: what the foreign key and the import link use
                    f"{where}: attribute {a.name}: a reference goes to an asset layer, not {a.references!r}"
                )
        for zoom, props in layer.tiles.properties.items():
            problems += [f"{where}: tiles.properties[{zoom}]: unknown attribute {p!r}" for p in props if p not in attrs]
        for pname, profile in layer.profiles.items():
            for column in [*profile.fields, *profile.values, *profile.defaults]:
                if column not in attrs or not attrs[column].writable:
                    problems.append(f"{where}: profile {pname}: {column!r} is not a writable attribute")
            for column, mapping in profile.values.items():
                if column in attrs and (bad := set(mapping.values()) - self._codes(attrs[column].codelist)):
                    problems.append(f"{where}: profile {pname}: unknown codes {sorted(bad)} for {column}")
        for field in (layer.style.by, layer.style.label):
            if field and field not in attrs:
                problems.append(f"{where}: style refers to unknown attribute {field!r}")
        if layer.maintenance is None:
            return problems
        if layer.maintenance.service not in self._codes("service"):
            problems.append(f"{where}: unknown service {layer.maintenance.service!r}")
        for act in layer.maintenance.activities:
            if act.equipment and act.equipment not in self._codes("equipment_type"):
                problems.append(f"{where}: activity {act.name}: unknown equipment {act.equipment!r}")
            if act.skill and act.skill not in self._codes("skill"):
                problems.append(f"{where}: activity {act.name}: unknown skill {act.skill!r}")
            if act.season not in self._codes("season"):
                problems.append(f"{where}: activity {act.name}: unknown season {act.season!r}")
            if act.quantity and (
                attrs.get(act.quantity) is None or attrs[act.quantity].type not in ("real", "integer")
            ):
                problems.append(f"{where}: activity {act.name}: quantity {act.quantity!r} is not a numeric attribute")
            for field, codes in act.where.items():
                attr = attrs.get(field)
                if attr is None or attr.codelist is None:
                    problems.append(f"{where}: activity {act.name}: 'where' needs a code attribute, not {field!r}")
                elif bad := set(codes) - self._codes(attr.codelist):
                    problems.append(f"{where}: activity {act.name}: unknown codes {sorted(bad)}")
        return problems


def _read_yaml(path: Path) -> dict:
    try:
        # libyaml's parser (PyYAML's wheels carry it): the whole load takes 0.35 s instead of 0.52 s, and
        # every command and the API start pay it
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not isinstance(data, dict):
        raise CatalogueError(f"{path}: expected a mapping at the top level")
    return data


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def load_catalogue(directory: Path | None = None) -> Catalogue:
    """Read and validate every layer and the code lists; asset layers get the common columns first."""
    directory = directory or get_settings().catalogue_dir
    if not (directory / "_common.yaml").is_file():
        raise CatalogueError(
            f"{directory}: no layer catalogue here (_common.yaml is missing); check the directory given, or "
            "GIS_PATRIMOINE_CATALOGUE_DIR"
        )
    common_raw = _read_yaml(directory / "_common.yaml").get("asset_attributes")
    if not isinstance(common_raw, list):
        raise CatalogueError(f"{directory / '_common.yaml'}: asset_attributes, a list of attributes, is missing")
    codelists: dict[str, CodeList] = {}
    for name, body in _read_yaml(directory / "codelists.yaml").items():
        try:
            codelists[name] = CodeList(name=name, **body)
        except (ValidationError, TypeError) as exc:
            raise CatalogueError(f"{directory / 'codelists.yaml'}: code list {name}: {exc}") from exc
    layers: dict[str, Layer] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name.startswith("_") or path.name == "codelists.yaml":
            continue
        raw = _read_yaml(path)
        if raw.get("kind") == "asset":
            raw["attributes"] = [*common_raw, *raw.get("attributes", [])]
        try:
            layer = Layer(**raw)
        except ValidationError as exc:
            raise CatalogueError(f"{path}: {_describe(exc)}") from exc
        if layer.name != path.stem:
            raise CatalogueError(f"{path}: name {layer.name!r} must match the file name")
        layers[layer.name] = layer
    tables: dict[str, DiagnosticTable] = {}
    for path in sorted((directory / "diagnostic").glob("*.yaml")):
        try:
            table = DiagnosticTable(**_read_yaml(path))
        except ValidationError as exc:
            raise CatalogueError(f"{path}: {_describe(exc)}") from exc
        if table.name != path.stem:
            raise CatalogueError(f"{path}: name {table.name!r} must match the file name")
        tables[table.name] = table
    catalogue = Catalogue(layers=layers, codelists=codelists, tables=tables)
    catalogue.check()
    return catalogue


@lru_cache
def get_catalogue() -> Catalogue:
    return load_catalogue()
