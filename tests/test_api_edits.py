"""Writes over real HTTP: tokens and communes, validation with the field named, history, no stale tiles."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import mapbox_vector_tile
import morecantile
import psycopg
import pytest

from tests.importing import checksum
from tests.servers import add_token, running_server

LAVAL = [-0.7712, 48.0702]
CHANGE = [-0.796, 48.099]  # Changé, 53054
TOKENS = {"alice": ("editor", ["53130"]), "rita": ("reader", []), "max": ("manager", [])}


@pytest.fixture(scope="module")
def territory(server_url: str, laval_template: str) -> Iterator[str]:
    """The Laval communes and the tokens, once for the module: each test edits a clone of it."""
    from tests.conftest import create_clone, drop_database, with_dbname

    name = create_clone(server_url, laval_template, prefix="gp_edit_tpl")
    url = with_dbname(server_url, name)
    for user, (role, communes) in TOKENS.items():
        add_token(url, user, role, communes)
    yield name
    drop_database(server_url, name)


@pytest.fixture
def writable(server_url: str, territory: str) -> Iterator[tuple[str, str]]:
    """A server over this test's own copy of the territory: what one test writes, no other test sees."""
    from tests.conftest import create_clone, drop_database, with_dbname

    name = create_clone(server_url, territory, prefix="gp_edit")
    url = with_dbname(server_url, name)
    with running_server(url) as base:
        yield base, url
    drop_database(server_url, name)


def auth(user: str) -> dict:
    return {"Authorization": f"Bearer token-{user}"}


def light(coords: list[float], **props) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": coords},
        "properties": {"lamp_type": "led", "power_w": 40, **props},
    }


def test_result_collections_are_read_only(writable) -> None:
    api, _ = writable
    for collection in ("rounds", "scenario_communes", "service_zones", "arrangement_communes", "communes"):
        r = httpx.post(f"{api}/collections/{collection}/items", json=light(LAVAL), headers=auth("max"))
        assert r.status_code == 405, (collection, r.status_code)
        assert httpx.delete(f"{api}/collections/{collection}/items/1", headers=auth("max")).status_code == 405


def test_create_needs_a_token_and_rights_on_the_commune(writable) -> None:
    api, db = writable
    url = f"{api}/collections/street_lights/items"
    before = checksum(db)
    assert httpx.post(url, json=light(LAVAL)).status_code == 401
    assert httpx.post(url, json=light(LAVAL), headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.post(url, json=light(LAVAL), headers=auth("rita")).status_code == 403
    response = httpx.post(url, json=light(CHANGE), headers=auth("alice"))
    assert response.status_code == 403 and "53054" in response.json()["description"]
    assert httpx.post(f"{api}/collections/communes/items", json=light(LAVAL), headers=auth("max")).status_code == 405
    assert checksum(db) == before


def test_create_update_delete_with_history_and_fresh_tiles(writable) -> None:
    api, db = writable
    tile = morecantile.tms.get("WebMercatorQuad").tile(*LAVAL, 17)
    tile_url = f"{api}/collections/street_lights/tiles/WebMercatorQuad/17/{tile.y}/{tile.x}"
    assert httpx.get(tile_url).status_code == 204
    items_url = f"{api}/collections/street_lights/items?limit=1"
    matched = httpx.get(items_url).json()["numberMatched"]
    created = httpx.post(
        f"{api}/collections/street_lights/items", json=light(LAVAL, mast_height_m=6.5), headers=auth("alice")
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert httpx.get(items_url).json()["numberMatched"] == matched + 1  # counts follow the data version

    feature = created.json()
    assert feature["properties"]["commune_insee"] == "53130" and feature["properties"]["updated_by"] == "alice"
    tile_features = mapbox_vector_tile.decode(httpx.get(tile_url).content)["street_lights"]["features"]
    assert [f["id"] for f in tile_features] == [feature["id"]]  # the tile shows the new light at once
    patched = httpx.patch(
        location, json={"type": "Feature", "properties": {"power_w": 55, "condition": "fair"}}, headers=auth("alice")
    )
    assert patched.status_code == 200 and patched.json()["properties"]["power_w"] == 55
    assert httpx.get(location).json()["properties"]["condition"] == "fair"
    replaced = httpx.put(location, json=light(LAVAL, lamp_type="hps", power_w=100), headers=auth("max"))
    assert replaced.status_code == 200
    props = replaced.json()["properties"]
    assert (props["lamp_type"], props["power_w"], props["condition"], props["mast_height_m"]) == (
        "hps",
        100,
        None,
        None,
    )
    assert httpx.delete(location, headers=auth("alice")).status_code == 204
    assert httpx.get(location).status_code == 404
    assert httpx.get(tile_url).status_code == 204
    with psycopg.connect(db) as conn:
        history = conn.execute(
            "SELECT operation, app_user, changed_fields FROM patrimoine_sys.history "
            "WHERE layer = 'street_light' AND feature_id = %s ORDER BY id",
            (str(feature["id"]),),
        ).fetchall()
    assert [(op, user) for op, user, _ in history] == [
        ("INSERT", "alice"),
        ("UPDATE", "alice"),
        ("UPDATE", "max"),
        ("DELETE", "alice"),
    ]
    assert history[1][2] == ["condition", "power_w"]


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        (light(LAVAL, colour="red"), "colour", "not a property"),
        (light(LAVAL, id=5), "id", "read-only"),
        (light(LAVAL, lamp_type="candle"), "lamp_type", "unknown value 'candle'"),
        (light(LAVAL, power_w=99999), "power_w", "out of range"),
        (light(LAVAL, power_w="strong"), "power_w", "is not an integer"),
        (light(LAVAL, last_intervention="yesterday"), "last_intervention", "not a date"),
        (
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[LAVAL, [-0.77, 48.07], [-0.771, 48.071], LAVAL]]},
                "properties": {"lamp_type": "led"},
            },
            "geom",
            "wrong geometry type",
        ),
        (
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [5.0, 45.0]},
                "properties": {"lamp_type": "led"},
            },
            "commune_insee",
            "outside every commune",
        ),
        (
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": LAVAL}, "properties": {}},
            "lamp_type",
            "a value is required",
        ),
    ],
)
def test_validation_errors_name_the_field(writable, body: dict, field: str, fragment: str) -> None:
    api, db = writable
    before = checksum(db)
    response = httpx.post(f"{api}/collections/street_lights/items", json=body, headers=auth("max"))
    assert response.status_code == 400, response.text
    description = response.json()["description"]
    assert f"field {field}" in description and fragment in description
    assert checksum(db) == before


