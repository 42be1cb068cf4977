"""Alone vs pooled on the demo territory: totals are sums of the scenario's own rounds, every asset is planned
once each way, no commune pays more than alone when pooling saves, and a fixed seed gives the same figures."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from gis_patrimoine.analysis.scenarios import commune_names, compare
from tests.servers import add_token

VISITS = 15.0  # green-space mowing, from layers/green_space.yaml


def served(plan) -> list[int]:
    return [a for r in plan.rounds for i in r.stops for a in plan.stops[i].assets]


@pytest.fixture(scope="module")
def comparison(demo_db: str):
    with psycopg.connect(demo_db) as conn:
        c = compare(conn, "green_spaces", "mowing", iterations=100)
        again = compare(conn, "green_spaces", "mowing", iterations=100)
        names = commune_names(conn)
        mowed = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM patrimoine.green_space WHERE kind IN ('park', 'sports_ground', 'roundabout', 'garden', "
                "'playground') ORDER BY id"
            )
        ]
    return c, again, names, mowed


def test_totals_are_sums_of_their_own_rounds(comparison) -> None:
    c, _, _, mowed = comparison
    alone_km = sum((r.travel_m + r.work_m) / 1000 * VISITS for p in c.alone_plans.values() for r in p.rounds)
    alone_travel_h = sum(r.travel_s / 3600 * VISITS for p in c.alone_plans.values() for r in p.rounds)
    assert c.alone_total.km == pytest.approx(alone_km)
    assert c.alone_total.hours_travel == pytest.approx(alone_travel_h)
    pooled_km = sum((r.travel_m + r.work_m) / 1000 * VISITS for p in c.pooled_plans for r in p.rounds)
    assert c.pooled_total.km == pytest.approx(pooled_km)
    assert sum(t.km for t in c.pooled.values()) == pytest.approx(pooled_km)  # the per-commune parts add up
    # every mowed green space once alone and once pooled; on-site hours are the same work both ways
    assert sorted(a for p in c.alone_plans.values() for a in served(p)) == mowed
    assert sorted(a for p in c.pooled_plans for a in served(p)) == mowed
    assert c.pooled_total.hours_on_site == pytest.approx(c.alone_total.hours_on_site)


def test_savings_and_cost_sharing(comparison) -> None:
    c, _, names, _ = comparison
    t = c.table(names)
    assert t["saving"]["km"] == pytest.approx(t["alone"]["km"] - t["pooled"]["km"], abs=0.2)
    assert sum(x["key"] for x in t["communes"]) == pytest.approx(1.0, abs=1e-3)
    assert sum(x["pays_pooled_eur"] for x in t["communes"]) == pytest.approx(t["pooled"]["cost_eur"], abs=len(names))
    if t["saving"]["cost_eur"] >= 0:
        assert t["losers"] == [] and all(x["saving_eur"] >= -1 for x in t["communes"])
    co2 = t["saving"]["km"] * c.params.fuel_l_per_km * 3.17
    assert t["saving"]["co2_kg"] == pytest.approx(co2, abs=1.0)


def test_results_are_stable_for_a_fixed_seed(comparison) -> None:
    c, again, names, _ = comparison
    assert c.table(names) == again.table(names)


def test_scenario_through_the_api(api: str, demo_db: str) -> None:

    add_token(demo_db, "director", "reader")
    r = httpx.post(
        f"{api}/analysis/scenarios",
        json={"service": "buildings", "iterations": 50},
        headers={"Authorization": "Bearer token-director"},
        timeout=300,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["alone"]["crew_hours"] > 0 and len(body["communes"]) > 1
    items = httpx.get(
        f"{api}/collections/scenario_communes/items", params={"filter": f"scenario_id = {body['id']}"}
    ).json()
    assert items["numberMatched"] == len(body["communes"])
    assert httpx.get(f"{api}/analysis/scenarios/{body['id']}").json()["service"] == "buildings"


def test_statistics_per_commune_agree_with_the_inventory(api: str, demo_db: str) -> None:
    rows = httpx.get(f"{api}/analysis/statistics", timeout=60).json()["statistics"]
    with psycopg.connect(demo_db) as conn:
        lights = dict(conn.execute("SELECT commune_insee, count(*) FROM patrimoine.street_light GROUP BY 1").fetchall())
        km = dict(conn.execute("SELECT commune_insee, sum(length_m) / 1000 FROM patrimoine.road GROUP BY 1").fetchall())
        population = dict(conn.execute("SELECT insee, population FROM patrimoine.commune").fetchall())
    laval = {r["service"]: r for r in rows if r["insee"] == "53130"}
    assert laval["lighting"]["assets"] == lights["53130"]
    assert laval["lighting"]["hours_per_year"] > 0
    assert laval["roads"]["size"] == pytest.approx(km["53130"], abs=1e-3)
    assert laval["lighting"]["assets_per_1000"] == pytest.approx(lights["53130"] * 1000 / population["53130"], abs=0.01)
    assert len(rows) == 4 * len(population)
