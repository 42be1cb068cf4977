"""Import options and rules the README promises, on files built by hand with known answers: the DBF's
language driver, `--encoding`, `--map` for a field a profile reads, a polygon given to the commune holding its
largest share (not its centroid's)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from gis_patrimoine.importer import ImportOptions, import_layer
from tests.importing import road, write_layer
from tests.test_import_broken import laval  # noqa: F401 (fixture)
from tests.test_migrations import CLI, run_cli

# "Œuvre – Église": œ (0x9C) and – (0x96) exist in Windows-1252, not in Latin-1 (where they are control codes)
NAME = "Allée de l'Œuvre – Église"


def cp1252_shapefile(tmp_path: Path, ldid: int) -> Path:
    """Three roads whose names are Windows-1252 bytes, no .cpg, and `ldid` as the DBF's language driver byte."""
    path = write_layer(
        tmp_path / "voies.shp",
        [road(300 * i) for i in range(3)],
        {
            "rid": ["1", "2", "3"],
            "name": [NAME, "Rue Ambroise Paré", "Quai d'Avesnières"],
            "road_class": ["street"] * 3,
        },
        geometry_type="LineString",
        encoding="cp1252",
    )
    path.with_suffix(".cpg").unlink()
    dbf = path.with_suffix(".dbf")
    data = bytearray(dbf.read_bytes())
    assert NAME.encode("cp1252") in data
    data[29] = ldid
    dbf.write_bytes(bytes(data))
    return path


