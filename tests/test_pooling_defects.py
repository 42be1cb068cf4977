"""Defects of the alone-vs-pooled comparison found in review (issue #16), on a territory built here: three
communes side by side along one street, a depot each, lights along the street."""

from __future__ import annotations

import psycopg
import pytest

from gis_patrimoine.analysis.params import save
from gis_patrimoine.analysis.rounds import RoundRequest, plan_rounds
from gis_patrimoine.analysis.scenarios import compare

X, Y = 500000, 6700000
# A: 0–1000 m, B: 1000–2000 m, C: 2000–3000 m (east of the origin), each 1,000 m deep
COMMUNES = [("53001", "A", 0), ("53002", "B", 1000), ("53003", "C", 2000)]


@pytest.fixture
def strip(conn: psycopg.Connection) -> psycopg.Connection:
    for insee, name, x in COMMUNES:
        conn.execute(
            "INSERT INTO patrimoine.commune (insee, name, geom) "
            "VALUES (%s, %s, ST_Multi(ST_MakeEnvelope(%s, %s, %s, %s, 2154)))",
            (insee, name, X + x, Y, X + x + 1000, Y + 1000),
        )
    # the street: A's piece runs 100 m into B (as drawn in a municipal file), then B's, then C's
    for sid, insee, x0, x1 in (("r1", "53001", 100, 1100), ("r2", "53002", 1100, 2000), ("r3", "53003", 2000, 2900)):
        conn.execute(
            "INSERT INTO patrimoine.road (commune_insee, source, source_id, road_class, geom) VALUES "
            "(%s, 't', %s, 'street', ST_SetSRID(ST_MakeLine(ST_MakePoint(%s, %s), ST_MakePoint(%s, %s)), 2154))",
            (insee, sid, X + x0, Y + 500, X + x1, Y + 500),
        )
    for insee, x in (("53001", 150), ("53002", 1500), ("53003", 2010)):  # C's depot right by B's boundary
        conn.execute(
            "INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom) VALUES "
            "(%s, 't', %s, %s, '{lighting}', 1, ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
            (insee, insee, f"CTM {insee}", X + x, Y + 505),
        )
    lights = [("53001", 990), ("53002", 1010), ("53001", 500), ("53002", 1980), ("53002", 1960), ("53003", 2500)]
    for k, (insee, x) in enumerate(lights):
        conn.execute(
            "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, geom) VALUES "
            "(%s, 't', %s, 'led', ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
            (insee, f"l{k}", X + x, Y + 510),
        )
    conn.commit()
    return conn


def test_a_stop_serves_one_commune(strip: psycopg.Connection) -> None:
    plan = plan_rounds(strip, RoundRequest("lighting", "inspection", ["53001", "53002"], iterations=50))
    with strip.cursor() as cur:
        communes = dict(cur.execute("SELECT id, commune_insee FROM patrimoine.street_light").fetchall())
    # the lights at 990 m (A) and 1,010 m (B) stand 20 m apart on A's road piece: two stops, one per commune,
    # so that B's time is B's
    assert all(communes[a] == s.commune for s in plan.stops for a in s.assets)
    assert len(plan.stops) == 4  # 500 m; 990 m; 1,010 m; 1,960 and 1,980 m together (B's road)


def test_comparisons_use_the_territorys_stop_span(strip: psycopg.Connection) -> None:
    save(strip, {"stop_spread_m": 0})  # every light its own stop
    c = compare(strip, "lighting", "inspection", iterations=50)
    stops = sum(len(p.stops) for p in c.alone_plans.values())
    assert stops == 6 and c.params.stop_spread_m == 0


def test_a_pair_is_pooled_over_its_own_depots_only(strip: psycopg.Connection) -> None:
    ids = dict(strip.execute("SELECT commune_insee, id FROM patrimoine.depot").fetchall())
    c = compare(strip, "lighting", "inspection", ["53001", "53002"], iterations=50)
    pooled_depots = {d.id for p in c.pooled_plans for d in p.depots}
    # C's depot is the nearest to B's lights at 1,960 and 1,980 m, but C is not in the pair
    assert pooled_depots <= {ids["53001"], ids["53002"]}
    everyone = compare(strip, "lighting", "inspection", iterations=50)
    assert ids["53003"] in {d.id for p in everyone.pooled_plans for d in p.depots}


