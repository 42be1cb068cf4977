"""The catalogue loader accepts the shipped catalogue and names the file and entry of any mistake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gis_patrimoine.catalogue import CatalogueError, load_catalogue
from gis_patrimoine.settings import get_settings


@pytest.fixture
def catalogue_copy(tmp_path: Path) -> Path:
    target = tmp_path / "layers"
    shutil.copytree(get_settings().catalogue_dir, target)
    return target


def test_shipped_catalogue_loads() -> None:
    cat = load_catalogue()
    assert {layer.collection for layer in cat.asset_layers} == {
        "roads",
        "green_spaces",
        "street_lights",
        "buildings",
        "depots",
        "trees",
        "litter_bins",
        "gullies",
    }
    road = cat.layer("roads")
    assert road is cat.layer("road")
    assert road.geometry == "LineString" and road.attribute("road_class").codelist == "road_class"
    assert [a.name for a in road.attributes[:3]] == ["id", "uuid", "commune_insee"]
    assert road.tiles.properties_at(12) == ["road_class"] and road.tiles.properties_at(18)[-1] == "oneway"
    services = {layer.maintenance.service for layer in cat.asset_layers if layer.maintenance}
    assert services == set(cat.codelists["service"].codes)


def test_maintenance_frequency_in_visits_per_year() -> None:
    light = load_catalogue().layer("street_lights")
    acts = {a.name: a for a in light.maintenance.activities}
    assert acts["inspection"].visits == 1 and acts["relamping"].visits == 0.25


def test_unknown_layer_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="known layers: arrangement_communes, buildings, communes, depot_areas, depots"):
        load_catalogue().layer("benches")


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("road.yaml", "codelist: road_class", "codelist: road_kind", "unknown code list 'road_kind'"),
        ("road.yaml", "geometry: LineString", "geometry: Curve", "road.yaml: geometry: Input should be"),
        ("road.yaml", "minutes: 4,", "minutes: -4,", "road.yaml: maintenance.activities.0.minutes"),
        (
            "road.yaml",
            "by: road_class",
            "by: colour_field",
            "style refers to unknown attribute 'colour_field'",
        ),
        (
            "road.yaml",
            "14: [road_class, name",
            "14: [road_class, nom",
            "tiles.properties[14]: unknown attribute",
        ),
        (
            "street_light.yaml",
            "where: {lamp_type: [led]}",
            "where: {lamp_type: [laser]}",
            "unknown codes ['laser']",
        ),
        ("street_light.yaml", "every_years: 4,", "every_years: 4, visits_per_year: 1,", "exactly one of"),
        ("depot.yaml", "name: depot", "name: depots", "must match the file name"),
        ("codelists.yaml", 'colour: "#f5c400"', "colour: yellow", "codelists.yaml: code list service"),
    ],
)
def test_mistakes_are_reported_with_file_and_entry(catalogue_copy: Path, file, old, new, message) -> None:
    path = catalogue_copy / file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(CatalogueError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        load_catalogue(catalogue_copy)


def test_missing_pieces_are_named_not_raised_as_python_errors(catalogue_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="no layer catalogue here"):
        load_catalogue(tmp_path / "nowhere")
    (catalogue_copy / "codelists.yaml").unlink()
    with pytest.raises(CatalogueError, match=r"codelists\.yaml: cannot be read"):
        load_catalogue(catalogue_copy)
    (catalogue_copy / "_common.yaml").write_text("asset_columns: []\n")
    with pytest.raises(CatalogueError, match="asset_attributes, a list of attributes, is missing"):
        load_catalogue(catalogue_copy)