def names(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM patrimoine.road WHERE source = 'voies.shp'")}


def test_the_dbf_language_driver_says_the_encoding(laval: str, tmp_path: Path) -> None:  # noqa: F811
    path = cp1252_shapefile(tmp_path, ldid=0x03)  # 0x03: Windows ANSI (code page 1252)
    report = import_layer(laval, ImportOptions("roads", path, id_field="rid"))
    assert report.inserted == 3
    assert names(laval) == {NAME, "Rue Ambroise Paré", "Quai d'Avesnières"}


def test_encoding_option_overrides_the_guess(laval: str, tmp_path: Path) -> None:  # noqa: F811
    path = cp1252_shapefile(tmp_path, ldid=0)  # nothing says: not UTF-8, so read as Latin-1 ...
    guessed = run_cli("import", "roads", str(path), "--id-field", "rid", "--dry-run", url=laval)
    assert guessed.returncode == 0, guessed.stderr
    done = run_cli("import", "roads", str(path), "--id-field", "rid", "--encoding", "cp1252", url=laval)
    assert done.returncode == 0, done.stderr  # ... unless the technician says better
    assert NAME in names(laval)
    latin1 = run_cli("import", "roads", str(path), "--id-field", "rid", "--encoding", "latin-1", url=laval)
    assert latin1.returncode == 0, latin1.stderr
    assert NAME not in names(laval) and "Allée de l'\x8cuvre \x96 Église" in names(laval)  # what Latin-1 makes of it
    unknown = run_cli("import", "roads", str(path), "--id-field", "rid", "--encoding", "klingon", url=laval)
    assert unknown.returncode != 0 and "unknown encoding 'klingon'" in unknown.stdout + unknown.stderr


def test_map_names_the_field_a_profile_reads(laval: str, tmp_path: Path) -> None:  # noqa: F811
    """An OSM extract whose `highway` tag was renamed KLASSE by some tool: `--profile osm --map highway=KLASSE`."""
    path = write_layer(
        tmp_path / "osm.gpkg",
        [road(300 * i) for i in range(3)],
        {"osm_id": ["10", "11", "12"], "KLASSE": ["primary", "residential", "track"], "name": ["A", "B", "C"]},
        geometry_type="LineString",
    )
    args = ["import", "roads", str(path), "--profile", "osm", "--id-field", "osm_id"]
    without = run_cli(*args, url=laval)
    assert without.returncode != 0 and "road_class" in without.stdout + without.stderr  # no class: refused, named
    done = run_cli(*args, "--map", "highway=KLASSE", url=laval)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(laval) as conn:
        classes = dict(conn.execute("SELECT source_id, road_class FROM patrimoine.road WHERE source = 'osm.gpkg'"))
    assert classes == {"10": "main", "11": "street", "12": "track"}  # the osm profile's values, read from KLASSE


@pytest.fixture
def two_squares(db_url: str) -> str:
    """Two communes side by side: A from x = 400,000 to 401,000, B from 401,000 to 402,000."""
    with psycopg.connect(db_url) as conn:
        for insee, x in (("53001", 400_000), ("53002", 401_000)):
            conn.execute(
                "INSERT INTO patrimoine.commune (insee, name, geom) VALUES (%s, %s, ST_Multi(ST_MakeEnvelope("
                "%s, 6780000, %s, 6781000, 2154)))",
                (insee, f"C{insee}", x, x + 1000),
            )
    return db_url


def test_a_polygon_goes_to_the_commune_holding_its_largest_share(two_squares: str, tmp_path: Path) -> None:
    y = 6_780_500
    shapes = {
        "mostly A": f"POLYGON((400800 {y}, 401100 {y}, 401100 {y + 100}, 400800 {y + 100}, 400800 {y}))",
        "mostly B": f"POLYGON((400950 {y}, 401400 {y}, 401400 {y + 100}, 400950 {y + 100}, 400950 {y}))",
        # 10,000 m² in B and a 900 m × 10 m arm (9,000 m²) in A: the centroid (x ≈ 400,813) lies in A,
        # the largest share in B
        "arm": f"POLYGON((400100 {y}, 401100 {y}, 401100 {y + 100}, 401000 {y + 100}, 401000 {y + 10}, "
        f"400100 {y + 10}, 400100 {y}))",
    }
    path = write_layer(
        tmp_path / "parcs.geojson",
        list(shapes.values()),
        {"pid": list(shapes), "kind": ["park"] * 3},
        geometry_type="Polygon",
    )
    report = import_layer(two_squares, ImportOptions("green_spaces", path, id_field="pid"))
    assert report.inserted == 3
    with psycopg.connect(two_squares) as conn:
        got = dict(conn.execute("SELECT source_id, commune_insee FROM patrimoine.green_space"))
        centroid_in = conn.execute(
            "SELECT c.insee FROM patrimoine.commune c, patrimoine.green_space g "
            "WHERE g.source_id = 'arm' AND ST_Contains(c.geom, ST_Centroid(g.geom))"
        ).fetchone()[0]
    assert got == {"mostly A": "53001", "mostly B": "53002", "arm": "53002"}
    assert centroid_in == "53001"  # so the rule really is the share, not the centroid


def test_a_geopackage_with_several_layers_needs_layer_name(laval: str, tmp_path: Path) -> None:  # noqa: F811
    from tests.test_import_broken import refused

    path = tmp_path / "voirie.gpkg"
    for name, n in (("rues", 2), ("chemins", 3)):
        write_layer(
            path, [road(300 * i) for i in range(n)], {"rid": [f"{name}{i}" for i in range(n)],
            "road_class": ["street"] * n}, layer=name, geometry_type="LineString",
        )  # fmt: skip
    refused(laval, ImportOptions("roads", path), "several layers (rues, chemins)", "--layer-name")
    report = import_layer(laval, ImportOptions("roads", path, layer_name="chemins", id_field="rid"))
    assert report.inserted == 3


@pytest.mark.parametrize("encoding", ["UTF-8", "ISO-8859-1"])
def test_a_dbf_with_neither_cpg_nor_language_driver_is_utf8_else_latin1(
    laval: str,  # noqa: F811
    tmp_path: Path,
    encoding: str,
) -> None:
    written = ["Rue de la Fontaine Saint-Père", "Chemin des Écoliers", "Quai d'Avesnières"]
    path = write_layer(
        tmp_path / "voies.shp", [road(300 * i) for i in range(3)],
        {"rid": ["1", "2", "3"], "name": written, "road_class": ["street"] * 3}, geometry_type="LineString",
        encoding=encoding,
    )  # fmt: skip
    path.with_suffix(".cpg").unlink(missing_ok=True)
    dbf = path.with_suffix(".dbf")
    data = bytearray(dbf.read_bytes())
    data[29] = 0
    dbf.write_bytes(bytes(data))
    assert import_layer(laval, ImportOptions("roads", path, id_field="rid")).inserted == 3
    assert names(laval) == set(written)


def test_csv_points_as_x_y_and_lon_lat_and_the_export_reads_back(laval: str, tmp_path: Path) -> None:  # noqa: F811
    from gis_patrimoine.exporter import export_layer
    from tests.importing import LAVAL_X, LAVAL_Y

    xy = tmp_path / "points.csv"
    xy.write_text(f"lid;X;Y;lamp_type\n1;{LAVAL_X};{LAVAL_Y};LED\n2;{LAVAL_X + 50};{LAVAL_Y};Sodium haute pression\n")
    report = import_layer(laval, ImportOptions("street_lights", xy, id_field="lid", srs="EPSG:2154"))
    assert report.inserted == 2
    lonlat = tmp_path / "lonlat.csv"
    lonlat.write_text("lid,lon,lat,lamp_type\n3,-0.7712,48.0702,led\n")
    assert import_layer(laval, ImportOptions("street_lights", lonlat, id_field="lid")).inserted == 1
    with psycopg.connect(laval) as conn:
        rows = conn.execute(
            "SELECT source_id, lamp_type, round(ST_X(geom)::numeric, 1), commune_insee FROM patrimoine.street_light "
            "ORDER BY source_id"
        ).fetchall()
    # codes matched by label, case and accents ignored ("Sodium haute pression" → hps, "LED" → led)
    assert [(r[0], r[1], r[3]) for r in rows] == [("1", "led", "53130"), ("2", "hps", "53130"), ("3", "led", "53130")]
    assert float(rows[1][2]) == LAVAL_X + 50
    out = tmp_path / "export.csv"
    export_layer(laval, "street_lights", out)
    header = out.read_text().splitlines()[0]
    assert "X" in header.split(",") and "Y" in header.split(",") and out.with_suffix(".prj").exists()
    again = import_layer(laval, ImportOptions("street_lights", out))  # no --srs: the .prj says it
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)