def test_moving_a_feature_needs_rights_on_both_communes(writable) -> None:
    api, _ = writable
    created = httpx.post(f"{api}/collections/street_lights/items", json=light(LAVAL), headers=auth("alice")).json()
    url = f"{api}/collections/street_lights/items/{created['id']}"
    moved = httpx.patch(
        url, json={"type": "Feature", "geometry": {"type": "Point", "coordinates": CHANGE}}, headers=auth("alice")
    )
    assert moved.status_code == 403
    assert httpx.get(url).json()["properties"]["commune_insee"] == "53130"
    ok = httpx.patch(
        url, json={"type": "Feature", "geometry": {"type": "Point", "coordinates": CHANGE}}, headers=auth("max")
    )
    assert ok.status_code == 200 and ok.json()["properties"]["commune_insee"] == "53054"
    # nor by an undo: bringing back the Laval version takes the light out of 53054, which alice may not edit
    first = httpx.get(f"{url}/history").json()["versions"][0]
    assert first["operation"] == "INSERT" and first["new"]["commune_insee"] == "53130"
    undo = httpx.post(f"{url}/restore", params={"version": first["version"]}, headers=auth("alice"))
    assert undo.status_code == 403 and "53054" in undo.text
    assert httpx.get(url).json()["properties"]["commune_insee"] == "53054"
    assert httpx.post(f"{url}/restore", params={"version": first["version"]}, headers=auth("max")).status_code == 200
    assert httpx.get(url).json()["properties"]["commune_insee"] == "53130"


def test_history_and_undo_over_the_api(writable) -> None:
    api, _ = writable
    items = f"{api}/collections/street_lights/items"
    created = httpx.post(items, json=light(LAVAL, power_w=55), headers=auth("alice"))
    assert created.status_code == 201
    fid = created.json()["id"]
    original = httpx.get(f"{items}/{fid}").json()
    patch = {"type": "Feature", "properties": {"power_w": 90}}
    assert httpx.patch(f"{items}/{fid}", json=patch, headers=auth("alice")).status_code == 200
    assert httpx.delete(f"{items}/{fid}", headers=auth("alice")).status_code == 204
    versions = httpx.get(f"{items}/{fid}/history").json()["versions"]
    assert [v["operation"] for v in versions] == ["INSERT", "UPDATE", "DELETE"]
    assert {v["api_user"] for v in versions} == {"alice"}
    # the insertion stored no copy of its values: they are shown from the update's old values, exactly
    assert versions[0]["new"]["power_w"] == 55 and versions[0]["new"]["uuid"] == original["properties"]["uuid"]
    assert httpx.post(f"{items}/{fid}/restore", headers=auth("rita")).status_code == 403
    r = httpx.post(f"{items}/{fid}/restore", headers=auth("alice"))
    assert r.status_code == 200, r.text
    assert httpx.get(f"{items}/{fid}").json()["properties"]["power_w"] == 90  # as it was when deleted
    first = versions[0]["version"]
    assert httpx.post(f"{items}/{fid}/restore", params={"version": first}, headers=auth("alice")).status_code == 200
    back = httpx.get(f"{items}/{fid}").json()
    assert back["properties"]["power_w"] == 55 and back["geometry"] == original["geometry"]
    assert back["properties"]["uuid"] == original["properties"]["uuid"]
    # back to the state after the update (which stored only power_w): every other field as it was then
    update = versions[1]["version"]
    assert httpx.post(f"{items}/{fid}/restore", params={"version": update}, headers=auth("alice")).status_code == 200
    then = httpx.get(f"{items}/{fid}").json()
    assert then["properties"]["power_w"] == 90 and then["geometry"] == original["geometry"]
    unchanged = {k: v for k, v in original["properties"].items() if k not in ("power_w", "updated_at")}
    assert {k: then["properties"][k] for k in unchanged} == unchanged
    # each restore is itself a change in the history, by whom it was made: it can be undone in turn
    after = httpx.get(f"{items}/{fid}/history").json()["versions"]
    assert [v["operation"] for v in after] == ["INSERT", "UPDATE", "DELETE", "INSERT", "UPDATE", "UPDATE"]
    assert {v["api_user"] for v in after} == {"alice"}
