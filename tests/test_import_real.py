"""Imports of the real files in ../shared/data, with exact expected counts."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pyogrio
import pytest

from gis_patrimoine.exporter import export_layer
from gis_patrimoine.importer import CommuneOptions, ImportOptions, ImportRefused, import_communes, import_layer
from tests.importing import checksum


@pytest.fixture
def laval(db_url: str, shared_data: Path) -> str:
    report = import_communes(db_url, CommuneOptions(shared_data / "laval-agglo" / "COMMUNE.shp"))
    assert (report.read, report.inserted) == (20, 20)
    return db_url


@pytest.fixture
def andorra(db_url: str, shared_data: Path) -> str:
    report = import_communes(db_url, CommuneOptions(shared_data / "andorra" / "parishes.shp"))
    assert (report.read, report.inserted) == (6, 6)
    assert "codes were generated" in report.warnings[0]
    return db_url


def test_laval_communes_keep_their_accents_and_reimport_changes_nothing(laval: str, shared_data: Path) -> None:
    with psycopg.connect(laval) as conn:
        names = dict(conn.execute("SELECT insee, name FROM patrimoine.commune").fetchall())
        assert names["53034"] == "Bonchamp-lès-Laval" and names["53130"] == "Laval"
        area = conn.execute("SELECT round(sum(area_m2) / 1e6) FROM patrimoine.commune").fetchone()[0]
    assert 400 < area < 500  # km²: Laval Agglomération covers about 430 km²
    before = checksum(laval)
    again = import_communes(laval, CommuneOptions(shared_data / "laval-agglo" / "COMMUNE.shp"))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 20)
    assert checksum(laval) == before


def test_andorra_parishes_without_cpg_read_as_latin1(andorra: str) -> None:
    with psycopg.connect(andorra) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM patrimoine.commune")}
        codes = {r[0] for r in conn.execute("SELECT insee FROM patrimoine.commune")}
    assert "Sant Julià de Lòria" in names and len(names) == 6
    assert "SANT-JULIA-DE-LO" in codes


def osm_roads(path: Path, **kw) -> ImportOptions:
    return ImportOptions("roads", path, profile="osm", id_field="osm_id", **kw)


def test_andorra_roads_refused_as_a_whole_when_some_lie_outside(
    andorra: str, shared_data: Path, tmp_path: Path
) -> None:
    before = checksum(andorra)
    with pytest.raises(ImportRefused) as info:
        import_layer(andorra, osm_roads(shared_data / "andorra" / "roads.shp", report_dir=tmp_path))
    report = info.value.report
    assert (report.read, report.refused, report.inserted) == (1614, 345, 0)
    assert "nothing was written" in str(info.value) and "--skip-refused" in str(info.value)
    assert checksum(andorra) == before
    meta, _, geoms, fields = pyogrio.raw.read(report.refused_file)
    assert len(geoms) == 345 and "reason" in list(meta["fields"])
    reasons = fields[list(meta["fields"]).index("reason")]
    assert all(r.startswith("outside every commune") for r in reasons)  # Canillo is missing from the extract


def test_andorra_roads_import_with_skip_refused(andorra: str, shared_data: Path, tmp_path: Path) -> None:
    report = import_layer(
        andorra, osm_roads(shared_data / "andorra" / "roads.shp", skip_refused=True, report_dir=tmp_path)
    )
    assert (report.read, report.inserted, report.refused, report.split) == (1614, 1480, 345, 208)
    assert report.extra_fields == [] and report.kept_in_extra == 650  # OSM `layer` is mapped to `level`
    with psycopg.connect(andorra) as conn:
        classes = dict(conn.execute("SELECT road_class, count(*) FROM patrimoine.road GROUP BY 1").fetchall())
        assert classes == {
            "street": 420,
            "main": 306,
            "pedestrian": 273,
            "secondary": 148,
            "track": 147,
            "service": 99,
            "rural": 87,
        }
        row = conn.execute(
            "SELECT name, surface, oneway, speed_kmh, extra ->> 'ref' FROM patrimoine.road WHERE source_id = '6176755'"
        ).fetchone()
        assert row == ("Túnel d'Envalira", "asphalt", "no", 80, "CG-2")
        # a road crossing a parish boundary is split there; each piece keeps the id with a suffix
        pieces = conn.execute(
            "SELECT source_id, commune_insee FROM patrimoine.road WHERE source_id LIKE '6165877#%' ORDER BY 1"
        ).fetchall()
        assert len(pieces) >= 1 and all("#" in p[0] for p in pieces)
        gaps = conn.execute(
            "SELECT count(*) FROM patrimoine.road a JOIN patrimoine.road b ON b.source = a.source "
            "AND split_part(b.source_id, '#', 1) = split_part(a.source_id, '#', 1) AND a.source_id LIKE '%#%' "
            "AND b.source_id LIKE '%#%' "
            "AND split_part(b.source_id, '#', 2)::int = split_part(a.source_id, '#', 2)::int + 1 "
            "WHERE NOT ST_Equals(ST_EndPoint(a.geom), ST_StartPoint(b.geom))"
        ).fetchone()[0]
        assert gaps == 0  # pieces of a road cut at a boundary share their end point exactly: still routable

        inside = conn.execute(
            "SELECT count(*) FROM patrimoine.road r JOIN patrimoine.commune c ON "
            "c.insee = r.commune_insee WHERE NOT ST_CoveredBy(r.geom, ST_Buffer(c.geom, 0.01))"
        ).fetchone()[0]
        assert inside == 0
        free_text = conn.execute(
            "SELECT extra ->> 'speed_kmh' FROM patrimoine.road WHERE extra ? 'speed_kmh'"
        ).fetchall()
        assert ("90;30;90;30;90;30",) in free_text  # OSM free text kept, not lost
    before = checksum(andorra)
    again = import_layer(
        andorra, osm_roads(shared_data / "andorra" / "roads.shp", skip_refused=True, report_dir=tmp_path)
    )
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 1480)
    assert checksum(andorra) == before  # no history noise on an unchanged re-import


def test_andorra_buildings_and_green_spaces(andorra: str, shared_data: Path, tmp_path: Path) -> None:
    buildings = import_layer(
        andorra,
        ImportOptions(
            "buildings",
            shared_data / "andorra" / "buildings.shp",
            profile="osm",
            id_field="osm_way_id",
            skip_refused=True,
            report_dir=tmp_path,
        ),
    )
    assert (buildings.read, buildings.inserted, buildings.refused) == (292, 261, 31)
    green = import_layer(
        andorra,
        ImportOptions(
            "green_spaces", shared_data / "andorra" / "green_spaces.shp", profile="osm", id_field="osm_way_id"
        ),
    )
    assert (green.read, green.inserted, green.refused) == (19, 19, 0)
    with psycopg.connect(andorra) as conn:
        uses = dict(conn.execute("SELECT use, count(*) FROM patrimoine.building GROUP BY 1").fetchall())
        kinds = dict(conn.execute("SELECT kind, count(*) FROM patrimoine.green_space GROUP BY 1").fetchall())
        kept = conn.execute("SELECT count(*) FROM patrimoine.building WHERE extra ->> 'use' = 'yes'").fetchone()[0]
    assert uses == {"other": 261}
    assert kept == 259  # "building=yes" fits no use: the row says other, the raw value stays in extra
    meta, _, _, fields = pyogrio.raw.read(buildings.refused_file)
    names = fields[list(meta["fields"]).index("name")]
    assert "Santuari vell de Meritxell" in names  # the churches of Meritxell are in Canillo, missing here
    assert kinds == {"park": 6, "sports_ground": 12, "cemetery": 1}


@pytest.mark.parametrize("suffix", [".gpkg", ".shp", ".geojson", ".csv"])
def test_export_then_import_changes_nothing(andorra: str, shared_data: Path, tmp_path: Path, suffix: str) -> None:
    """In every format — GeoJSON through WGS84, CSV as WKT text — a re-imported export is unchanged: the same
    attributes and geometries within a millimetre; no row updated, no history written, no tile invalidated."""
    import_layer(andorra, osm_roads(shared_data / "andorra" / "roads.shp", skip_refused=True, report_dir=tmp_path))
    out = tmp_path / f"roads_export{suffix}"
    assert export_layer(andorra, "roads", out) == 1480
    with psycopg.connect(andorra) as conn:
        history = conn.execute("SELECT count(*) FROM patrimoine_sys.history").fetchone()[0]
        version = conn.execute("SELECT version FROM patrimoine_sys.data_version WHERE layer = 'road'").fetchone()[0]
    before = checksum(andorra)
    report = import_layer(andorra, ImportOptions("roads", out))
    assert (report.read, report.inserted, report.updated, report.unchanged) == (1480, 0, 0, 1480)
    assert checksum(andorra) == before
    with psycopg.connect(andorra) as conn:
        assert conn.execute("SELECT count(*) FROM patrimoine_sys.history").fetchone()[0] == history
        assert (
            conn.execute("SELECT version FROM patrimoine_sys.data_version WHERE layer = 'road'").fetchone()[0]
            == version
        )


def test_a_feature_moved_more_than_a_millimetre_is_updated(andorra: str, shared_data: Path, tmp_path: Path) -> None:
    import_layer(andorra, osm_roads(shared_data / "andorra" / "roads.shp", skip_refused=True, report_dir=tmp_path))
    out = tmp_path / "roads.geojson"
    export_layer(andorra, "roads", out)
    start = "SELECT id, ST_X(ST_StartPoint(ST_GeometryN(geom, 1))) FROM patrimoine.road ORDER BY id LIMIT 2"
    with psycopg.connect(andorra) as conn:
        exported = conn.execute(start).fetchall()
        # after the export, one road is moved 0.4 mm in the database and another 5 mm
        for (rid, _), dx in zip(exported, (0.0004, 0.005), strict=True):
            conn.execute("UPDATE patrimoine.road SET geom = ST_Translate(geom, %s, 0) WHERE id = %s", (dx, rid))
    report = import_layer(andorra, ImportOptions("roads", out))
    assert (report.updated, report.unchanged) == (1, 1479)  # the 5 mm one comes back; 0.4 mm is the same place
    with psycopg.connect(andorra) as conn:
        now = dict(conn.execute(start).fetchall())
    (first, x1), (second, x2) = exported
    assert now[first] - x1 == pytest.approx(0.0004, abs=1e-9)  # left as stored, at full precision
    assert now[second] - x2 == pytest.approx(0.0, abs=1e-6)  # back where the file has it


def test_export_filters_communes_and_reprojects(andorra: str, shared_data: Path, tmp_path: Path) -> None:
    import_layer(andorra, osm_roads(shared_data / "andorra" / "roads.shp", skip_refused=True, report_dir=tmp_path))
    out = tmp_path / "ordino.geojson"
    n = export_layer(andorra, "roads", out, communes=["ORDINO"])
    assert n == 275
    info = pyogrio.read_info(out)
    assert info["features"] == 275 and info["crs"] == "EPSG:4326"
    xmin, ymin, xmax, ymax = info["total_bounds"]
    assert 1.4 < xmin < xmax < 1.8 and 42.4 < ymin < ymax < 42.7