def test_multi_part_features_split_with_numbered_ids(laval: str, tmp_path: Path) -> None:  # noqa: F811
    from tests.importing import LAVAL_X, LAVAL_Y

    x, y = LAVAL_X, LAVAL_Y
    two = f"MULTILINESTRING(({x} {y}, {x + 100} {y}), ({x} {y + 500}, {x + 100} {y + 500}))"
    path = write_layer(
        tmp_path / "multi.geojson", [two, road(900)], {"rid": ["a", "b"], "road_class": ["street", "street"]},
        geometry_type="MultiLineString",
    )  # fmt: skip
    report = import_layer(laval, ImportOptions("roads", path, id_field="rid"))
    assert report.inserted == 3
    with psycopg.connect(laval) as conn:
        ids = [r[0] for r in conn.execute("SELECT source_id FROM patrimoine.road WHERE source = 'multi.geojson'")]
    assert sorted(ids) == ["a#1", "a#2", "b"]


def test_empty_geometries_are_refused_with_their_reason(laval: str, tmp_path: Path) -> None:  # noqa: F811
    from gis_patrimoine.importer import ImportRefused

    path = write_layer(
        tmp_path / "vides.geojson", [road(0), "LINESTRING EMPTY"],
        {"rid": ["ok", "vide"], "road_class": ["street"] * 2},
        geometry_type="LineString",
    )  # fmt: skip
    with pytest.raises(ImportRefused) as info:
        import_layer(laval, ImportOptions("roads", path, id_field="rid", report_dir=tmp_path))
    assert [("id vide" in f, "empty" in r) for f, r in info.value.report.refusals] == [(True, True)]


