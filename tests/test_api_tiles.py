"""Vector tiles over real HTTP, decoded with mapbox-vector-tile and GDAL; caching never serves a stale tile."""

from __future__ import annotations

import subprocess

import httpx
import mapbox_vector_tile
import morecantile
import psycopg
import pytest

TMS = morecantile.tms.get("WebMercatorQuad")
LAVAL = (-0.7715, 48.0700)


def tile_of(z: int) -> tuple[int, int, int]:
    t = TMS.tile(*LAVAL, z)
    return t.z, t.y, t.x


def decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data)


def test_composite_tile_has_every_layer_in_town(api: str) -> None:
    z, y, x = tile_of(15)
    response = httpx.get(f"{api}/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layers = decode(response.content)
    assert {"communes", "roads", "street_lights"} <= set(layers)
    road = layers["roads"]["features"][0]
    assert {"commune_insee", "road_class", "name"} <= set(road["properties"]) and isinstance(road["id"], int)
    assert layers["communes"]["features"][0]["properties"]["insee"] == "53130"


def test_attributes_thinned_at_low_zoom_and_hidden_below_the_minimum(api: str) -> None:
    z, y, x = tile_of(11)
    layers = decode(httpx.get(f"{api}/collections/roads/tiles/WebMercatorQuad/{z}/{y}/{x}").content)
    props = set(layers["roads"]["features"][0]["properties"])
    assert props == {"commune_insee", "road_class"}  # catalogue: zoom 8+ carries road_class only
    z, y, x = tile_of(9)  # street lights start at zoom 13
    assert httpx.get(f"{api}/collections/street_lights/tiles/WebMercatorQuad/{z}/{y}/{x}").status_code == 204


def test_small_features_dropped_below_the_detail_zoom(api_rw: str, demo_rw: str) -> None:
    """Green spaces: min_size_px 4 → at zoom 12 a polygon under (4 px × 2.39 m × 0.67)² ≈ 41 m² is left out;
    from zoom 16 on everything is drawn. Two parks placed by hand in Laval: 3 m × 3 m and 30 m × 30 m."""
    with psycopg.connect(demo_rw) as conn:
        centre = conn.execute("SELECT ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 2154)", LAVAL).fetchone()[0]
        ids = [
            conn.execute(
                "INSERT INTO patrimoine.green_space (commune_insee, source, source_id, kind, geom) "
                "VALUES ('53130', 'test', %s, 'park', ST_Multi(ST_Expand(%s::geometry, %s))) RETURNING id",
                (str(side), centre, side / 2),
            ).fetchone()[0]
            for side in (3, 30)
        ]
    tiny, big = ids

    def ids_at(z: int) -> set[int]:
        z, y, x = tile_of(z)
        layers = decode(httpx.get(f"{api_rw}/collections/green_spaces/tiles/WebMercatorQuad/{z}/{y}/{x}").content)
        return {f["id"] for f in layers.get("green_spaces", {}).get("features", [])}

    low, detail = ids_at(12), ids_at(16)
    assert big in low and tiny not in low
    assert {tiny, big} <= detail


def test_tile_holds_exactly_the_features_of_its_buffered_envelope(api: str, demo_db: str) -> None:
    z, y, x = tile_of(14)
    layers = decode(httpx.get(f"{api}/collections/street_lights/tiles/WebMercatorQuad/{z}/{y}/{x}").content)
    got = {f["id"] for f in layers["street_lights"]["features"]}
    with psycopg.connect(demo_db) as conn:  # the catalogue's buffer: 64 of 4,096 units on each side
        inside, near_edge = (
            {
                r[0]
                for r in conn.execute(
                    "SELECT id FROM patrimoine.street_light WHERE ST_Intersects(ST_Transform(geom, 3857), "
                    "ST_TileEnvelope(%s, %s, %s, margin => %s))",
                    (z, x, y, margin),
                )
            }
            for margin in (64 / 4096 - 1e-4, 64 / 4096 + 1e-4)
        )
    assert 100 < len(inside) < 50_000
    assert inside <= got <= near_edge  # all of them and nothing else (give or take a point on the very edge)


def test_commune_and_cql2_filters(api: str) -> None:
    z, y, x = tile_of(13)
    url = f"{api}/collections/roads/tiles/WebMercatorQuad/{z}/{y}/{x}"
    only = decode(httpx.get(url, params={"commune": "53130"}).content)["roads"]["features"]
    assert only and {f["properties"]["commune_insee"] for f in only} == {"53130"}
    main = decode(httpx.get(url, params={"filter": "road_class = 'main'"}).content)["roads"]["features"]
    assert main and {f["properties"]["road_class"] for f in main} == {"main"}
    # filter values are bound parameters: quotes, control characters and placeholder-like text are only values
    for value in ("a\x01gp_native\x01b", "100% %(x)s"):
        odd = httpx.get(url, params={"filter": f"name = '{value}'"})
        assert odd.status_code == 204, odd.text
    wrong = httpx.get(url.replace("roads", "street_lights"), params={"filter": "power_w = 'strong'"})
    assert wrong.status_code == 400 and "integer" in wrong.json()["description"], wrong.text  # not a 500


def test_empty_and_invalid_tiles(api: str) -> None:
    assert httpx.get(f"{api}/tiles/WebMercatorQuad/10/0/0").status_code == 204
    for path in ("/tiles/WebMercatorQuad/3/9/1", "/tiles/WebMercatorQuad/30/0/0", "/tiles/WebMercatorQuad/-1/0/0"):
        response = httpx.get(f"{api}{path}")
        assert response.status_code in (400, 404, 422) and "description" in response.json()
    assert httpx.get(f"{api}/tiles/WorldCRS84Quad/3/1/1").status_code == 404


def test_etag_revalidation_and_no_stale_tile_after_an_edit(api_rw: str, demo_rw: str) -> None:
    api, demo_db = api_rw, demo_rw  # this test edits: a writable clone
    z, y, x = tile_of(16)
    url = f"{api}/collections/street_lights/tiles/WebMercatorQuad/{z}/{y}/{x}"
    first = httpx.get(url)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"
    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert httpx.get(url).headers["x-cache"] == "hit"
    light_id = decode(first.content)["street_lights"]["features"][0]["id"]
    with psycopg.connect(demo_db) as conn:  # an edit from outside the API, as QGIS would make it
        conn.execute(
            "UPDATE patrimoine.street_light SET lamp_type = 'fluorescent', power_w = 58 WHERE id = %s", (light_id,)
        )
    plain = httpx.get(url)  # the very next request, without revalidation: rendered again, not the cached tile
    assert plain.headers["x-cache"] == "miss" and plain.headers["etag"] != etag
    changed = next(f for f in decode(plain.content)["street_lights"]["features"] if f["id"] == light_id)
    assert changed["properties"]["lamp_type"] == "fluorescent"
    second = httpx.get(url, headers={"If-None-Match": etag})
    assert second.status_code == 200 and second.headers["etag"] == plain.headers["etag"]
    feature = next(f for f in decode(second.content)["street_lights"]["features"] if f["id"] == light_id)
    assert feature["properties"]["lamp_type"] == "fluorescent"
    item = httpx.get(f"{api}/collections/street_lights/items/{light_id}").json()
    assert item["properties"]["power_w"] == 58


def test_tilejson_tilesets_and_style(api: str) -> None:
    tj = httpx.get(f"{api}/tiles/WebMercatorQuad/tilejson.json").json()
    assert tj["tilejson"] == "3.0.0" and tj["tiles"][0].endswith("/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert {v["id"] for v in tj["vector_layers"]} == {
        "communes",
        "depots",
        "roads",
        "street_lights",
        "green_spaces",
        "buildings",
        "trees",
        "litter_bins",
        "gullies",
        "rounds",
        "round_stops",
        "scenario_communes",
        "workload_grid",
        "depot_areas",
        "service_zones",
        "opportunities",
        "network_issues",
        "diagnostic_communes",
        "arrangement_communes",
    }
    one = httpx.get(f"{api}/collections/roads/tiles/WebMercatorQuad/tilejson.json").json()
    assert one["vector_layers"][0]["fields"]["road_class"] == "Classe"
    assert httpx.get(f"{api}/collections/roads/tiles").json()["tilesets"][0]["dataType"] == "vector"
    assert httpx.get(f"{api}/tileMatrixSets/WebMercatorQuad").json()["id"] == "WebMercatorQuad"
    style = httpx.get(f"{api}/styles/default/style.json").json()
    roads = next(layer for layer in style["layers"] if layer["id"] == "roads")
    assert roads["paint"]["line-color"][:2] == ["match", ["get", "road_class"]]
    assert "#e8590c" in roads["paint"]["line-color"]  # main roads, colour from layers/codelists.yaml
    overlays = {la["source-layer"] for la in style["layers"] if la.get("metadata", {}).get("gis-patrimoine:overlay")}
    assert overlays == {
        "workload_grid",
        "scenario_communes",
        "service_zones",
        "depot_areas",
        "rounds",
        "round_stops",
        "opportunities",
        "network_issues",
        "diagnostic_communes",
        "arrangement_communes",
    }
    assert all(la["layout"]["visibility"] == "none" for la in style["layers"] if la.get("source-layer") in overlays)


def test_gdal_reads_a_tile(api: str, tmp_path) -> None:
    z, y, x = tile_of(15)
    path = tmp_path / f"{z}-{x}-{y}.mvt"
    path.write_bytes(httpx.get(f"{api}/tiles/WebMercatorQuad/{z}/{y}/{x}").content)
    out = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-oo", f"Z={z}", "-oo", f"X={x}", "-oo", f"Y={y}", f"MVT:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for layer in ("roads", "street_lights", "communes"):
        assert layer in out


@pytest.mark.parametrize("collection", ["roads", "communes", "street_lights", "green_spaces", "buildings"])
def test_tiles_fit_the_feature_cap(api: str, collection: str) -> None:
    """The demo's densest tile at each layer's first zoom is drawn whole, under the catalogue's cap."""
    from gis_patrimoine.catalogue import get_catalogue

    layer = next(la for la in get_catalogue().layers.values() if la.collection == collection)
    z, y, x = tile_of(max(layer.tiles.minzoom, 12))
    response = httpx.get(f"{api}/collections/{collection}/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert response.status_code == 200 and "x-tile-truncated" not in response.headers
    assert 0 < len(decode(response.content)[collection]["features"]) <= layer.tiles.max_features


def test_truncated_tiles_are_said_and_slow_tiles_logged_with_their_plan(demo_db: str, caplog) -> None:
    from gis_patrimoine.catalogue import get_catalogue
    from gis_patrimoine.settings import Settings
    from tests.servers import running_server

    catalogue = get_catalogue()
    lights = catalogue.layers["street_light"]
    capped = lights.model_copy(update={"tiles": lights.tiles.model_copy(update={"max_features": 5})})
    small_caps = catalogue.model_copy(update={"layers": {**catalogue.layers, "street_light": capped}})
    z, y, x = tile_of(15)
    with (
        caplog.at_level("WARNING", logger="gis_patrimoine.tiles"),
        running_server(demo_db, settings=Settings(slow_tile_ms=0), catalogue=small_caps) as base,
    ):
        response = httpx.get(f"{base}/collections/street_lights/tiles/WebMercatorQuad/{z}/{y}/{x}")
        features = decode(response.content)["street_lights"]["features"]
        again = httpx.get(f"{base}/collections/street_lights/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert response.headers["x-tile-truncated"] == "street_lights" and len(features) == 5
    assert again.headers["x-cache"] == "hit" and again.headers["x-tile-truncated"] == "street_lights"
    slow = [r.getMessage() for r in caplog.records if "slow tile street_lights" in r.getMessage()]
    assert slow and ("Index Scan" in slow[0] or "Seq Scan" in slow[0])


def test_fast_path_and_route_give_the_same_tile(api: str) -> None:
    """Plain tile URLs are answered by api/fastpath.py, others by the FastAPI route: same bytes, same ETag."""
    z, y, x = tile_of(15)
    for path in (
        f"/collections/street_lights/tiles/WebMercatorQuad/{z}/{y}/{x}",
        f"/tiles/WebMercatorQuad/{z}/{y}/{x}",
    ):
        fast = httpx.get(f"{api}{path}")
        routed = httpx.get(f"{api}{path}?via=route")  # a query string: through FastAPI
        assert fast.status_code == routed.status_code == 200
        assert fast.content == routed.content and fast.headers["etag"] == routed.headers["etag"]
        assert fast.headers["content-type"] == routed.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert httpx.get(f"{api}/collections/nothing/tiles/WebMercatorQuad/{z}/{y}/{x}").status_code == 404
    assert httpx.get(f"{api}/collections/street_lights/tiles/WebMercatorQuad/3/8/1").status_code == 400


def test_a_capped_tile_keeps_the_longest_roads(demo_db: str) -> None:
    """The cap keeps the largest features (length, area), ties by id: the same 5 every time, not any 5."""
    from gis_patrimoine.catalogue import get_catalogue
    from gis_patrimoine.settings import Settings
    from tests.servers import running_server

    catalogue = get_catalogue()
    roads = catalogue.layers["road"]
    capped = roads.model_copy(update={"tiles": roads.tiles.model_copy(update={"max_features": 5})})
    small_caps = catalogue.model_copy(update={"layers": {**catalogue.layers, "road": capped}})
    z, y, x = tile_of(14)
    with running_server(demo_db, settings=Settings(), catalogue=small_caps) as base:
        got = [f["id"] for f in decode(
            httpx.get(f"{base}/collections/roads/tiles/WebMercatorQuad/{z}/{y}/{x}").content
        )["roads"]["features"]]  # fmt: skip
    with psycopg.connect(demo_db) as conn:
        longest = [r[0] for r in conn.execute(
            "SELECT id FROM patrimoine.road WHERE ST_Intersects(ST_Transform(geom, 3857), "
            "ST_TileEnvelope(%s, %s, %s, margin => %s)) ORDER BY ST_Length(geom) DESC, id LIMIT 5",
            (z, x, y, 64 / 4096),
        )]  # fmt: skip
    assert sorted(got) == sorted(longest) and len(got) == 5


def test_the_style_needs_nothing_but_this_server(api: str) -> None:
    """No online basemap, font or sprite: the communes are the base, everything comes from the server."""
    style = httpx.get(f"{api}/styles/default/style.json").json()
    urls = [u for src in style["sources"].values() for u in ([*src.get("tiles", []), src.get("url", "")]) if u]
    urls += [style[k] for k in ("glyphs", "sprite") if k in style]
    assert urls and all(u.startswith(api) or u.startswith("/") for u in urls), urls
    assert style["layers"][0]["type"] == "background" or style["layers"][0]["source-layer"] == "communes"
