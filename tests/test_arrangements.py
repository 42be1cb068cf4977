"""Arrangements on a territory built here (issue #16), through the rounds: three communes side by side along
one street — A with two depots, B and C one each — and lights along the street. What the rounds measure
(travel to a farther depot) and which depots a group may use are checked from the plans themselves."""

from __future__ import annotations

import psycopg
import pytest

from gis_patrimoine.arrangements.definition import Arrangement, Group, parse
from gis_patrimoine.arrangements.inputs import load
from gis_patrimoine.arrangements.run import compare, plan_all

X, Y = 500000, 6700000
COMMUNES = [("53001", "A", 0, 4000), ("53002", "B", 1000, 1500), ("53003", "C", 2000, 800)]
DEPOTS = [("53001", 150, 30000), ("53001", 950, 18000), ("53002", 1500, 25000), ("53003", 2010, 15000)]


@pytest.fixture
def strip(conn: psycopg.Connection) -> psycopg.Connection:
    for insee, name, x, people in COMMUNES:
        conn.execute(
            "INSERT INTO patrimoine.commune (insee, name, population, geom) "
            "VALUES (%s, %s, %s, ST_Multi(ST_MakeEnvelope(%s, %s, %s, %s, 2154)))",
            (insee, name, people, X + x, Y, X + x + 1000, Y + 1000),
        )
    for k, x0 in enumerate(range(0, 3000, 250)):  # pieces of 250 m, each in its commune
        sid, insee, x1 = f"r{k}", COMMUNES[x0 // 1000][0], x0 + 250
        conn.execute(
            "INSERT INTO patrimoine.road (commune_insee, source, source_id, road_class, geom) VALUES "
            "(%s, 't', %s, 'street', ST_SetSRID(ST_MakeLine(ST_MakePoint(%s, %s), ST_MakePoint(%s, %s)), 2154))",
            (insee, sid, X + x0, Y + 500, X + x1, Y + 500),
        )
    for k, (insee, x, cost) in enumerate(DEPOTS):
        did = conn.execute(
            "INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom) VALUES "
            "(%s, 't', %s, %s, '{lighting}', 1, ST_SetSRID(ST_MakePoint(%s, %s), 2154)) RETURNING id",
            (insee, f"d{k}", f"CTM {insee} {k}", X + x, Y + 505),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO patrimoine.depot_cost (commune_insee, depot_id, annual_cost_eur, capacity_crews) "
            "VALUES (%s, %s, %s, 3)",
            (insee, did, cost),
        )
    for k, x in enumerate([20, 60, 100, 880, 900, 940, 990, 1010, 1300, 1700, 1980, 2300, 2600, 2950]):
        insee = COMMUNES[min(x // 1000, 2)][0]
        conn.execute(
            "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, geom) VALUES "
            "(%s, 't', %s, 'led', ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
            (insee, f"l{k}", X + x, Y + 510),
        )
    conn.commit()
    return conn


def depot_ids(conn: psycopg.Connection) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for did, insee in conn.execute("SELECT id, commune_insee FROM patrimoine.depot ORDER BY id"):
        out.setdefault(insee, []).append(did)
    return out


STATUS_QUO = {"name": "status_quo", "title": "each alone"}


def test_closing_a_depot_saves_its_fixed_cost_and_adds_the_travel_the_rounds_measure(strip) -> None:
    ids = depot_ids(strip)
    keep_one = {"name": "a_one_depot", "title": "A keeps one depot",
                "groups": [{"name": "A", "members": ["53001"], "depots": [ids["53001"][0]]}]}  # fmt: skip
    result = compare(strip, parse([STATUS_QUO, keep_one]), iterations=50, draws=20)
    before, after = result["arrangements"]
    assert after["depots_closed"] == [ids["53001"][1]]
    assert before["by_item_eur"]["depots"] - after["by_item_eur"]["depots"] == 18000  # the depot at 950 m
    assert after["by_item_eur"]["depots_closed"] == round(18000 * 0.3)  # 70 % of its cost saved (central)
    # the lights near 900 m were served from the depot at 950 m: from the one at 150 m, the rounds drive more
    inputs = load(strip)
    planned, _ = plan_all(strip, parse([STATUS_QUO, keep_one]), inputs, iterations=50)
    travel = [sum(w.travel_h for unit in p.units for w in unit[2] if w.commune == "53001") for p in planned]
    km = [sum(w.km for unit in p.units for w in unit[2] if w.commune == "53001") for p in planned]
    assert travel[1] > travel[0] and km[1] > km[0]
    assert after["km"] > before["km"]
    assert after["one_off_eur"] == 15000  # moving out of the closed depot (a group of one: no convention)


def test_a_hub_of_a_and_b_uses_only_their_depots(strip) -> None:
    ids = depot_ids(strip)
    inputs = load(strip)
    arrangements = [
        Arrangement(name="hub_own", title="A and B, own depots", groups=[Group(name="AB", members=["53001", "53002"])]),
        Arrangement(name="hub_best", title="A and B, best depots",
                    groups=[Group(name="AB", members=["53001", "53002"], depots="optimise")]),
    ]  # fmt: skip
    planned, solved = plan_all(strip, arrangements, inputs, iterations=50)
    for p in planned:
        hub = next(u for u in p.units if u[0].name == "AB")
        used = {w.depot for w in hub[2]}
        assert used and used <= {*ids["53001"], *ids["53002"]}  # C's depot, right by B's border, is not theirs
        assert {w.commune for w in hub[2]} == {"53001", "53002"}
    assert set(planned[1].location["AB"]["kept"]) <= {*ids["53001"], *ids["53002"]}
    # with the depots chosen by facility location, each commune's rounds start from the depot it was given
    assignment = planned[1].location["AB"]["assignment"]
    hub = next(u for u in planned[1].units if u[0].name == "AB")
    assert assignment and all(w.depot == assignment[w.commune] for w in hub[2])
    # every task of the hub is planned from A's or B's depots only
    assert all(t.depot != ids["53003"][0] for t in solved if "53003" not in t.communes)


def test_the_comparison_on_a_small_territory(strip) -> None:
    result = compare(strip, iterations=50, draws=30)
    names = [a["name"] for a in result["arrangements"]]
    assert names[0] == "status_quo" and "full_pooling" in names and "common_service" in names
    base = result["arrangements"][0]
    assert base["saving_eur"] == 0 and base["range_eur"][0] <= base["total_eur"] <= base["range_eur"][1]
    for a in result["arrangements"]:
        # each payer's share adds up to the arrangement's total, under every key
        for key in ("use", "population", "stand_alone"):
            assert sum(c["pays_eur"][key] for c in a["communes"]) == pytest.approx(
                a["total_eur"], abs=len(a["communes"])
            )
        assert a["unreachable_assets"] == 12 and a["incomplete"]  # the 12 road pieces: no depot here does roads
    assert result["robustness"]["best"] == result["ranking"][0]
    assert 0 < result["solver"]["spread"] < 0.5
    assert set(result["assumptions"]) >= {"productive_hours", "contract_factor", "one_off_factor"}


def test_activities_of_one_machine_share_their_passes(strip) -> None:
    from gis_patrimoine.analysis.rounds import RoundRequest, plan_rounds
    from gis_patrimoine.arrangements.work import tiers
    from gis_patrimoine.catalogue import get_catalogue

    acts = {a.name: a for la in get_catalogue().asset_layers if la.maintenance for a in la.maintenance.activities}
    # relamping (every 4 years) and LED checks (every 8): one platform, one crew; every 8 years both together
    made = [([a.name for a in group], passes) for group, passes in tiers([acts["relamping"], acts["led_check"]])]
    assert made == [(["led_check", "relamping"], 1 / 8), (["relamping"], 1 / 8)]
    # a building's two safety checks ride with two of its four upkeep visits; inspection (a van) rides alone
    made = [([a.name for a in g], p) for g, p in tiers([acts["safety_check"], acts["upkeep"], acts["inspection"]])]
    assert made == [(["safety_check", "upkeep"], 2), (["upkeep"], 2), (["inspection"], 1)]
    for k, x in enumerate((30, 70, 920)):  # old sodium lights beside the LEDs
        strip.execute(
            "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, geom) VALUES "
            "('53001', 't', %s, 'hps', ST_SetSRID(ST_MakePoint(%s, %s), 2154))",
            (f"h{k}", X + x, Y + 510),
        )
    strip.commit()

    def plan(first: str, *others: str):
        return plan_rounds(strip, RoundRequest("lighting", first, ["53001"], iterations=50, workers=1,
                                               together=list(others))).summary()  # fmt: skip

    alone = [plan("relamping"), plan("led_check")]
    both = plan("led_check", "relamping")
    # the same work on site, one trip instead of two
    assert both["hours_on_site"] == pytest.approx(sum(p["hours_on_site"] for p in alone))
    assert both["hours_travel"] < sum(p["hours_travel"] for p in alone)
    assert both["assets"] == sum(p["assets"] for p in alone) == 10


def test_a_depot_borrowed_for_a_service_is_kept_and_paid(strip) -> None:
    ids = depot_ids(strip)
    # A's and B's depots do roads only: their hub's lighting comes from C's depot, the nearest that does it
    strip.execute("UPDATE patrimoine.depot SET services = '{roads}' WHERE commune_insee IN ('53001', '53002')")
    strip.commit()
    hub = {"name": "hub", "title": "A and B", "groups": [{"name": "AB", "members": ["53001", "53002"]}]}
    result = compare(strip, parse([STATUS_QUO, hub]), iterations=50, draws=10)
    after = result["arrangements"][1]
    group = after["groups"][0]
    assert ids["53003"][0] in group["depots"] and ids["53003"][0] not in after["depots_closed"]
    assert any("none of its depots serves lighting" in n for n in after["notes"])
    assert after["unreachable_assets"] == 0 and not after["incomplete"]


def test_the_same_figures_from_run_to_run_each_problem_solved_once(strip) -> None:
    """Fixed iterations: the same euros on any run. A round problem (activity, communes, depot, assets) several
    arrangements ask for is solved once. Ranges come from 200 draws unless told; the status quo is shown twice,
    as declared by the diagnostic and as modelled (the baseline of every saving)."""
    first = compare(strip, iterations=50)
    again = compare(strip, iterations=50, draws=20)
    assert [a["total_eur"] for a in first["arrangements"]] == [a["total_eur"] for a in again["arrangements"]]
    assert first["robustness"]["draws"] == 200
    inputs = load(strip)
    arrangements = [a for a in parse([STATUS_QUO]) if not a.groups]
    twice = arrangements + [a.model_copy(update={"name": "again"}) for a in arrangements]
    _, once = plan_all(strip, arrangements, inputs, iterations=50)
    _, solved = plan_all(strip, twice, inputs, iterations=50)
    assert len(solved) == len(once) > 0  # the second, identical arrangement solved nothing more
    assert first["baseline"] == "status_quo" and first["arrangements"][0]["saving_eur"] == 0
    declared = first["declared_status_quo"]
    assert {"total_eur", "undone_h", "work_needed_h"} <= set(declared)  # beside the modelled one, not instead
    modelled = first["arrangements"][0]["total_eur"]
    assert all(a["saving_eur"] == pytest.approx(modelled - a["total_eur"], abs=1) for a in first["arrangements"])


def test_the_proposals_on_the_demo_follow_their_rules(demo_db: str) -> None:
    """The common service is the most populous commune with the agglomération; the agglomération's lighting is
    for the communes that declared no electrician; hubs are contiguous groups of at most five communes other
    than the central one; the agglomération joins only a comparison of the whole territory."""
    from gis_patrimoine.arrangements.propose import propose

    with psycopg.connect(demo_db) as conn:
        inputs = load(conn)
        proposed = {a.name: a for a in propose(conn, inputs)}
        biggest = conn.execute("SELECT insee FROM patrimoine.commune ORDER BY population DESC LIMIT 1").fetchone()[0]
        every = [r[0] for r in conn.execute("SELECT insee FROM patrimoine.commune ORDER BY insee")]
        electricians = "SELECT DISTINCT commune_insee FROM patrimoine.staff WHERE skill = 'electrician'"
        with_electrician = {r[0] for r in conn.execute(electricians)}
        hubs = [g.members for g in proposed["hubs"].groups]
        pieces = [
            conn.execute(
                "SELECT ST_NumGeometries(ST_Multi(ST_Union(geom))) FROM patrimoine.commune WHERE insee = ANY(%s)",
                (members,),
            ).fetchone()[0]
            for members in hubs
        ]
        partial = propose(conn, inputs, communes=every[:6])
    assert proposed["common_service"].groups[0].members == [biggest, "agglo"]
    lighting = proposed["agglo_lighting"].groups[0]
    assert lighting.services == ["lighting"] and lighting.members == [
        *(c for c in every if c not in with_electrician),
        "agglo",
    ]
    assert 0 < len(with_electrician - {None}) < len(every)  # some communes have one, some not: a real choice
    assert hubs and all(2 <= len(h) <= 5 and biggest not in h for h in hubs), hubs
    assert pieces == [1] * len(hubs)  # each hub one piece of territory
    assert all("agglo" not in g.members for a in partial for g in a.groups)


def test_work_no_depot_does_is_left_out_said_and_flagged(strip) -> None:
    """A park in A, while no depot of the strip does green spaces (nor roads): the arrangements are costed
    without them, each says so, counts them and is marked incomplete; payback is the one-off cost over the
    yearly saving; the report shows in red the communes that would pay more than alone under a key."""
    from gis_patrimoine.arrangements import store
    from gis_patrimoine.arrangements.report import render

    strip.execute(
        "INSERT INTO patrimoine.green_space (commune_insee, source, source_id, kind, geom) VALUES ('53001', 't', "
        "'park', 'park', ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(%s, %s), 2154), 30)))",
        (X + 500, Y + 600),
    )
    strip.commit()
    result = compare(strip, iterations=50, draws=20)
    assert any(a["saving_eur"] > 0 for a in result["arrangements"])  # so that a payback is worked out
    for a in result["arrangements"]:
        assert a["incomplete"] and any("green_spaces" in n and "NOT" in n for n in a["notes"]), a["name"]
        assert a["unreachable_assets"] == 12 + 1, a["name"]  # the road pieces and the park, each once
        if a["saving_eur"] > 0:
            assert a["payback_years"] == round(a["one_off_eur"] / a["saving_eur"], 1)
        else:
            assert a["payback_years"] is None
    run_id = store.store(strip, result)
    strip.commit()
    stored = store.load(strip, run_id)
    page = render(strip, stored)
    assert page.count("<td class='more'>") == 0  # nobody pays more here under any key
    # the director's page carries this comparison's own figures: every arrangement with its total and range,
    # every commune's payment, every assumption with its source, the declared status quo, the notes
    import html as h

    def eur(v: float) -> str:
        return f"{v:,.0f}".replace(",", " ")

    for a in stored["arrangements"]:
        assert h.escape(a["title"]) in page and eur(a["total_eur"]) in page
        assert eur(a["range_eur"][0]) in page and eur(a["range_eur"][1]) in page
        assert all(eur(c["pays_eur"]["use"]) in page for c in a["communes"])
    assert all(h.escape(v["source"]) in page for v in stored["assumptions"].values())
    assert eur(stored["declared_status_quo"]["total_eur"]) in page
    assert "green_spaces NOT COSTED" in page and page.count("<svg") >= len(stored["arrangements"])
    stored["arrangements"][1]["communes"][0]["pays_more_than_alone"] = ["population"]  # as if one did
    assert render(strip, stored).count("<td class='more'>") == 1


def test_the_agglomeration_s_own_staff_are_left_out_and_the_winner_s_robustness_is_its_share(strip) -> None:
    """Agglomération electricians and a platform (commune empty in the diagnostic) change no total and no
    machine count: their work is not in the inventory. Each arrangement's share of the draws where it is
    cheapest adds up to one; the winner (cheapest at the central values) is robust when its share is at least
    90 % — not so here: two arrangements lie within each other's ranges."""
    depot_a = depot_ids(strip)["53001"][0]
    platform = (
        "INSERT INTO patrimoine.equipment (commune_insee, depot_id, label, equipment_type, year, purchase_price_eur, "
        "life_years, running_cost_eur) VALUES (%s, %s, %s, 'aerial_platform', 2018, 85000, 12, 6000)"
    )
    for k in range(2):  # A holds two platforms
        strip.execute(platform, ("53001", depot_a, f"Nacelle {k}"))
    strip.commit()
    before = compare(strip, iterations=50, draws=40)
    strip.execute(
        "INSERT INTO patrimoine.staff (commune_insee, service, skill, grade, fte, loaded_cost_eur) "
        "VALUES (NULL, 'lighting', 'electrician', 'technicien', 3, NULL)"
    )
    strip.execute(platform, (None, depot_a, "Nacelle de l'agglomération"))
    strip.commit()
    after = compare(strip, iterations=50, draws=40)
    assert [a["total_eur"] for a in after["arrangements"]] == [a["total_eur"] for a in before["arrangements"]]
    for a in after["arrangements"]:  # the communes' machines held, needed and freed; not the agglomération's
        assert a["machines_held"] == {"aerial_platform": 2}, a["name"]
        kinds = set(a["machines_held"]) | set(a["machines_needed"])
        assert a["machines_freed"] == {t: a["machines_held"].get(t, 0) - a["machines_needed"].get(t, 0) for t in kinds}
    shares = [a["best_share"] for a in before["arrangements"]]
    assert sum(shares) == pytest.approx(1, abs=1e-3)
    best = before["robustness"]
    winner = next(a for a in before["arrangements"] if a["name"] == before["ranking"][0])  # cheapest at central values
    assert best["best_share"] == winner["best_share"] and best["robust"] == (winner["best_share"] >= 0.9)
    from gis_patrimoine.arrangements.inputs import assumptions

    capture = assumptions()["purchase_capture"]
    assert capture.value == 0.75 and capture.low < 0.75 < capture.high and capture.source


def test_the_command_shows_its_progress_on_a_terminal(strip, db_url: str) -> None:
    """On a terminal (here a pseudo-terminal made by `script`), a bar and the step under way; piped, none."""
    import os
    import re
    import shlex
    import subprocess
    import sys

    command = f"{shlex.quote(sys.executable)} -m gis_patrimoine.cli analyse arrangements --iterations 20 --draws 10"
    env = {**os.environ, "DATABASE_URL": db_url, "COLUMNS": "120", "TERM": "xterm"}
    tty = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, env=env, timeout=300)
    assert tty.returncode == 0, tty.stdout[-2000:]
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", tty.stdout)  # colours and cursor moves dropped
    bar = re.compile(r"round problems ━+ (\d+|\?)/(\d+|\?) \d:\d\d:\d\d")  # step, bar, done/total, time
    assert bar.search(shown) and "status_quo" in shown  # the bar, then the table
    piped = subprocess.run(shlex.split(command), capture_output=True, text=True, env=env, timeout=300)
    assert piped.returncode == 0 and "status_quo" in piped.stdout and not bar.search(piped.stdout + piped.stderr)


def test_ranges_are_the_10th_and_90th_percentiles_of_the_draws(strip, monkeypatch) -> None:
    """Each total's range is P10–P90 of its draws: the draws recorded here as compare() costs them (a draw is a
    costing with the travel drawn within the solver's spread; the central costing passes none)."""
    import numpy as np

    from gis_patrimoine.arrangements import run

    drawn: list[float] = []
    real = run.cost

    def recording(p, inputs, a, *travel):
        c = real(p, inputs, a, *travel)
        if travel:
            drawn.append(c.total_eur)
        return c

    monkeypatch.setattr(run, "cost", recording)
    result = run.compare(strip, parse([STATUS_QUO]), iterations=50, draws=50)
    assert len(drawn) == 50
    expected = [round(float(np.percentile(drawn, q)), 0) for q in (10, 90)]
    assert result["arrangements"][0]["range_eur"] == expected and expected[0] < expected[1]


def test_round_problems_the_solver_refuses_are_counted_and_said(strip) -> None:
    """A shift of 18 seconds: no round can be planned; every light is left out, counted once, and said."""
    from gis_patrimoine.analysis.params import save

    save(strip, {"shift_hours": 0.005})
    strip.commit()
    result = compare(strip, parse([STATUS_QUO]), iterations=20, draws=10)
    [a] = result["arrangements"]
    assert a["incomplete"] and any("NOT PLANNED" in n for n in a["notes"])
    assert a["unreachable_assets"] == 14 + 12  # the 14 lights (once, whatever their activities), the road pieces