def test_refused_features_go_to_import_reports_by_default(laval: str, tmp_path: Path) -> None:  # noqa: F811
    path = write_layer(
        tmp_path / "mauvais.geojson", [road(0), road(300)], {"rid": ["1", "2"], "road_class": ["street", "nonsense"]},
        geometry_type="LineString",
    )  # fmt: skip
    done = subprocess.run(
        [*CLI, "import", "roads", str(path), "--id-field", "rid"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "DATABASE_URL": laval}, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    written = list((tmp_path / "import-reports").glob("mauvais*_refused.gpkg"))
    assert len(written) == 1 and "import-reports" in done.stdout + done.stderr


def test_a_latin1_csv_is_read_with_encoding(laval: str, tmp_path: Path) -> None:  # noqa: F811
    from tests.importing import LAVAL_X, LAVAL_Y

    path = tmp_path / "lampes.csv"
    data = f"lid;X;Y;lamp_type;name\n1;{LAVAL_X};{LAVAL_Y};led;Place de l'Église\n".encode("cp1252")
    path.write_bytes(data)
    done = run_cli(
        "import", "street_lights", str(path), "--id-field", "lid", "--srs", "EPSG:2154", "--encoding", "cp1252",
        url=laval,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with psycopg.connect(laval) as conn:
        extra = conn.execute("SELECT extra FROM patrimoine.street_light WHERE source_id = '1'").fetchone()[0]
    assert extra == {"name": "Place de l'Église"}  # unmapped: kept in extra, with its accent
    wrong = run_cli("import", "street_lights", str(path), "--id-field", "lid", "--srs", "EPSG:2154", url=laval)
    said = wrong.stdout + wrong.stderr  # not UTF-8: says where and the way out, before anything is written
    assert wrong.returncode != 0 and "--encoding" in said
    assert f"not UTF-8 text: byte {data.index(0xC9)} (line 2) is 0xc9" in said


def test_import_communes_with_other_field_names(db_url: str, tmp_path: Path) -> None:
    """A municipal file: code, name and population under other names, Latin-1, with the three options."""
    from gis_patrimoine.importer import CommuneOptions, import_communes

    path = write_layer(
        tmp_path / "communes.shp",
        ["POLYGON((400000 6780000, 401000 6780000, 401000 6781000, 400000 6781000, 400000 6780000))",
         "POLYGON((401000 6780000, 402000 6780000, 402000 6781000, 401000 6781000, 401000 6780000))"],
        {"CODGEO": ["53130", "53054"], "LIBELLE": ["Laval", "Changé"], "PMUN": [49728, 6270]},
        geometry_type="Polygon", encoding="ISO-8859-1",
    )  # fmt: skip
    done = run_cli(
        "import", "communes", str(path), "--code-field", "CODGEO", "--name-field", "LIBELLE",
        "--population-field", "PMUN", url=db_url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT insee, name, population FROM patrimoine.commune ORDER BY insee").fetchall()
    assert rows == [("53054", "Changé", 6270), ("53130", "Laval", 49728)]
    report = import_communes(db_url, CommuneOptions(path, code_field="CODGEO", name_field="LIBELLE"))
    assert report.unchanged == 2 and report.updated == 0  # the population kept when the file is read without it


def test_append_inserts_the_new_and_never_updates(laval: str, tmp_path: Path) -> None:  # noqa: F811
    first = write_layer(tmp_path / "v.geojson", [road(0), road(300)], {"rid": ["1", "2"], "road_class": ["street"] * 2},
                        geometry_type="LineString")  # fmt: skip
    import_layer(laval, ImportOptions("roads", first, id_field="rid", source="voirie"))
    changed = write_layer(
        tmp_path / "w.geojson", [road(0), road(300), road(600)],
        {"rid": ["1", "2", "3"], "road_class": ["main", "main", "main"]}, geometry_type="LineString",
    )  # fmt: skip
    report = import_layer(laval, ImportOptions("roads", changed, id_field="rid", source="voirie", mode="append"))
    assert (report.inserted, report.updated) == (1, 0)
    with psycopg.connect(laval) as conn:
        classes = dict(conn.execute("SELECT source_id, road_class FROM patrimoine.road WHERE source = 'voirie'"))
    assert classes == {"1": "street", "2": "street", "3": "main"}  # 1 and 2 as they were, 3 added


def test_code_values_match_english_labels_and_ignore_accents(laval: str, tmp_path: Path) -> None:  # noqa: F811
    from tests.importing import LAVAL_X, LAVAL_Y

    path = tmp_path / "lights.csv"
    rows = [("1", "High-pressure sodium"), ("2", "IODURES METALLIQUES"), ("3", "ballon fluorescent (mercure)")]
    path.write_text("lid,X,Y,lamp_type\n" + "".join(f"{i},{LAVAL_X + 10 * int(i)},{LAVAL_Y},{v}\n" for i, v in rows))
    import_layer(laval, ImportOptions("street_lights", path, id_field="lid", srs="EPSG:2154"))
    with psycopg.connect(laval) as conn:
        got = dict(conn.execute("SELECT source_id, lamp_type FROM patrimoine.street_light"))
    assert got == {"1": "hps", "2": "metal_halide", "3": "mercury"}


def test_encoded_text_keeps_its_prj_and_leaves_no_copy_behind(laval: str, tmp_path: Path) -> None:  # noqa: F811
    """A CSV exported with its .prj, re-saved in Windows-1252: read with --encoding and without --srs (the .prj
    still says the CRS); the UTF-8 copy made to read it is gone afterwards, and after a refusal too."""
    import tempfile

    from gis_patrimoine.importer import ImportFailed
    from gis_patrimoine.importer.source import open_source
    from tests.importing import LAVAL_X, LAVAL_Y

    def copies() -> set[str]:
        return {p.name for p in Path(tempfile.gettempdir()).glob("gp-utf8-*")}

    before = copies()
    path = tmp_path / "lampes.csv"
    path.write_bytes(f"lid;X;Y;lamp_type;rue\n1;{LAVAL_X};{LAVAL_Y};led;Rue de l'Œuvre\n".encode("cp1252"))
    path.with_suffix(".prj").write_text(
        'PROJCS["RGF93 v1 / Lambert-93",GEOGCS["RGF93 v1",DATUM["Reseau_Geodesique_Francais_1993_v1",SPHEROID["GRS '
        '1980",6378137,298.257222101]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Lambe'
        'rt_Conformal_Conic_2SP"],PARAMETER["latitude_of_origin",46.5],PARAMETER["central_meridian",3],PARAMETER['
        '"standard_parallel_1",49],PARAMETER["standard_parallel_2",44],PARAMETER["false_easting",700000],PARAMETER'
        '["false_northing",6600000],UNIT["metre",1]]'
    )
    report = import_layer(laval, ImportOptions("street_lights", path, id_field="lid", encoding="cp1252"))
    assert report.inserted == 1
    with psycopg.connect(laval) as conn:
        assert conn.execute("SELECT extra ->> 'rue' FROM patrimoine.street_light").fetchone()[0] == "Rue de l'Œuvre"
    (tmp_path / "sans.csv").write_bytes("a;b\n1;é\n".encode("cp1252"))  # no coordinates: refused after the copy
    with pytest.raises(ImportFailed, match="no coordinate columns"):
        open_source(tmp_path / "sans.csv", encoding="cp1252")
    import gc

    gc.collect()
    assert copies() == before


def test_a_character_cut_by_the_end_of_the_file_is_not_utf8(laval: str, tmp_path: Path) -> None:  # noqa: F811
    from gis_patrimoine.importer import ImportFailed
    from gis_patrimoine.importer.source import open_source

    path = tmp_path / "coupe.csv"
    path.write_bytes(b"lid,lon,lat,name\n1,-0.77,48.07,Caf\xc3")  # the first byte of "é", then nothing
    with pytest.raises(ImportFailed, match=r"not UTF-8 text: byte 34 \(line 2\) is 0xc3"):
        open_source(path)


def test_a_geojson_in_a_zip_is_utf8(laval: str, tmp_path: Path) -> None:  # noqa: F811
    import zipfile

    from gis_patrimoine.importer import ImportFailed
    from gis_patrimoine.importer.source import open_source

    geojson = '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "Allée"}, ' \
        '"geometry": {"type": "Point", "coordinates": [-0.77, 48.07]}}]}'  # fmt: skip
    archive = tmp_path / "l.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("lights.geojson", geojson.encode("latin-1"))
    with pytest.raises(ImportFailed, match=r"not UTF-8 text: byte \d+ \(line 1\) is 0xe9"):
        open_source(archive)
    with pytest.raises(ImportFailed, match="--encoding applies to shapefiles in a zip"):
        open_source(archive, encoding="latin-1")
