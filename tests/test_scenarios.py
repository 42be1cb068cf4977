"""Alone vs pooled on the demo territory: totals are sums of the scenario's own rounds, every asset is planned
once each way, no commune pays more than alone when pooling saves, and a fixed seed gives the same figures."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from gis_patrimoine.analysis.params import Parameters
from gis_patrimoine.analysis.scenarios import Comparison, Totals, commune_names, compare
from tests import writable
from tests.servers import add_token

demo_db, api = writable.demo_db, writable.api  # this module writes: its own clone of the demo

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


def hand_built(pooled_a: Totals, pooled_b: Totals) -> Comparison:
    """Two communes with figures worked out by hand (default parameters: 2 agents × 32 €/h, 0.6425 €/km)."""
    total = Totals(km=pooled_a.km + pooled_b.km)
    total.hours_on_site = pooled_a.hours_on_site + pooled_b.hours_on_site
    total.hours_travel = pooled_a.hours_travel + pooled_b.hours_travel
    return Comparison(
        service="green_spaces",
        activity="mowing",
        visits_per_year=1,
        params=Parameters(),
        alone={
            "A": Totals(km=100, hours_on_site=10, hours_travel=5),
            "B": Totals(km=300, hours_on_site=20, hours_travel=15),
        },
        pooled={"A": pooled_a, "B": pooled_b},
        pooled_total=total,
    )


def test_savings_and_cost_sharing_worked_out_by_hand() -> None:
    # alone: A 15 h × 64 € + 100 km × 0.6425 € = 1,024 €; B 35 h × 64 + 300 × 0.6425 = 2,433 €; together 3,457 €
    # pooled: A 13 h, 61 km = 871 €; B 27 h, 140 km = 1,818 €; total 40 h, 201 km = 2,689 €
    c = hand_built(Totals(km=61, hours_on_site=10, hours_travel=3), Totals(km=140, hours_on_site=20, hours_travel=7))
    t = c.table({"A": "Aa", "B": "Bb"}, population={"A": 9000, "B": 1000})
    assert (t["alone"]["cost_eur"], t["pooled"]["cost_eur"]) == (3457, 2689)
    assert t["saving"]["cost_eur"] == 768 and t["saving"]["km"] == 199
    assert t["saving"]["co2_kg"] == pytest.approx(139.5 - 70.1)  # 400 and 201 km × 0.11 l × 3.17 kg
    a, b = t["communes"]
    # the stand-alone key: each pays its own cost × 2,689 / 3,457, so each saves the same 22.2 %
    assert (a["pays_pooled_eur"], b["pays_pooled_eur"]) == (797, 1892)
    assert (a["saving_eur"], b["saving_eur"]) == (227, 541)
    assert (a["key"], b["key"]) == (0.2962, 0.7038)
    # by use: the pooled work done for each (871 and 1,818 of 2,689 €)
    assert (a["keys"]["use"], b["keys"]["use"]) == (0.3239, 0.6761)
    assert (a["pays_by_key_eur"]["use"], b["pays_by_key_eur"]["use"]) == (871, 1818)
    # by population, A (9,000 of 10,000 inhabitants) would pay 2,420 € instead of 1,024 € alone: named
    assert a["pays_by_key_eur"]["population"] == 2420 and a["pays_more_than_alone"] == ["population"]
    assert t["losers"] == [] and t["losers_by_key"] == {"stand_alone": [], "use": [], "population": ["Aa"]}


def test_pooling_that_costs_more_names_every_loser() -> None:
    # pooled rounds longer than alone (a far depot): 60 h and 800 km = 4,354 € against 3,457 € alone
    c = hand_built(Totals(km=300, hours_on_site=10, hours_travel=10), Totals(km=500, hours_on_site=20, hours_travel=20))
    t = c.table({"A": "Aa", "B": "Bb"})
    assert t["pooled"]["cost_eur"] == 4354  # 60 h × 64 € + 800 km × 0.6425 €
    assert t["saving"]["cost_eur"] == -897
    assert t["losers"] == ["Aa", "Bb"] and all(x["saving_eur"] < 0 for x in t["communes"])
    assert "population" not in t["losers_by_key"]  # no population given: no key by it


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
    with psycopg.connect(demo_db) as conn:  # the roads service's hours are its bins' and gullies' too: counted
        bins, gullies = conn.execute(
            "SELECT (SELECT count(*) FROM patrimoine.litter_bin WHERE commune_insee = '53130'), "
            "(SELECT count(*) FROM patrimoine.gully WHERE commune_insee = '53130')"
        ).fetchone()
    assert laval["roads"]["assets_by_layer"]["litter_bins"] == bins > 0
    assert laval["roads"]["assets_by_layer"]["gullies"] == gullies > 0


def test_a_pooled_round_s_travel_is_shared_by_on_site_time() -> None:
    """One round of 2 h's drive and 40 km serving A for 1 h and B for 3 h, done 10 times a year: A gets a quarter
    of the travel and of the km, B three quarters; each keeps its own on-site hours."""
    from types import SimpleNamespace

    from gis_patrimoine.analysis.scenarios import _annual

    stops = [SimpleNamespace(commune="A", service_s=3600.0), SimpleNamespace(commune="B", service_s=3 * 3600.0)]
    rnd = SimpleNamespace(stops=[0, 1], travel_m=30_000.0, work_m=10_000.0, travel_s=7200.0, service_s=4 * 3600.0)
    total, per = _annual(SimpleNamespace(rounds=[rnd], stops=stops), visits=10)
    assert (total.km, total.hours_travel, total.hours_on_site) == (400, 20, 40)
    assert (per["A"].km, per["A"].hours_travel, per["A"].hours_on_site) == (100, 5, 10)
    assert (per["B"].km, per["B"].hours_travel, per["B"].hours_on_site) == (300, 15, 30)
