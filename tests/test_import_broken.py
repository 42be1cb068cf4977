"""A catalogue of broken inputs: each gives a clear message naming the file (feature, field) and leaves the
database exactly as it was (table checksums before and after)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import psycopg
import pytest

from gis_patrimoine.importer import (
    ImportFailed,
    ImportOptions,
    ImportRefused,
    import_layer,
)
from tests.importing import LAVAL_X, LAVAL_Y, checksum, road, write_layer


@pytest.fixture
def laval(laval_url: str) -> str:
    # one road already in place, so that "unchanged" really means something is there
    with psycopg.connect(laval_url) as conn:
        conn.execute(
            "INSERT INTO patrimoine.road (commune_insee, source, source_id, road_class, geom) VALUES "
            "('53130', 'earlier.shp', '1', 'street', ST_GeomFromText(%s, 2154))",
            (road(5000),),
        )
    return laval_url


def roads_file(tmp_path: Path, name: str = "roads.shp", n: int = 3, **overrides) -> Path:
    fields = {
        "rid": [str(i) for i in range(n)],
        "road_class": ["street"] * n,
        "width_m": ["5.5"] * n,
        "last_inter": ["2024-05-01"] * n,
    }  # as a shapefile truncates last_intervention
    fields.update({k: v for k, v in overrides.items() if k != "geoms"})
    geoms = overrides.get("geoms", [road(i * 200) for i in range(n)])
    return write_layer(tmp_path / name, geoms, fields, geometry_type="LineString")


def refused(url: str, options: ImportOptions, *fragments: str) -> ImportFailed:
    """The import fails, says all of `fragments`, and nothing changed."""
    before = checksum(url)
    with pytest.raises(ImportFailed) as info:
        import_layer(url, options)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert checksum(url) == before
    with psycopg.connect(url) as conn:
        status = conn.execute(
            "SELECT status, message FROM patrimoine_sys.import_job ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert status[0] == "failed" and status[1]
    return info.value


def refusal_reasons(error: ImportFailed) -> list[str]:
    assert isinstance(error, ImportRefused)
    return [reason for _, reason in error.report.refusals]


def test_valid_file_imports(laval: str, tmp_path: Path) -> None:
    report = import_layer(laval, ImportOptions("roads", roads_file(tmp_path), id_field="rid"))
    assert (report.read, report.inserted, report.refused) == (3, 3, 0)


@pytest.mark.parametrize("missing", [".shx", ".dbf"])
def test_missing_companion_file(laval: str, tmp_path: Path, missing: str) -> None:
    path = roads_file(tmp_path)
    path.with_suffix(missing).unlink()
    refused(laval, ImportOptions("roads", path), "roads.shp", f"the {missing} file", "is missing")


def test_missing_prj_needs_srs(laval: str, tmp_path: Path) -> None:
    path = roads_file(tmp_path)
    path.with_suffix(".prj").unlink()
    refused(laval, ImportOptions("roads", path), "roads.shp", "no coordinate reference system", "--srs")
    report = import_layer(laval, ImportOptions("roads", path, srs="EPSG:2154", id_field="rid"))
    assert report.inserted == 3


def test_truncated_shp(laval: str, tmp_path: Path) -> None:
    path = roads_file(tmp_path, n=50)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    refused(laval, ImportOptions("roads", path, id_field="rid"), "roads.shp", "the .shp file is truncated")


def test_empty_layer(laval: str, tmp_path: Path) -> None:
    path = write_layer(tmp_path / "empty.gpkg", [], {"rid": []}, geometry_type="LineString")
    refused(laval, ImportOptions("roads", path), "empty.gpkg", "holds no feature")


def test_wrong_geometry_type(laval: str, tmp_path: Path) -> None:
    points = [f"POINT({LAVAL_X + i} {LAVAL_Y})" for i in range(3)]
    path = write_layer(
        tmp_path / "lights.shp", points, {"rid": ["1", "2", "3"], "road_class": ["street"] * 3}, geometry_type="Point"
    )
    error = refused(laval, ImportOptions("roads", path), "3 feature(s) refused", "nothing was written")
    assert refusal_reasons(error)[0] == "wrong geometry type: Point in a layer of LineString"


def test_self_intersecting_polygon_is_repaired_and_counted(laval: str, tmp_path: Path) -> None:
    x, y = LAVAL_X, LAVAL_Y
    bowtie = f"POLYGON(({x} {y}, {x + 50} {y + 50}, {x + 50} {y}, {x} {y + 50}, {x} {y}))"
    path = write_layer(tmp_path / "parks.gpkg", [bowtie], {"kind": ["park"]}, geometry_type="Polygon")
    before = checksum(laval)
    dry = import_layer(laval, ImportOptions("green_spaces", path, dry_run=True))
    assert (dry.repaired, dry.inserted, dry.committed) == (1, 1, False)
    assert checksum(laval) == before
    report = import_layer(laval, ImportOptions("green_spaces", path))
    assert report.repaired == 1
    with psycopg.connect(laval) as conn:
        valid, parts, area = conn.execute(
            "SELECT ST_IsValid(geom), ST_NumGeometries(geom), round(area_m2) FROM patrimoine.green_space"
        ).fetchone()
    assert (valid, parts, area) == (True, 2, 1250)


def test_unrepairable_polygon_is_refused(laval: str, tmp_path: Path) -> None:
    x, y = LAVAL_X, LAVAL_Y
    flat = f"POLYGON(({x} {y}, {x + 50} {y}, {x + 100} {y}, {x} {y}))"
    path = write_layer(tmp_path / "flat.gpkg", [flat], {"kind": ["park"]}, geometry_type="Polygon")
    error = refused(laval, ImportOptions("green_spaces", path), "1 feature(s) refused")
    assert "cannot be repaired" in refusal_reasons(error)[0]


def test_null_geometries(laval: str, tmp_path: Path) -> None:
    path = roads_file(tmp_path, geoms=[road(0), None, road(400)])
    error = refused(laval, ImportOptions("roads", path, id_field="rid"), "1 feature(s) refused")
    assert error.report.refusals == [("feature 1 (id 1)", "no geometry (null)")]


def test_duplicate_ids(laval: str, tmp_path: Path) -> None:
    path = roads_file(tmp_path, rid=["a", "b", "a"])
    error = refused(laval, ImportOptions("roads", path, id_field="rid"), "2 feature(s) refused")
    assert refusal_reasons(error) == ["identifier a appears 2 times in the file (field rid)"] * 2


def test_text_in_numeric_field(laval: str, tmp_path: Path) -> None:
    path = roads_file(tmp_path, width_m=["5.5", "large", "6,5"])
    error = refused(laval, ImportOptions("roads", path, id_field="rid"), "1 feature(s) refused")
    assert error.report.refusals == [("feature 1 (id 1)", "width_m: 'large' (field width_m) is not a number")]


def test_value_out_of_range(laval: str, tmp_path: Path) -> None:
    path = roads_file(tmp_path, width_m=["5.5", "250", "6"])
    error = refused(laval, ImportOptions("roads", path, id_field="rid"), "1 feature(s) refused")
    assert refusal_reasons(error) == ["width_m: 250 is out of range [0.5, 100]"]


def test_bad_dates(laval: str, tmp_path: Path) -> None:
    path = roads_file(tmp_path, last_inter=["2024-02-30", "31/12/2023", "yesterday"])
    error = refused(laval, ImportOptions("roads", path, id_field="rid"), "2 feature(s) refused")
    assert refusal_reasons(error) == [
        "last_intervention: '2024-02-30' (field last_inter) is not a date",
        "last_intervention: 'yesterday' (field last_inter) is not a date",
    ]


def test_unknown_code_without_default_is_refused_and_named(laval: str, tmp_path: Path) -> None:
    path = roads_file(tmp_path, road_class=["street", "autobahn", "Rue"])
    error = refused(laval, ImportOptions("roads", path, id_field="rid"), "1 feature(s) refused")
    assert refusal_reasons(error) == ["road_class: 'autobahn' (field road_class) fits no code of the list"]


def test_3d_geometries_are_flattened_and_counted(laval: str, tmp_path: Path) -> None:
    x, y = LAVAL_X, LAVAL_Y
    path = write_layer(
        tmp_path / "roads3d.gpkg",
        [f"LINESTRING Z({x} {y} 80, {x + 90} {y} 82)"],
        {"road_class": ["main"]},
        geometry_type="LineString Z",
    )
    report = import_layer(laval, ImportOptions("roads", path))
    assert (report.inserted, report.dropped_z) == (1, 1)
    with psycopg.connect(laval) as conn:
        assert (
            conn.execute("SELECT ST_NDims(geom) FROM patrimoine.road WHERE source = 'roads3d.gpkg'").fetchone()[0] == 2
        )


def test_mixed_geometry_types_in_geojson(laval: str, tmp_path: Path) -> None:
    x, y = -0.77, 48.07  # Laval, WGS84
    features = [
        {
            "type": "Feature",
            "properties": {"road_class": "street"},
            "geometry": {"type": "LineString", "coordinates": [[x, y], [x + 0.001, y]]},
        },
        {
            "type": "Feature",
            "properties": {"road_class": "street"},
            "geometry": {"type": "Point", "coordinates": [x, y]},
        },
        {
            "type": "Feature",
            "properties": {"road_class": "street"},
            "geometry": {"type": "Polygon", "coordinates": [[[x, y], [x + 0.001, y], [x, y + 0.001], [x, y]]]},
        },
    ]
    path = tmp_path / "mixed.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    error = refused(laval, ImportOptions("roads", path), "mixed.geojson", "2 feature(s) refused")
    assert refusal_reasons(error) == [
        "wrong geometry type: Point in a layer of LineString",
        "wrong geometry type: Polygon in a layer of LineString",
    ]
    report = import_layer(laval, ImportOptions("roads", path, skip_refused=True, report_dir=tmp_path))
    assert (report.inserted, report.refused) == (1, 2)


def test_zip_with_several_shapefiles(laval: str, tmp_path: Path) -> None:
    a = roads_file(tmp_path, "a.shp")
    b = roads_file(tmp_path, "b.shp")
    archive = tmp_path / "roads.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in [*tmp_path.glob("a.*"), *tmp_path.glob("b.*")]:
            zf.write(f, f.name)
    refused(laval, ImportOptions("roads", archive), "roads.zip", "several layers (a, b)", "--layer-name")
    report = import_layer(laval, ImportOptions("roads", archive, layer_name="b", id_field="rid"))
    assert report.inserted == 3 and a.exists() and b.exists()


def test_wrong_srs(laval: str, tmp_path: Path) -> None:
    path = roads_file(tmp_path)
    path.with_suffix(".prj").unlink()
    refused(laval, ImportOptions("roads", path, srs="EPSG:4326"), "outside the area of use", "--srs")
    refused(laval, ImportOptions("roads", path, srs="EPSG:3857"), "far from every commune", "--srs")


def test_features_outside_every_commune(laval: str, tmp_path: Path) -> None:
    path = roads_file(tmp_path, geoms=[road(0), road(20_000), road(400)])
    error = refused(laval, ImportOptions("roads", path, id_field="rid"), "1 feature(s) refused")
    assert refusal_reasons(error) == ["outside every commune"]


def test_unknown_commune_field_value(laval: str, tmp_path: Path) -> None:
    path = roads_file(tmp_path, commune=["Laval", "L'Huisserie", "Paris"])
    error = refused(
        laval, ImportOptions("roads", path, id_field="rid", commune_field="commune"), "1 feature(s) refused"
    )
    assert refusal_reasons(error) == ["unknown commune 'Paris' (field commune)"]
    report = import_layer(
        laval,
        ImportOptions("roads", path, id_field="rid", commune_field="commune", skip_refused=True, report_dir=tmp_path),
    )
    with psycopg.connect(laval) as conn:
        communes = [
            r[0]
            for r in conn.execute(
                "SELECT commune_insee FROM patrimoine.road WHERE source = 'roads.shp' ORDER BY source_id"
            )
        ]
    assert report.inserted == 2 and communes == ["53130", "53119"]  # "L'Huisserie" is "Huisserie"


def test_a_commune_field_named_with_quotes_and_percent(laval: str, tmp_path: Path) -> None:
    # a field name is the file's, pasted into the refusal's text: a quote or a % in it must not break the SQL
    odd = "commune d'implantation (%)"
    path = roads_file(tmp_path, name="roads.geojson", **{odd: ["Laval", None, "Paris"]})
    error = refused(laval, ImportOptions("roads", path, id_field="rid", commune_field=odd), "2 feature(s) refused")
    assert sorted(refusal_reasons(error)) == [
        f"no commune (field {odd} is empty)",
        f"unknown commune 'Paris' (field {odd})",
    ]


def test_unknown_map_and_id_fields(laval: str, tmp_path: Path) -> None:
    path = roads_file(tmp_path)
    refused(
        laval,
        ImportOptions("roads", path, mapping={"name": "NOM_VOIE"}),
        "--map name",
        "no field 'NOM_VOIE'",
        "rid, road_class",
    )
    refused(laval, ImportOptions("roads", path, mapping={"colour": "rid"}), "'colour' is neither a column")
    refused(laval, ImportOptions("roads", path, id_field="gid"), "--id-field", "no field 'gid'")


def test_unsupported_and_missing_files(laval: str, tmp_path: Path) -> None:
    bad = tmp_path / "roads.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really")
    refused(laval, ImportOptions("roads", bad), "unsupported file type '.xlsx'")
    refused(laval, ImportOptions("roads", tmp_path / "nowhere.shp"), "nowhere.shp", "file not found")
    fake = tmp_path / "fake.gpkg"
    fake.write_bytes(b"this is not a geopackage" * 100)
    refused(laval, ImportOptions("roads", fake), "fake.gpkg", "cannot be read")


def test_no_communes_loaded(db_url: str, tmp_path: Path) -> None:
    refused(db_url, ImportOptions("roads", roads_file(tmp_path)), "no communes", "import communes")


def test_imports_into_one_layer_do_not_interleave(laval: str, tmp_path: Path) -> None:
    with psycopg.connect(laval) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(hashtext('gis_patrimoine.import.road'))")
        refused(
            laval, ImportOptions("roads", roads_file(tmp_path), wait_seconds=0.5), "another import into road is running"
        )
    report = import_layer(laval, ImportOptions("roads", roads_file(tmp_path), id_field="rid"))
    assert report.inserted == 3


def test_modes_upsert_append_replace(laval: str, tmp_path: Path) -> None:
    first = roads_file(tmp_path, n=3)
    import_layer(laval, ImportOptions("roads", first, id_field="rid"))
    shutil.rmtree(tmp_path / "v2", ignore_errors=True)
    (tmp_path / "v2").mkdir()
    second = roads_file(tmp_path / "v2", n=2, width_m=["5.5", "7"])  # feature 1 changed, feature 2 gone
    up = import_layer(laval, ImportOptions("roads", second, id_field="rid"))
    assert (up.inserted, up.updated, up.unchanged, up.retired) == (0, 1, 1, 0)
    app = import_layer(laval, ImportOptions("roads", second, id_field="rid", mode="append"))
    assert (app.inserted, app.updated) == (0, 0)
    rep = import_layer(laval, ImportOptions("roads", second, id_field="rid", mode="replace"))
    assert (rep.inserted, rep.updated, rep.unchanged, rep.retired) == (0, 0, 2, 1)
    with psycopg.connect(laval) as conn:
        rows = conn.execute("SELECT source, source_id, width_m FROM patrimoine.road ORDER BY 1, 2").fetchall()
        deleted = conn.execute(
            "SELECT old_values ->> 'source_id' FROM patrimoine_sys.history WHERE operation = 'DELETE'"
        ).fetchall()
        jobs = conn.execute(
            "SELECT count(*) FROM patrimoine_sys.history h JOIN patrimoine_sys.import_job j "
            "ON j.id = h.import_job_id WHERE h.layer = 'road'"
        ).fetchone()[0]
    assert rows == [("earlier.shp", "1", None), ("roads.shp", "0", 5.5), ("roads.shp", "1", 7.0)]
    assert deleted == [("2",)]  # retired, and kept in the history
    assert jobs == 5  # 3 inserts, 1 update, 1 retirement, each linked to its import job


def test_manual_edits_to_columns_the_source_lacks_survive_reimport(laval: str, tmp_path: Path) -> None:
    path = roads_file(tmp_path)
    import_layer(laval, ImportOptions("roads", path, id_field="rid"))
    with psycopg.connect(laval) as conn:
        conn.execute(
            "UPDATE patrimoine.road SET condition = 'poor', name = 'Rue Neuve' WHERE source_id = '0' "
            "AND source = 'roads.shp'"
        )
    again = import_layer(laval, ImportOptions("roads", path, id_field="rid"))
    assert again.unchanged == 3
    with psycopg.connect(laval) as conn:
        assert conn.execute(
            "SELECT condition, name FROM patrimoine.road WHERE source_id = '0' AND source = 'roads.shp'"
        ).fetchone() == ("poor", "Rue Neuve")


def test_csv_with_lon_lat_and_french_labels(laval: str, tmp_path: Path) -> None:
    path = tmp_path / "lampadaires.csv"
    path.write_text(
        "id;lon;lat;lamp_type;power_w\n1;-0.7700;48.0700;LED;40\n2;-0.7710;48.0710;Sodium haute pression;150\n",
        encoding="utf-8",
    )
    report = import_layer(laval, ImportOptions("street_lights", path, srs="EPSG:4326", id_field="id"))
    assert (report.inserted, report.refused) == (2, 0)
    with psycopg.connect(laval) as conn:
        rows = conn.execute(
            "SELECT source_id, lamp_type, power_w, commune_insee FROM patrimoine.street_light ORDER BY 1"
        ).fetchall()
    assert rows == [("1", "led", 40, "53130"), ("2", "hps", 150, "53130")]


def test_street_lights_are_linked_to_the_nearest_road(laval: str, tmp_path: Path) -> None:
    x, y = LAVAL_X + 5050, LAVAL_Y  # the fixture's road runs from LAVAL_X + 5000 to + 5100 at LAVAL_Y
    path = write_layer(
        tmp_path / "lights.gpkg",
        [f"POINT({x} {y + 8})", f"POINT({x} {y + 400})"],
        {"lamp_type": ["led", "led"]},
        geometry_type="Point",
    )
    import_layer(laval, ImportOptions("street_lights", path))
    with psycopg.connect(laval) as conn:
        linked = conn.execute(
            "SELECT l.source_id, r.source FROM patrimoine.street_light l LEFT JOIN patrimoine.road r "
            "ON r.id = l.road_id ORDER BY 1"
        ).fetchall()
    assert linked == [("1", "earlier.shp"), ("2", None)]  # within 50 m: linked; farther: left empty
