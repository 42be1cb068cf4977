"""OGC API – Features over real HTTP: core, CRS, queryables and CQL2 filters, HTML, errors."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from gis_patrimoine.api.crs import CRS84
from gis_patrimoine.settings import Settings
from tests.importing import checksum
from tests.servers import running_server

STORAGE = "http://www.opengis.net/def/crs/EPSG/0/2154"


def get(url: str, **params) -> httpx.Response:
    return httpx.get(url, params=params, timeout=30)


def count(db: str, table: str, where: str = "true") -> int:
    with psycopg.connect(db) as conn:
        return conn.execute(f"SELECT count(*) FROM patrimoine.{table} WHERE {where}").fetchone()[0]  # noqa: S608


def test_landing_conformance_and_openapi(api: str) -> None:
    landing = get(f"{api}/").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= rels
    conformance = get(f"{api}/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conformance
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in conformance
    openapi = get(f"{api}/api").json()
    assert openapi["openapi"].startswith("3.") and "/collections/{collection_id}/items" in openapi["paths"]
    assert get(f"{api}/docs").status_code == 200


def test_the_catalogue_names_the_api_edge(api: str) -> None:
    """Collection ids, asset layers, profiles and services are listed in the OpenAPI document from the catalogue
    (none is written in the code), and a name the catalogue does not know is refused with the known ones."""
    from gis_patrimoine.catalogue import get_catalogue

    catalogue = get_catalogue()
    openapi = get(f"{api}/api").json()

    def enum(path: str, method: str, name: str) -> list[str]:
        param = next(p for p in openapi["paths"][path][method]["parameters"] if p["name"] == name)
        return next(o["enum"] for o in param["schema"].get("anyOf", [param["schema"]]) if "enum" in o)

    collections = [layer.collection for layer in catalogue.layers.values()]
    assert enum("/collections/{collection_id}/items", "get", "collection_id") == collections
    assets = [layer.collection for layer in catalogue.asset_layers]
    assert enum("/imports", "post", "layer") == assets and "osm" in enum("/imports", "post", "profile")
    services = catalogue.codelists["service"].codes
    assert enum("/analysis/workload", "get", "service") == services
    body = openapi["components"]["schemas"]["RoundsBody"]["properties"]["service"]
    assert body["enum"] == services
    refused = httpx.get(f"{api}/analysis/workload", params={"service": "snow"})
    assert refused.status_code == 400 and "services: " + ", ".join(services) in refused.json()["description"]
    refused = httpx.post(f"{api}/imports", params={"layer": "benches"}, content=b"x")
    assert refused.status_code == 400 and "asset layers: " + ", ".join(assets) in refused.json()["description"]
    missing = httpx.get(f"{api}/collections/benches/items")
    assert missing.status_code == 404 and "no collection 'benches'" in missing.json()["description"]


def test_collections_have_extent_and_crs(api: str) -> None:
    collections = {c["id"]: c for c in get(f"{api}/collections").json()["collections"]}
    assert set(collections) == {
        *("communes", "depots", "roads", "street_lights", "green_spaces", "buildings"),
        *("trees", "litter_bins", "gullies"),
        *("rounds", "round_stops", "scenario_communes", "workload_grid", "depot_areas", "service_zones"),
        *("opportunities", "network_issues", "diagnostic_communes", "arrangement_communes"),  # results, read-only
    }
    roads = collections["roads"]
    assert roads["storageCrs"] == STORAGE and CRS84 in roads["crs"]
    xmin, ymin, xmax, ymax = roads["extent"]["spatial"]["bbox"][0]
    assert -1.0 < xmin < xmax < -0.5 and 47.9 < ymin < ymax < 48.2


def test_paging_reads_every_feature_once(api: str, demo_db: str) -> None:
    ids: list[int] = []
    url = f"{api}/collections/depots/items?limit=5"
    while url:
        page = httpx.get(url, timeout=30).json()
        assert page["numberMatched"] == count(demo_db, "depot")
        ids += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert len(ids) == len(set(ids)) == count(demo_db, "depot")


def test_limit_is_capped(demo_db: str) -> None:
    assert Settings().max_limit == 10_000  # the README's figure
    with running_server(demo_db, settings=Settings(max_limit=25)) as api:  # a cap the demo's lights exceed
        url = f"{api}/collections/street_lights/items?limit=1000000&properties=lamp_type"
        ids: list[int] = []
        while url:
            page = httpx.get(url).json()
            assert page["numberReturned"] == len(page["features"]) <= 25
            ids += [f["id"] for f in page["features"]]
            url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
            assert url is None or "limit=25" in url  # the next page asks for what is served, not the million
        assert len(ids) == len(set(ids)) == page["numberMatched"] == count(demo_db, "street_light") > 25


def test_prev_and_next_links_walk_back_and_forth(api: str, demo_db: str) -> None:
    url = f"{api}/collections/depots/items"
    first = get(url, limit=2).json()
    assert "prev" not in {link["rel"] for link in first["links"]}
    third = get(url, limit=2, offset=4).json()
    links = {link["rel"]: link["href"] for link in third["links"]}
    back = httpx.get(links["prev"]).json()  # offset 2
    assert [f["id"] for f in back["features"]] == [f["id"] for f in get(url, limit=2, offset=2).json()["features"]]
    assert "offset=2" in links["prev"] and "offset=6" in links["next"]
    near_start = {link["rel"]: link["href"] for link in get(url, limit=5, offset=2).json()["links"]}
    assert "offset=0" in near_start["prev"]  # never a negative offset


@pytest.mark.parametrize("srid", [4326, 3857])
def test_output_in_wgs84_and_web_mercator(api: str, demo_db: str, srid: int) -> None:
    uri = f"http://www.opengis.net/def/crs/EPSG/0/{srid}"
    r = get(f"{api}/collections/depots/items", crs=uri, limit=50)
    assert r.headers["content-crs"] == (f"<{CRS84}>" if srid == 4326 else f"<{uri}>")  # 4326 served lon, lat
    got = {f["id"]: f["geometry"]["coordinates"] for f in r.json()["features"]}
    with psycopg.connect(demo_db) as conn:
        expected = {
            i: (x, y)
            for i, x, y in conn.execute(
                "SELECT id, ST_X(g), ST_Y(g) FROM (SELECT id, ST_Transform(geom, %s) g FROM patrimoine.depot) s",
                (srid,),
            )
        }
    assert got and set(got) <= set(expected)
    digits = 1e-6 if srid == 4326 else 0.01  # the precision the API writes: ~0.1 m in degrees, 1 cm in metres
    for i, (x, y) in got.items():
        assert x == pytest.approx(expected[i][0], abs=digits) and y == pytest.approx(expected[i][1], abs=digits)


def test_bbox_and_crs(api: str, demo_db: str) -> None:
    with psycopg.connect(demo_db) as conn:
        xmin, ymin, xmax, ymax = conn.execute(
            "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM "
            "(SELECT ST_Expand(ST_Centroid(geom), 300) b FROM patrimoine.commune WHERE insee = '53130') s"
        ).fetchone()
        expected = conn.execute(
            "SELECT count(*) FROM patrimoine.street_light WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, 2154)",
            (xmin, ymin, xmax, ymax),
        ).fetchone()[0]
    assert expected > 0
    native = get(
        f"{api}/collections/street_lights/items",
        bbox=f"{xmin},{ymin},{xmax},{ymax}",
        limit=10000,
        **{"bbox-crs": STORAGE, "crs": STORAGE},
    )
    assert native.headers["content-crs"] == f"<{STORAGE}>"
    body = native.json()
    assert body["numberMatched"] == expected
    x, y = body["features"][0]["geometry"]["coordinates"]
    assert xmin <= x <= xmax and ymin <= y <= ymax  # Lambert-93 metres
    lonlat = get(f"{api}/collections/street_lights/items", bbox="-0.80,48.05,-0.74,48.09").json()
    lon, lat = lonlat["features"][0]["geometry"]["coordinates"]
    assert -0.80 <= lon <= -0.74 and 48.05 <= lat <= 48.09  # CRS84: longitude first


def test_properties_sortby_and_single_item(api: str) -> None:
    page = get(f"{api}/collections/communes/items", properties="name,population", sortby="-population").json()
    first = page["features"][0]
    assert set(first["properties"]) == {"name", "population"} and first["properties"]["name"] == "Laval"
    populations = [f["properties"]["population"] for f in page["features"]]
    assert populations == sorted(populations, reverse=True)
    item = get(f"{api}/collections/communes/items/53130").json()
    assert item["id"] == "53130" and item["properties"]["name"] == "Laval"
    assert item["geometry"]["type"] == "MultiPolygon"
    assert get(f"{api}/collections/communes/items/99999").status_code == 404
    assert get(f"{api}/collections/roads/items/abc").status_code == 404
    assert get(f"{api}/collections/benches/items").status_code == 404


def test_queryables(api: str) -> None:
    schema = get(f"{api}/collections/street_lights/queryables").json()
    props = schema["properties"]
    assert props["lamp_type"]["enum"][:2] == ["led", "hps"]
    assert props["power_w"] == {
        "title": "Puissance",
        "description": "Power",
        "type": "integer",
        "minimum": 1,
        "maximum": 2000,
    }


@pytest.mark.parametrize(
    ("filter_", "lang", "where"),
    [
        ("road_class = 'main' AND width_m > 6", None, "road_class = 'main' AND width_m > 6"),
        (
            '{"op": "in", "args": [{"property": "road_class"}, ["lane", "rural"]]}',
            "cql2-json",
            "road_class IN ('lane', 'rural')",
        ),
        ("name LIKE 'Route%'", "cql2-text", "name LIKE 'Route%'"),
        (
            "S_INTERSECTS(geometry, BBOX(-0.78, 48.06, -0.76, 48.08))",
            None,
            "ST_Intersects(geom, ST_Transform(ST_MakeEnvelope(-0.78, 48.06, -0.76, 48.08, 4326), 2154))",
        ),
        ("speed_kmh BETWEEN 25 AND 35 OR surface IS NULL", None, "speed_kmh BETWEEN 25 AND 35 OR surface IS NULL"),
    ],
)
def test_cql2_filters_match_sql(api: str, demo_db: str, filter_: str, lang: str | None, where: str) -> None:
    params = {"filter": filter_, "limit": 1}
    if lang:
        params["filter-lang"] = lang
    body = get(f"{api}/collections/roads/items", **params).json()
    assert body["numberMatched"] == count(demo_db, "road", where) > 0


def test_queryable_as_query_parameter(api: str, demo_db: str) -> None:
    body = get(f"{api}/collections/street_lights/items", lamp_type="mercury", limit=1).json()
    assert body["numberMatched"] == count(demo_db, "street_light", "lamp_type = 'mercury'") > 0


def test_html(api: str) -> None:
    page = get(f"{api}/collections/communes/items", f="html", limit=3)
    assert page.headers["content-type"].startswith("text/html") and "Laval" in page.text
    assert "<table>" in get(f"{api}/collections", f="html").text


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/collections/roads/items", {"bbox": "1,2,3"}, "bbox"),
        ("/collections/roads/items", {"properties": "colour"}, "properties: unknown colour"),
        ("/collections/roads/items", {"sortby": "colour"}, "sortby: unknown property"),
        ("/collections/roads/items", {"filter": "colour = 'red'"}, "unknown property 'colour'"),
        ("/collections/roads/items", {"filter": "road_class = "}, "cannot parse"),
        ("/collections/roads/items", {"crs": "EPSG:9999"}, "unsupported CRS"),
        ("/collections/roads/items", {"f": "xml"}, "f: 'xml'"),
    ],
)
def test_errors_are_json_400_with_a_reason(api: str, path: str, params: dict, message: str) -> None:
    response = get(f"{api}{path}", **params)
    assert response.status_code == 400
    assert message in response.json()["description"]


@pytest.mark.parametrize(
    "attack",
    [
        "'; DROP TABLE patrimoine.road; --",
        "road_class = 'main''; DELETE FROM patrimoine.road; --'",
        "name = 'x' OR 1=1; DELETE FROM patrimoine.road",
    ],
)
def test_injection_attempts_never_reach_sql(api: str, demo_db: str, attack: str) -> None:
    before = checksum(demo_db)
    for params in (
        {"filter": attack},
        {"sortby": attack},
        {"properties": attack},
        {"name": attack},
        {"bbox": attack},
        {"crs": attack},
    ):
        response = get(f"{api}/collections/roads/items", **params)
        assert response.status_code in (200, 400), (params, response.text)
    assert get(f"{api}/collections/{attack}/items").status_code == 404
    assert checksum(demo_db) == before