def test_crews_are_whole_and_each_commune_alone_needs_its_own(strip: psycopg.Connection) -> None:
    c = compare(strip, "lighting", "inspection", iterations=50)
    table = c.table({"53001": "A", "53002": "B", "53003": "C"})
    # a few minutes of work a year in each of three communes: three crews alone (one each), one pooled
    assert table["alone"]["crew_years"] < 0.01 and table["pooled"]["crew_years"] < 0.01
    assert (table["alone"]["crews_needed"], table["pooled"]["crews_needed"]) == (3, 1)
    assert table["saving"]["crews_needed"] == 2


def test_zones_over_some_depots_say_which_communes_they_pool(strip: psycopg.Connection) -> None:
    from gis_patrimoine.analysis.zones import zones

    ids = dict(strip.execute("SELECT commune_insee, id FROM patrimoine.depot").fetchall())
    result = zones(strip, "lighting", 300, 1.0, [ids["53001"], ids["53002"]])
    assert len(result["notes"]) == 1 and "53003" in result["notes"][0] and "no candidate depot" in result["notes"][0]
    assert zones(strip, "lighting", 300, 1.0)["notes"] == []


def test_three_keys_share_the_pooled_cost_and_name_who_pays_more(strip: psycopg.Connection) -> None:
    # C holds most people but one light: by population it pays most of the bill, more than alone
    for insee, people in (("53001", 100), ("53002", 100), ("53003", 5000)):
        strip.execute("UPDATE patrimoine.commune SET population = %s WHERE insee = %s", (people, insee))
    strip.commit()
    c = compare(strip, "lighting", "inspection", iterations=50)
    names = {"53001": "A", "53002": "B", "53003": "C"}
    t = c.table(names, {"53001": 100, "53002": 100, "53003": 5000})
    pooled = t["pooled"]["cost_eur"]
    for key in ("stand_alone", "use", "population"):
        assert sum(x["keys"][key] for x in t["communes"]) == pytest.approx(1.0, abs=1e-3), key
        assert sum(x["pays_by_key_eur"][key] for x in t["communes"]) == pytest.approx(pooled, abs=3)
    by = {x["name"]: x for x in t["communes"]}
    assert by["C"]["keys"]["population"] == pytest.approx(5000 / 5200, abs=1e-4)  # shown to 4 decimals
    assert by["C"]["pays_by_key_eur"]["population"] > by["C"]["alone"]["cost_eur"]
    assert t["losers_by_key"]["population"] == ["C"] and "population" in by["C"]["pays_more_than_alone"]
    # by use, each pays for the pooled work done for it: the shares follow the pooled per-commune costs
    assert by["B"]["keys"]["use"] == pytest.approx(by["B"]["pooled"]["cost_eur"] / sum(
        x["pooled"]["cost_eur"] for x in t["communes"]), abs=1e-3)  # fmt: skip
    assert "population" not in c.table(names)["losers_by_key"]  # no populations: no such key


def test_the_agglomerations_depot_is_not_the_communes_it_stands_in(strip: psycopg.Connection) -> None:
    ids = dict(strip.execute("SELECT commune_insee, id FROM patrimoine.depot").fetchall())
    # the diagnostic says C's depot is the agglomération's (no commune answered for it)
    strip.execute("INSERT INTO patrimoine.depot_cost (commune_insee, depot_id, annual_cost_eur) VALUES (NULL, %s, 1)",
                  (ids["53003"],))  # fmt: skip
    strip.commit()
    c = compare(strip, "lighting", "inspection", iterations=50)
    # alone, C has no depot of its own: it is served from the nearest, and the comparison says so
    assert any("53003 has no depot serving lighting" in n for n in c.notes)
