"""Real clients against the server: GDAL's OAPIF driver, OWSLib, and the map page in headless Chromium."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import psycopg
import pytest
from owslib.ogcapi.features import Features

TABLES = {
    "communes": "patrimoine.commune",
    "depots": "patrimoine.depot",
    "roads": "patrimoine.road",
    "street_lights": "patrimoine.street_light",
    "green_spaces": "patrimoine.green_space",
    "buildings": "patrimoine.building",
    "trees": "patrimoine.tree",
    "litter_bins": "patrimoine.litter_bin",
    "gullies": "patrimoine.gully",
    "rounds": "analysis.round",
    "round_stops": "analysis.round_stop",
    "scenario_communes": "analysis.scenario_commune",
    "workload_grid": "analysis.workload_hex",
    "depot_areas": "analysis.depot_area",
    "service_zones": "analysis.service_zone",
    "opportunities": "analysis.opportunity",
    "network_issues": "analysis.network_issue",
    "diagnostic_communes": "analysis.diagnostic_commune",
    "arrangement_communes": "analysis.arrangement_commune",
}


def db_counts(db: str) -> dict[str, int]:
    with psycopg.connect(db) as conn:
        return {
            c: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
            for c, t in TABLES.items()
        }


def test_gdal_lists_every_collection_and_reads_every_item(api: str, demo_db: str, tmp_path: Path) -> None:
    listing = subprocess.run(
        ["ogrinfo", "-ro", "-q", f"OAPIF:{api}"], capture_output=True, text=True, check=True
    ).stdout
    assert {m for m in re.findall(r"\d+: (\w+)", listing)} == set(TABLES)
    expected = db_counts(demo_db)
    for collection in ("communes", "depots", "buildings", "green_spaces"):
        out = tmp_path / f"{collection}.gpkg"
        subprocess.run(
            ["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{api}", collection, "-oo", "PAGE_SIZE=500"],
            check=True,
            capture_output=True,
        )
        info = subprocess.run(
            ["ogrinfo", "-ro", "-so", "-al", str(out)], capture_output=True, text=True, check=True
        ).stdout
        assert f"Feature Count: {expected[collection]}" in info, collection


def test_gdal_feature_counts(api: str, demo_db: str) -> None:
    expected = db_counts(demo_db)
    for collection in ("roads", "street_lights"):
        info = subprocess.run(
            ["ogrinfo", "-ro", "-so", f"OAPIF:{api}", collection], capture_output=True, text=True, check=True
        ).stdout
        assert f"Feature Count: {expected[collection]}" in info


def test_owslib_features(api: str, demo_db: str) -> None:
    w = Features(api)
    assert {c["id"] for c in w.collections()["collections"]} == set(TABLES)
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in w.conformance()["conformsTo"]
    items = w.collection_items("communes", limit=50)
    assert len(items["features"]) == 20 == db_counts(demo_db)["communes"]
    laval = w.collection_item("communes", "53130")
    assert laval["properties"]["name"] == "Laval"
    queryables = w.collection_queryables("roads")
    assert "road_class" in queryables["properties"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.mark.browser
def test_map_page_renders_and_shows_attributes(api: str, browser, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    page.goto(f"{api}/map")
    page.wait_for_function(
        "window.gisPatrimoine && window.gisPatrimoine.ready && window.gisPatrimoine.map.loaded()", timeout=60_000
    )
    page.wait_for_timeout(1500)
    shot = tmp_path / "map.png"
    page.screenshot(path=str(shot))
    assert not errors and not page.evaluate("window.gisPatrimoine.errors")
    rendered = page.evaluate("window.gisPatrimoine.map.queryRenderedFeatures().length")
    assert rendered > 100
    overlays = 10  # the analysis results (off until switched on): network issues, diagnostic, arrangements…
    assert page.locator("#layers input").count() == 9 + overlays  # the inventory's nine, switched on
    assert page.locator("#layers input:checked").count() == 9
    assert page.locator("#commune option").count() == 21
    # zoom into Laval, click a road: its attributes pop up
    page.evaluate("window.gisPatrimoine.map.jumpTo({center: [-0.7715, 48.07], zoom: 16})")
    page.wait_for_function("window.gisPatrimoine.map.loaded()", timeout=30_000)
    page.wait_for_timeout(500)
    point = page.evaluate("""() => {
        const m = window.gisPatrimoine.map;
        const f = m.queryRenderedFeatures({layers: ['roads']})[0];
        const c = f.geometry.type === 'LineString' ? f.geometry.coordinates[0] : f.geometry.coordinates[0][0];
        const a = f.geometry.coordinates, p = m.project(a[Math.floor(a.length / 2)] || c);
        return [p.x, p.y];
    }""")
    page.mouse.click(point[0] + 16 * 16, point[1])  # the map sits 16rem right of the panel
    page.wait_for_selector(".maplibregl-popup", timeout=10_000)
    assert "road_class" in page.inner_text(".maplibregl-popup") or "commune_insee" in page.inner_text(
        ".maplibregl-popup"
    )
    # the commune filter keeps only Laval's features
    page.select_option("#commune", "53130")
    page.wait_for_timeout(500)
    communes = page.evaluate(
        "[...new Set(window.gisPatrimoine.map.queryRenderedFeatures({layers: ['roads']})"
        ".map(f => f.properties.commune_insee))]"
    )
    assert communes == ["53130"]
