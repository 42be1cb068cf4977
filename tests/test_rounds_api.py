"""Rounds on the demo territory, computed through the API: Laval's street-light inspection from its depots and
the sweeping of a small commune; then the plan as collections, GeoJSON, GPX (read by GDAL), round sheets, lookup."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest

from tests import writable
from tests.servers import add_token

demo_db, api = writable.demo_db, writable.api  # this module writes: its own clone of the demo

LAVAL = "53130"
TOKEN = {"Authorization": "Bearer token-planner"}


@pytest.fixture(scope="module")
def planner(demo_db: str) -> str:
    add_token(demo_db, "planner", "reader")
    return demo_db


def post_rounds(api: str, body: dict, headers: dict | None = TOKEN) -> httpx.Response:
    return httpx.post(f"{api}/analysis/rounds", json=body, headers=headers, timeout=300)


def test_laval_light_inspection_rounds(api: str, planner: str, tmp_path: Path) -> None:
    assert post_rounds(api, {"service": "lighting", "communes": [LAVAL]}, headers=None).status_code == 401
    r = post_rounds(api, {"service": "lighting", "activity": "inspection", "communes": [LAVAL], "seconds": 3})
    assert r.status_code == 201, r.text
    plan = r.json()
    pid = plan["id"]
    with psycopg.connect(planner) as conn:
        lights = conn.execute("SELECT count(*) FROM patrimoine.street_light WHERE commune_insee = %s", (LAVAL,))
        n_lights = lights.fetchone()[0]
        served = conn.execute(
            "SELECT count(*), count(DISTINCT a) FROM analysis.round_stop, unnest(asset_ids) a WHERE plan_id = %s",
            (pid,),
        ).fetchone()
        depots = {
            r[0]
            for r in conn.execute(
                "SELECT id FROM patrimoine.depot WHERE commune_insee = %s AND 'lighting' = ANY(services)", (LAVAL,)
            )
        }
    assert served == (n_lights, n_lights)  # every light of Laval exactly once
    s = plan["summary"]
    assert s["assets"] == n_lights and s["rounds"] == len(plan["rounds"]) > 1
    shift = plan["parameters"]["shift_hours"]
    assert all(x["hours_on_site"] + x["hours_travel"] <= shift + 1e-6 for x in plan["rounds"])
    assert {x["depot_id"] for x in plan["rounds"]} <= depots
    assert s["hours_on_site"] == pytest.approx(n_lights * 6 / 60, rel=1e-6)  # 6 min a light, from the catalogue
    assert s["km_travel"] > 0 and s["km_work"] == 0

    again = httpx.get(f"{api}/analysis/rounds/{pid}").json()  # the stored plan, as it was answered
    assert again["summary"] == s and len(again["rounds"]) == len(plan["rounds"])
    assert httpx.get(f"{api}/analysis/rounds/999999").status_code == 404
    # the plan as OGC collections (filtered by plan), GeoJSON and GPX
    items = httpx.get(f"{api}/collections/rounds/items", params={"filter": f"plan_id = {pid}", "limit": 1000}).json()
    assert items["numberMatched"] == s["rounds"]
    gj = httpx.get(f"{api}/analysis/rounds/{pid}.geojson").json()
    assert sum(f["properties"]["kind"] == "stop" for f in gj["features"]) == s["stops"]
    gpx = tmp_path / "rounds.gpx"
    gpx.write_bytes(httpx.get(f"{api}/analysis/rounds/{pid}.gpx").content)
    info = subprocess.run(["ogrinfo", "-ro", "-al", "-so", str(gpx)], capture_output=True, text=True, check=True)
    assert f"Feature Count: {s['stops']}" in info.stdout  # waypoints
    assert f"Feature Count: {s['rounds']}" in info.stdout  # tracks

    sheet = httpx.get(f"{api}/analysis/rounds/{pid}/sheet", params={"round": 1})
    assert sheet.status_code == 200 and "<svg" in sheet.text and "round 1" in sheet.text
    first = plan["rounds"][0]
    assert sheet.text.count("<tr><td>") == first["stops"]
    assert httpx.get(f"{api}/analysis/rounds/{pid}/sheet", params={"round": 9999}).status_code == 404

    # lookup: the round that serves a given light, and the nearest one to a point
    stop = next(f for f in gj["features"] if f["properties"]["kind"] == "stop")
    asset = stop["properties"]["asset_ids"][0]
    found = httpx.get(f"{api}/analysis/lookup", params={"collection": "street_lights", "id": asset}).json()
    answer = found["answers"][0]
    assert answer["plan_id"] == pid and answer["round"] == stop["properties"]["round_number"]
    lon, lat = stop["geometry"]["coordinates"]
    near = httpx.get(f"{api}/analysis/lookup", params={"lon": lon, "lat": lat, "service": "lighting"}).json()
    assert near["answers"][0]["distance_m"] < 1.0


def test_sweeping_rounds_of_a_small_commune(api: str, planner: str) -> None:
    with psycopg.connect(planner) as conn:
        commune, swept, km = conn.execute(
            "SELECT c.insee, count(r.id), sum(r.length_m) / 1000 FROM patrimoine.commune c "
            "JOIN patrimoine.road r ON r.commune_insee = c.insee AND r.road_class IN ('main', 'secondary', 'street') "
            "GROUP BY c.insee, c.population ORDER BY c.population LIMIT 1"
        ).fetchone()
    r = post_rounds(api, {"service": "roads", "activity": "sweeping", "communes": [commune], "seconds": 3})
    assert r.status_code == 201, r.text
    plan = r.json()
    assert plan["routing"] == "arc"
    assert plan["summary"]["assets"] == swept  # each required segment once
    assert plan["summary"]["km_work"] == pytest.approx(km, abs=1e-3)  # worked along its whole length
    with psycopg.connect(planner) as conn:
        twice = conn.execute(
            "SELECT count(*) FROM (SELECT a FROM analysis.round_stop, unnest(asset_ids) a WHERE plan_id = %s "
            "GROUP BY a HAVING count(*) > 1) d",
            (plan["id"],),
        ).fetchone()[0]
    assert twice == 0


def test_errors_say_what_to_change(api: str, planner: str) -> None:
    r = post_rounds(api, {"service": "lighting", "communes": [LAVAL], "crews": 1, "days": 1, "seconds": 1})
    assert r.status_code == 422 and "add crews, lengthen the shift" in r.json()["description"]
    r = post_rounds(api, {"service": "lighting", "communes": ["99999"]})
    assert r.status_code == 422 and "unknown commune" in r.json()["description"]
    r = post_rounds(api, {"service": "lighting", "activity": "painting", "communes": [LAVAL]})
    assert r.status_code == 422 and "its activities: inspection" in r.json()["description"]
