"""Trees, litter bins and gullies: imported from OpenStreetMap-like and municipal files, placed by the demo where
a commune has them, and covered by the analyses (workload, rounds with their frequency, machines)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psycopg
import pyogrio
import pytest
import shapely

from gis_patrimoine.importer import ImportFailed, ImportOptions, import_layer
from tests.importing import LAVAL_X, LAVAL_Y, write_layer
from tests.test_import_broken import laval  # noqa: F401 (fixture)


def _points(n: int, dx: float = 5000.0) -> list[str]:
    """Points 15 m from the `laval` fixture's road (at dx 5000 to 5100), or elsewhere with another dx."""
    return [f"POINT({LAVAL_X + dx + 20 * i} {LAVAL_Y + 15})" for i in range(n)]


def _osm(tags: list[dict[str, str]]) -> list[str]:
    """OSM's `other_tags` field as ogr2ogr's OSM driver writes it: "k"=>"v" pairs."""
    return [",".join(f'"{k}"=>"{v}"' for k, v in t.items()) for t in tags]


def _rows(url: str, table: str, columns: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT {columns} FROM patrimoine.{table} ORDER BY source_id").fetchall()  # noqa: S608


def test_trees_from_openstreetmap_and_from_a_commune_s_file(laval: str, tmp_path: Path) -> None:  # noqa: F811
    osm = write_layer(
        tmp_path / "points.shp",
        _points(3),
        {
            "osm_id": ["101", "102", "103"],
            "other_tags": _osm(
                [
                    {"natural": "tree", "genus": "Tilia", "species": "Tilia cordata", "height": "12"},
                    {"natural": "tree", "genus": "Platanus", "height": "about 20 m", "leaf_type": "broadleaved"},
                    {"natural": "tree", "taxon": "Quercus robur", "start_date": "1975"},
                ]
            ),
        },
        geometry_type="Point",
        encoding="ISO-8859-1",
    )
    report = import_layer(laval, ImportOptions("trees", osm, profile="osm", id_field="osm_id"))
    assert (report.inserted, report.refused) == (3, 0)
    rows = _rows(laval, "tree", "source_id, genus, species, height_m, installed_year, extra ->> 'height_m', extra")
    assert rows[0][:5] == ("101", "Tilia", "Tilia cordata", 12.0, None)
    assert rows[1][:5] == ("102", "Platanus", None, None, None) and rows[1][5] == "about 20 m"  # OSM: kept, lenient
    assert rows[1][6]["leaf_type"] == "broadleaved"  # unmapped tags are kept
    assert rows[2][2:5] == ("Quercus robur", None, 1975)
    # a commune's file: French field names, Latin-1, one girth that is not a number and one year out of range
    municipal = write_layer(
        tmp_path / "arbres_é.shp",
        _points(4, dx=500.0),
        {
            "NUM": ["A1", "A2", "A3", "A4"],
            "GENRE": ["Tilia", "Acer", "Fraxinus", "Betula"],
            "ESSENCE": ["Tilleul à petites feuilles", "Érable plane", "Frêne", "Bouleau"],
            "HAUTEUR": ["14.5", "8", "11", "6"],
            "CIRCONF": ["145", "gros", "90", "60"],
            "ANNEE_PLAN": ["1962", "1990", "3012", "2005"],
            "ETAT": ["Bon", "Moyen", "Dangereux", "Mort"],
        },
        geometry_type="Point",
        encoding="ISO-8859-1",
    )
    with pytest.raises(ImportFailed) as refused:
        import_layer(laval, ImportOptions("trees", municipal, profile="municipal", id_field="NUM"))
    reasons = {feature.split("(id ")[1].rstrip(")"): reason for feature, reason in refused.value.report.refusals}
    assert "girth_cm: 'gros' (field CIRCONF) is not an integer" in reasons["A2"]
    assert "installed_year" in reasons["A3"] and "3012" in reasons["A3"]
    assert len(_rows(laval, "tree", "source_id")) == 3  # all or nothing: the file left nothing
    report = import_layer(
        laval, ImportOptions("trees", municipal, profile="municipal", id_field="NUM", skip_refused=True)
    )
    assert (report.inserted, report.refused) == (2, 2)
    municipal_rows = [r for r in _rows(laval, "tree", "source_id, species, girth_cm, condition") if r[0][0] == "A"]
    assert municipal_rows == [
        ("A1", "Tilleul à petites feuilles", 145, "good"),
        ("A4", "Bouleau", 60, "out_of_service"),
    ]


def test_litter_bins_from_openstreetmap_and_from_a_commune_s_file(laval: str, tmp_path: Path) -> None:  # noqa: F811
    osm = write_layer(
        tmp_path / "bins.gpkg",
        _points(3),
        {
            "osm_id": ["1", "2", "3"],
            "other_tags": _osm(
                [
                    {"amenity": "waste_basket"},
                    {"amenity": "waste_basket", "waste": "dog_excrement;trash"},
                    {"amenity": "vending_machine", "vending": "excrement_bags"},
                ]
            ),
        },
        geometry_type="Point",
    )
    report = import_layer(laval, ImportOptions("litter_bins", osm, profile="osm", id_field="osm_id"))
    assert (report.inserted, report.refused) == (3, 0)
    assert _rows(laval, "litter_bin", "source_id, bin_type, setting") == [
        ("1", "basket", "residential"),  # the profile's defaults: a plain basket in a residential street
        ("2", "dog_waste", "residential"),
        ("3", "dog_waste", "residential"),
    ]
    municipal = write_layer(
        tmp_path / "corbeilles.shp",
        _points(4, dx=500.0),
        {
            "ID": ["C1", "C2", "C3", "C4"],
            "TYPE": ["Corbeille", "Support sac Vigipirate", "Distributeur canin", "Colonne à verre"],
            "VOLUME": ["60", "110", "15", "3000"],
            "SECTEUR": ["Centre-ville", "Arrêt de bus", "Parc", "École"],
        },
        geometry_type="Point",
        encoding="ISO-8859-1",
    )
    report = import_layer(
        laval, ImportOptions("litter_bins", municipal, profile="municipal", id_field="ID", skip_refused=True)
    )
    assert (report.inserted, report.refused) == (3, 1)
    (reason,) = [r for f, r in report.refusals if "C4" in f]
    assert "bin_type" in reason and "Colonne à verre" in reason  # a glass bank is not a litter bin: said, not guessed
    assert _rows(laval, "litter_bin", "source_id, bin_type, capacity_l, setting")[3:] == [
        ("C1", "basket", 60, "town_centre"),
        ("C2", "bag_holder", 110, "bus_stop"),
        ("C3", "dog_waste", 15, "park"),
    ]


def test_gullies_from_openstreetmap_and_from_a_commune_s_file(laval: str, tmp_path: Path) -> None:  # noqa: F811
    osm = write_layer(
        tmp_path / "drains.geojson",
        _points(3),
        {
            "osm_id": ["7", "8", "9"],
            "other_tags": _osm(
                [
                    {"manhole": "drain", "substance": "rainwater"},
                    {"man_made": "storm_drain", "inlet": "kerb"},
                    {"manhole": "drain", "substance": "sewage"},
                ]
            ),
        },
        geometry_type="Point",
        crs="EPSG:2154",
    )
    report = import_layer(laval, ImportOptions("gullies", osm, profile="osm", id_field="osm_id"))
    assert (report.inserted, report.refused) == (3, 0)
    rows = _rows(laval, "gully", "source_id, gully_type, network, road_id IS NOT NULL")
    assert rows == [
        ("7", "grate", "stormwater", True),
        ("8", "kerb_inlet", "unknown", True),
        ("9", "grate", "combined", True),
    ]
    municipal = write_layer(
        tmp_path / "avaloirs.shp",
        _points(3, dx=500.0),
        {
            "IDENT": ["AV1", "AV2", "AV3"],
            "TYPE_OUVR": ["Grille", "Avaloir", "Regard"],
            "RESEAU": ["Pluvial", "Unitaire", "Pluvial"],
            "ANNEE_POSE": ["1978", "1965", "2001"],
            "ETAT": ["Bon", "Obstrué", "Bon"],
        },
        geometry_type="Point",
        encoding="ISO-8859-1",
    )
    with pytest.raises(ImportFailed) as refused:
        import_layer(laval, ImportOptions("gullies", municipal, profile="municipal", id_field="IDENT"))
    ((feature, reason),) = refused.value.report.refusals
    assert feature.endswith("(id AV3)") and "gully_type" in reason and "Regard" in reason
    fixed = write_layer(
        tmp_path / "avaloirs2.shp",
        _points(2, dx=500.0),
        {
            "IDENT": ["AV1", "AV2"],
            "TYPE_OUVR": ["Grille", "Avaloir"],
            "RESEAU": ["Pluvial", "Unitaire"],
            "ANNEE_POSE": ["1978", "1965"],
            "ETAT": ["Bon", "Obstrué"],
        },
        geometry_type="Point",
        encoding="ISO-8859-1",
    )
    import_layer(laval, ImportOptions("gullies", fixed, profile="municipal", id_field="IDENT"))
    assert _rows(laval, "gully", "source_id, gully_type, network, installed_year, condition")[3:] == [
        ("AV1", "grate", "stormwater", 1978, "good"),
        ("AV2", "kerb_inlet", "combined", 1965, "poor"),
    ]


def test_the_demo_places_them_where_a_commune_has_them(tmp_path: Path) -> None:
    """Trees along the main streets and in parks, bins in centres, at bus stops, schools and parks, gullies along
    the kerbs every 30–50 m; at scale 1 and at a small scale."""
    from gis_patrimoine.demo.generate import generate

    for scale in (1.0, 0.1):
        summary = generate(tmp_path / str(scale), scale=scale, seed=1)
        assert all(summary.counts[k] > 0 for k in ("trees", "litter_bins", "gullies")), summary.counts
    out = tmp_path / "1.0"

    def read(layer: str, *columns: str) -> tuple[np.ndarray, dict]:
        _, table = pyogrio.read_arrow(out / f"{layer}.gpkg", columns=list(columns))
        return shapely.from_wkb(table.column("geom").to_numpy(zero_copy_only=False)), {
            c: np.array(table.column(c).to_pylist()) for c in columns
        }

    roads, road_cols = read("roads", "road_class")
    green, _ = read("green_spaces", "kind")
    trees, _ = read("trees", "genus")
    street = shapely.STRtree(roads[np.isin(road_cols["road_class"], ["main", "secondary", "street"])])
    near_street = street.query(trees, predicate="dwithin", distance=8.0)[0]
    parks = shapely.STRtree(green)
    in_green = parks.query(trees, predicate="within")[0]
    assert len(np.union1d(near_street, in_green)) == len(trees)  # every tree lines a street or stands in a park
    assert 0.3 < len(np.unique(in_green)) / len(trees) < 0.9
    bins, bin_cols = read("litter_bins", "setting")
    settings = dict(zip(*np.unique(bin_cols["setting"], return_counts=True), strict=True))
    assert set(settings) == {"town_centre", "bus_stop", "school", "park", "residential"}
    buildings, building_cols = read("buildings", "use")
    schools = buildings[building_cols["use"] == "school"]
    assert all(shapely.dwithin(bins[bin_cols["setting"] == "school"], s, 40).any() for s in schools)
    gullies, _ = read("gullies", "network")
    kerbed = street.query(gullies, predicate="dwithin", distance=4.0)[0]
    assert len(np.unique(kerbed)) == len(gullies)
    # along the kerbs every 30 to 50 m (alternating sides, both sides of the main streets): the nearest is that far
    _, nearest = shapely.STRtree(gullies).query_nearest(gullies, exclusive=True, return_distance=True)
    assert 15 <= np.median(nearest) <= 50


def test_workload_machines_and_diagnostic_cover_them(demo_db: str) -> None:
    """Workload from the catalogue (bins in centres 130 times a year, elsewhere 52; gullies once with a gully
    sucker; trees inspected yearly, pruned every 4 years), and the machines: a gully sucker nobody holds."""
    from gis_patrimoine.analysis.diagnostic import diagnostic
    from gis_patrimoine.analysis.equipment import equipment
    from gis_patrimoine.analysis.workload import workload

    with psycopg.connect(demo_db) as conn:
        rows = {(r.commune, r.activity): r for r in workload(conn, communes=["53130"])}
        centre = conn.execute(
            "SELECT count(*) FROM patrimoine.litter_bin WHERE commune_insee = '53130' AND setting = 'town_centre'"
        ).fetchone()[0]
        gullies = conn.execute("SELECT count(*) FROM patrimoine.gully WHERE commune_insee = '53130'").fetchone()[0]
        trees = conn.execute("SELECT count(*) FROM patrimoine.tree WHERE commune_insee = '53130'").fetchone()[0]
        machines = {m["equipment"]: m for m in equipment(conn)["equipment"]}
        needs = {m["type"]: m for m in diagnostic(conn)["machines"]}
    emptying = rows[("53130", "bin_emptying_centre")]
    assert (emptying.assets, emptying.visits_per_year) == (centre, 130) and centre > 0
    assert emptying.hours_per_year == pytest.approx(centre * 130 * 2.5 / 60)
    assert rows[("53130", "bin_emptying")].visits_per_year == 52
    assert rows[("53130", "gully_cleaning")].hours_per_year == pytest.approx(gullies * 6 / 60)
    assert rows[("53130", "pruning")].hours_per_year == pytest.approx(trees * 40 / 4 / 60)
    assert (rows[("53130", "tree_inspection")].service, rows[("53130", "gully_cleaning")].service) == (
        "green_spaces",
        "roads",
    )
    sucker = machines["gully_sucker"]
    assert sucker["units_held"] == 0 and sucker["machine_days"] > 0 and sucker["units_needed_pooled"] >= 1
    assert needs["gully_sucker"]["held"] == 0 and needs["gully_sucker"]["machine_days_needed"] > 0


def test_bin_rounds_in_one_commune_with_their_frequency(demo_rw: str, tmp_path: Path) -> None:
    """The most frequent round a commune runs: one pass over Laval's town-centre bins, and the year it makes
    (130 passes), through the command line a route planner uses."""
    from tests.test_migrations import run_cli

    result = run_cli(
        "--format", "json", "analyse", "rounds", "roads", "--activity", "bin_emptying_centre", "--commune", "53130",
        "--seconds", "2", url=demo_rw,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    words = " ".join(result.stderr.split())
    with psycopg.connect(demo_rw) as conn:
        plan_id, summary = conn.execute(
            "SELECT id, summary FROM analysis.round_plan WHERE activity = 'bin_emptying_centre'"
        ).fetchone()
        stops = conn.execute(
            "SELECT b.setting, count(*) FROM analysis.round_stop s, unnest(s.asset_ids) a "
            "JOIN patrimoine.litter_bin b ON b.id = a WHERE s.plan_id = %s GROUP BY 1",
            (plan_id,),
        ).fetchall()
        centre = conn.execute(
            "SELECT count(*) FROM patrimoine.litter_bin WHERE commune_insee = '53130' AND setting = 'town_centre'"
        ).fetchone()[0]
    assert stops == [("town_centre", centre)]  # every centre bin once, and no other
    assert summary["passes_per_year"] == 130
    assert summary["km_per_year"] == pytest.approx((summary["km_travel"] + summary["km_work"]) * 130, abs=0.1)
    assert "This pass is made 130 times a year (2.5 a week)" in words
    assert f"{summary['km_per_year']:,.0f} km" in words
