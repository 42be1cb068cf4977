"""The costing of an arrangement, worked out by hand on small territories written here (issue #16): whole
posts or contracts, machines whose seasons overlap, pooling's own costs, cost-sharing keys that hurt."""

from __future__ import annotations

import pytest

from gis_patrimoine.arrangements.costing import (
    GENERAL,
    Work,
    cost_arrangement,
    cost_unit,
    payments,
    share,
    staff_pool,
)
from gis_patrimoine.arrangements.definition import Arrangement, Group, Unit, parse, units
from gis_patrimoine.arrangements.inputs import Inputs, Machine, assumptions

ALL_YEAR = tuple([1 / 12] * 12)
GROWING = tuple(1 / 7 if 4 <= m <= 10 else 0.0 for m in range(1, 13))
WINTER = tuple(1 / 3 if m in (12, 1, 2) else 0.0 for m in range(1, 13))


def inputs(contract_rate: float = 100.0, **overrides: object) -> Inputs:
    base = dict(
        names={"A": "A", "B": "B", "C": "C"},
        population={"A": 1000, "B": 1000, "C": 1000},
        post_cost={"green_spaces": 38000.0, "electrician": 52000.0},
        specialist={"electrician"},
        general_skill_cost=38000.0,
        manager_cost=47000.0,
        contract_rate={"green_spaces": contract_rate, "lighting": contract_rate},
        machines={"mower": Machine(5000.0, 0.13, 2.5), "van": Machine(5000.0, 0.11, 0.0)},
        held={},
        depot_owner={1: "A", 2: "B", 3: "C"},
        depot_cost={1: 20000.0, 2: 20000.0, 3: 20000.0},
        depot_capacity={1: None, 2: None, 3: None},
        depot_services={1: ["green_spaces"], 2: ["green_spaces"], 3: ["green_spaces"]},
        purchases=[],
        working_days=205,
        shift_hours=7.0,
        months={"all_year": ALL_YEAR, "growing": GROWING, "winter": WINTER},
    )
    base.update(overrides)
    return Inputs(**base)


A = {**{k: v.value for k, v in assumptions().items()}, "productive_hours": 1400.0, "coordination_posts": 0.5}


def work(commune: str, hours: float, season: str = "all_year", equipment: str | None = None, depot: int = 1) -> Work:
    """`hours` of on-site crew time a year (one agent), nothing else: the arithmetic stays readable."""
    return Work(commune, "green_spaces", "mowing", "green_spaces", equipment, 1, season, hours, 0.0, 0.0, 0.0, depot)


def alone(code: str, depot: int) -> Unit:
    return Unit(code, (code,), ("green_spaces",), (depot,))


def test_a_fraction_of_a_post_is_a_whole_post_alone_and_shared_pooled() -> None:
    inp = inputs(contract_rate=100.0)
    # 0.4 post each (560 h of 1,400): a post costs 38,000 €, contracting the 560 h 56,000 € -> one post each
    costs = [cost_unit(alone(c, d), (d,), [work(c, 560, depot=d)], inp, A) for c, d in (("A", 1), ("B", 2), ("C", 3))]
    assert [c.posts[GENERAL] for c in costs] == [1, 1, 1]
    assert sum(c.eur["staff"] for c in costs) == pytest.approx(3 * 38000)
    # pooled, 1,680 h = 1.2 posts: one post and the 280 h above it contracted (38,000 + 28,000 = 66,000 €)
    # is cheaper than two posts (76,000 €)
    group = Unit("ABC", ("A", "B", "C"), ("green_spaces",), (1,), group=True)
    pooled = cost_unit(group, (1,), [work(c, 560) for c in "ABC"], inp, A)
    assert pooled.posts[GENERAL] == 1 and pooled.contracted_h[GENERAL] == pytest.approx(280)
    assert pooled.eur["staff"] + pooled.eur["contracts"] == pytest.approx(66000)
    assert pooled.eur["coordination"] == pytest.approx(0.5 * 47000 + 0.02 * 1 * 47000)  # a manager's time
    # when contracts are dear (200 €/h: 56,000 € for the 280 h), two posts
    dear = cost_unit(group, (1,), [work(c, 560) for c in "ABC"], inputs(contract_rate=200.0), A)
    assert dear.posts[GENERAL] == 2 and dear.contracted_h[GENERAL] == 0


def test_alone_a_commune_contracts_out_when_that_is_cheaper_than_a_post() -> None:
    # 0.2 post (280 h) at 100 €/h: 28,000 € against a 38,000 € post
    c = cost_unit(alone("A", 1), (1,), [work("A", 280)], inputs(contract_rate=100.0), A)
    assert c.posts[GENERAL] == 0 and c.contracted_h[GENERAL] == pytest.approx(280)
    assert c.eur["contracts"] == pytest.approx(28000) and "contracted" in c.notes[0]


def test_peak_months_are_met_by_seasonal_hires_when_cheaper() -> None:
    # 1,400 h of mowing from April to October: 200 h a month against 116.7 h a post; one post (the average
    # need) and one seasonal agent each of the seven months (3,000 € a month) beats 83.3 h × 100 € a month
    posts, hires, contracted, eur = staff_pool([h * 1400 for h in GROWING], 38000, 100.0, 3000.0, 1400)
    assert (posts, hires, contracted) == (1, 7, 0.0) and eur == pytest.approx(38000 + 7 * 3000)
    # a specialist skill is never hired by the season: one post and 583 h contracted (110,333 €) or two posts
    # (104,000 €): two
    posts, hires, contracted, eur = staff_pool([h * 1400 for h in GROWING], 52000, 100.0, None, 1400)
    assert (posts, hires, contracted) == (2, 0, 0.0) and eur == pytest.approx(104000)


def test_two_machines_whose_seasons_overlap_cannot_be_one() -> None:
    inp = inputs(contract_rate=1000.0)  # in house, whatever it costs: the machines are the question
    group = Unit("AB", ("A", "B"), ("green_spaces",), (1,), group=True)
    # a machine works 205 / 12 days × 7 h × 0.8 = 95.7 h a month; 400 h over April–October is 57.1 h a month
    overlap = cost_unit(group, (1,), [work("A", 400, "growing", "mower"), work("B", 400, "growing", "mower")], inp, A)
    assert overlap.machines["mower"] == 2  # 114.3 h a month together
    apart = cost_unit(group, (1,), [work("A", 400, "growing", "mower"), work("B", 200, "winter", "mower")], inp, A)
    assert apart.machines["mower"] == 1  # 57.1 h in summer, 66.7 h in winter: one mower does both
    assert apart.eur["machines"] == pytest.approx(5000)
    # each alone needs its own
    each = [cost_unit(alone(c, 1), (1,), [work(c, 400, "growing", "mower")], inp, A) for c in "AB"]
    assert sum(c.machines["mower"] for c in each) == 2


def test_a_machine_shared_by_two_depots_is_driven_between_them() -> None:
    inp = inputs(contract_rate=1000.0)
    group = Unit("AB", ("A", "B"), ("green_spaces",), (1, 2), group=True)
    ws = [work("A", 200, "growing", "mower", depot=1), work("B", 200, "growing", "mower", depot=2)]
    c = cost_unit(group, (1, 2), ws, inp, A, depot_travel_h=0.25)
    # one mower for two depots: moved once a week to the depot without it, 4.3 × 7 months × 0.25 h
    assert c.machines["mower"] == 1 and c.machine_transfer_h == pytest.approx(4.3 * 7 * 0.25)


def test_closing_a_depot_saves_its_fixed_cost_once() -> None:
    inp = inputs(contract_rate=1000.0)
    group = Unit("AB", ("A", "B"), ("green_spaces",), (1,), group=True)
    keep_both = cost_arrangement([(Unit("AB", ("A", "B"), ("green_spaces",), (1, 2), group=True), (1, 2),
                                   [work("A", 500), work("B", 500, depot=2)], 0.0)], inp, A)  # fmt: skip
    close_b = cost_arrangement([(group, (1,), [work("A", 500), work("B", 500)], 0.0)], inp, A)
    assert keep_both.by_item()["depots"] - close_b.by_item()["depots"] == pytest.approx(20000)
    # of which `closed_depot_saved` is saved: the rest stays a cost (a lease running on, a building not yet sold)
    assert close_b.by_item()["depots_closed"] == pytest.approx(20000 * (1 - A["closed_depot_saved"]))
    assert close_b.closed == (2,) and close_b.units[0].closed == (2,)
    assert close_b.one_off_eur - keep_both.one_off_eur == pytest.approx(15000)  # moving out, once


def test_a_cost_sharing_key_where_a_commune_pays_more_than_alone_is_flagged() -> None:
    # A: many inhabitants and little work; B: few inhabitants and much work
    inp = inputs(contract_rate=1000.0, population={"A": 9000, "B": 1000, "C": 1000})
    base = [cost_unit(alone("A", 1), (1,), [work("A", 300)], inp, A),
            cost_unit(alone("B", 2), (2,), [work("B", 2400, depot=2)], inp, A)]  # fmt: skip
    group = Unit("AB", ("A", "B"), ("green_spaces",), (1,), group=True)
    pooled = [cost_unit(group, (1,), [work("A", 300), work("B", 2400)], inp, A)]
    alone_cost = {("A", "green_spaces"): base[0].total_eur, ("B", "green_spaces"): base[1].total_eur}
    rows = {r["commune"]: r for r in payments(pooled, base, alone_cost, inp)}
    assert pooled[0].total_eur < base[0].total_eur + base[1].total_eur  # pooling saves overall
    # alone: A one post (38,000 €), B two (76,000 €); together 2,700 h: two posts and a manager's half time
    # (76,000 + 23,500 €). By population A pays 90 % of it (89,550 € against 38,000 alone); by use B pays
    # 2,400 / 2,700 of it (88,444 € against 76,000): the manager costs more than the post it saves
    assert pooled[0].total_eur == pytest.approx(99500)
    assert rows["A"]["pays_more_than_alone"] == ["population"]
    assert rows["B"]["pays_more_than_alone"] == ["use"]
    assert rows["A"]["pays_eur"]["population"] == pytest.approx(0.9 * pooled[0].total_eur, abs=1)
    # by stand-alone cost, everyone saves the same share
    saved = [rows[c]["saving_eur"]["stand_alone"] / rows[c]["status_quo_eur"] for c in "AB"]
    assert saved[0] == pytest.approx(saved[1], abs=1e-3) and saved[0] > 0


def test_joint_purchasing_pays_the_lowest_price_one_member_paid() -> None:
    purchases = [("A", "lanterne led [unit]", "unit", 10.0, 400.0), ("B", "lanterne led [unit]", "unit", 20.0, 350.0),
                 ("C", "lanterne led [unit]", "unit", 5.0, 300.0)]  # fmt: skip
    inp = inputs(purchases=purchases)
    group = Unit("AB", ("A", "B"), (), (1,), joint_purchasing=True, group=True)
    c = cost_unit(group, (1,), [], inp, A)
    # C is not in the group: the lowest price is B's 350 €, A saves 10 × 50 € of which `purchase_capture`
    assert c.eur["purchasing_saving"] == pytest.approx(-500 * A["purchase_capture"])


def test_arrangements_refuse_a_commune_in_two_groups_for_one_service() -> None:
    with pytest.raises(ValueError, match="A is in groups 'one' and 'two'"):
        parse([{"name": "x", "title": "x", "groups": [
            {"name": "one", "members": ["A", "B"], "services": ["lighting"]},
            {"name": "two", "members": ["A", "C"]}]}])  # fmt: skip
    fine = parse([{"name": "x", "title": "x", "groups": [
        {"name": "one", "members": ["A", "B"], "services": ["lighting"]},
        {"name": "two", "members": ["A", "C"], "services": ["roads"]}]}])  # fmt: skip
    made = units(fine[0], ["A", "B", "C"], ["lighting", "roads", "buildings"], {"A": [1], "B": [2], "C": [3]})
    assert [(u.name, u.services) for u in made] == [
        ("one", ("lighting",)), ("two", ("roads",)), ("A", ("buildings",)), ("B", ("roads", "buildings")),
        ("C", ("lighting", "buildings")),
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown communes"):
        units(Arrangement(name="y", title="y", groups=[Group(name="g", members=["Z"])]), ["A"], ["roads"], {})


def test_the_example_file_reads() -> None:
    from pathlib import Path

    from gis_patrimoine.arrangements.definition import load_file

    example = load_file(Path(__file__).resolve().parents[1] / "docs" / "arrangements.example.yaml")
    assert [a.name for a in example] == ["status_quo", "pole_sud", "agglo_lighting_sweeping", "buying_together"]
    assert example[3].groups[0].services == [] and example[1].groups[0].depots == "optimise"


def test_each_depot_keeps_an_agent_and_its_post_is_paid_once() -> None:
    inp = inputs(contract_rate=1000.0)
    group = Unit("AB", ("A", "B"), ("green_spaces",), (1, 2), group=True)
    # 600 h from two depots: 0.43 post, one post alone would do; each depot keeps its agent: two posts, and
    # nothing contracted or hired on top of them
    c = cost_unit(group, (1, 2), [work("A", 300, depot=1), work("B", 300, depot=2)], inp, A)
    assert c.posts[GENERAL] == 2 and c.contracted_h[GENERAL] == 0 and c.seasonal_months[GENERAL] == 0
    assert c.eur["staff"] == pytest.approx(2 * 38000) and c.eur["contracts"] == 0


def test_a_depot_closed_for_two_groups_is_closed_once() -> None:
    inp = inputs(contract_rate=1000.0, depot_services={1: ["green_spaces", "lighting"], 2: ["green_spaces"],
                                                       3: ["green_spaces"]})  # fmt: skip
    one = Unit("green", ("A", "B"), ("green_spaces",), (2,), group=True)
    two = Unit("light", ("A", "C"), ("lighting",), (3,), group=True)
    c = cost_arrangement([(one, (2,), [work("A", 500, depot=2)], 0.0), (two, (3,), [], 0.0)], inp, A)
    assert c.closed == (1,) and c.one_off_eur == pytest.approx(2 * (30000 + 2 * 2500) + 15000)
    assert sum(u.eur.get("depots_closed", 0) for u in c.units) == pytest.approx(20000 * (1 - A["closed_depot_saved"]))


def test_the_agglomeration_pays_for_its_own_depot_in_a_group() -> None:
    inp = inputs(contract_rate=1000.0, depot_owner={1: "A", 2: "agglo", 3: "C"})
    group = Unit("A+agglo", ("A", "agglo"), ("green_spaces",), (2,), group=True)
    c = cost_arrangement([(group, (2,), [work("A", 500, depot=2)], 0.0)], inp, A)
    pays = share(c.units, {}, inp)
    # its depot (20,000 €) is the agglomération's under every key; A pays the rest
    assert all(pays[k]["agglo"] == pytest.approx(20000) for k in pays)
    assert pays["use"]["A"] == pytest.approx(c.total_eur - 20000)


def test_joint_purchasing_needs_two_buyers_and_one_group_per_buyer() -> None:
    purchases = [("A", "sel [t]", "t", 10.0, 120.0), ("A", "sel [t]", "t", 10.0, 100.0)]  # one buyer, two orders
    group = Unit("AB", ("A", "B"), (), (1,), joint_purchasing=True, group=True)
    assert cost_unit(group, (1,), [], inputs(purchases=purchases), A).eur["purchasing_saving"] == 0
    with pytest.raises(ValueError, match="A buy together in two groups"):
        parse([{"name": "x", "title": "x", "groups": [
            {"name": "one", "members": ["A", "B"], "services": [], "joint_purchasing": True},
            {"name": "two", "members": ["A", "C"], "services": ["roads"], "joint_purchasing": True}]}])  # fmt: skip


def test_facility_location_keeps_what_capacity_and_travel_require() -> None:
    import numpy as np

    from gis_patrimoine.arrangements.facility import locate

    trips = np.array([[10.0, 20.0], [20.0, 10.0]])  # round trip minutes, depot × commune
    fixed = {1: 50000.0, 2: 10000.0}
    rounds = {"A": 100.0, "B": 100.0}
    # travel is cheap against the fixed costs: one depot, the cheaper, serves both
    one = locate([1, 2], ["A", "B"], trips, fixed, rounds, 30.0, 30.0)
    assert one.kept == [2] and one.assignment == {"A": 2, "B": 2} and not one.notes
    # depot 2 holds 3 agents and each commune's work takes 2: both depots kept
    both = locate([1, 2], ["A", "B"], trips, fixed, rounds, 30.0, 30.0, {1: 3, 2: 3}, {"A": 2, "B": 2})
    assert both.kept == [1, 2] and both.assignment == {"A": 1, "B": 2}
    # together they hold fewer agents than the work takes: capacities dropped, and said
    short = locate([1, 2], ["A", "B"], trips, fixed, rounds, 30.0, 30.0, {1: 1, 2: 1}, {"A": 2, "B": 2})
    assert short.kept == [2] and "capacities not applied" in short.notes[0]
    # a drive longer than the limit is not allowed while another depot is within it
    near = locate([1, 2], ["A", "B"], trips, fixed, rounds, 30.0, 7.0)
    assert near.kept == [1, 2]


def test_a_unit_with_more_agents_than_its_depot_holds_says_so() -> None:
    inp = inputs(contract_rate=1000.0, depot_capacity={1: 1, 2: None, 3: None})  # one crew: two agents
    c = cost_arrangement([(alone("A", 1), (1,), [work("A", 3 * 1400)], 0.0)], inp, A)
    assert c.units[0].posts[GENERAL] == 3
    assert any("3.0 agents for depots holding 2" in n for n in c.units[0].notes)


def test_inputs_read_from_the_diagnostic_tables(conn) -> None:
    """Machines cost price ÷ life + running cost: the diagnostic's where a commune answered (a platform bought
    90,000 € for 10 years, 5,000 € a year to run), else the code list's defaults (a van: 28,000 € over 8 years
    + 2,000 €); held machines per owner; the agglomération's depot belongs to it, not to the commune it is in."""
    from gis_patrimoine.arrangements.inputs import load

    conn.execute(
        "INSERT INTO patrimoine.commune (insee, name, population, geom) VALUES ('53130', 'Laval', 50000, "
        "ST_Multi(ST_MakeEnvelope(400000, 6780000, 401000, 6781000, 2154)))"
    )
    depots = [
        conn.execute(
            "INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom) VALUES "
            "('53130', 't', %s, %s, '{lighting}', 1, ST_SetSRID(ST_MakePoint(400500, 6780500), 2154)) RETURNING id",
            (name, name),
        ).fetchone()[0]
        for name in ("CTM Laval", "Centre de l'agglomération")
    ]
    conn.execute(
        "INSERT INTO patrimoine.equipment (commune_insee, depot_id, label, equipment_type, year, purchase_price_eur, "
        "life_years, running_cost_eur) VALUES ('53130', %s, 'Nacelle', 'aerial_platform', 2015, 90000, 10, 5000), "
        "(NULL, %s, 'Nacelle agglo', 'aerial_platform', 2020, 90000, 10, 5000)",
        (depots[0], depots[1]),
    )
    conn.execute("INSERT INTO patrimoine.depot_cost (commune_insee, depot_id, annual_cost_eur) VALUES (NULL, %s, 1)",
                 (depots[1],))  # fmt: skip
    inp = load(conn)
    assert inp.machines["aerial_platform"].annual_eur == pytest.approx(90000 / 10 + 5000)
    assert inp.machines["van"].annual_eur == pytest.approx(28000 / 8 + 2000)
    assert (inp.machines["van"].fuel_l_per_km, inp.machines["aerial_platform"].fuel_l_per_h) == (0.11, 1.5)
    assert inp.held == {("53130", "aerial_platform"): 1, ("agglo", "aerial_platform"): 1}
    assert inp.depot_owner == {depots[0]: "53130", depots[1]: "agglo"}
    # the pools no general-purpose agent fills: electricians, platform and sweeper operators (layers/codelists.yaml)
    assert inp.specialist == {"electrician", "platform_licence", "sweeper_licence"}
    # seasons as the README says: mowing April–October, late mowing July–September, even over their months
    assert [round(m, 4) for m in inp.months["growing"]] == [0, 0, 0, *[round(1 / 7, 4)] * 7, 0, 0]
    assert [round(m, 4) for m in inp.months["late_summer"]] == [0] * 6 + [round(1 / 3, 4)] * 3 + [0] * 3


def test_agent_hours_count_travel_and_depot_time_per_round_times_the_crew() -> None:
    # 100 h on site, 20 h driving, 10 rounds a year, a crew of two: (100 + 20 × 1.0 + 10 × 0.5 h) × 2 = 250 h
    w = Work("A", "lighting", "led_check", "electrician", "aerial_platform", 2, "all_year", 100.0, 20.0, 10.0, 0.0)
    assert (A["travel_factor"], A["shift_overhead_h"]) == (1.0, 0.5)
    assert w.agent_hours(A) == pytest.approx(250)


def test_general_skills_share_one_pool_and_specialists_keep_theirs() -> None:
    """700 h of mowing and 700 h of road work fill one general post of 1,400 h; 700 h of an electrician's
    work take an electrician's post of their own (no one else may do it)."""
    inp = inputs(
        post_cost={"green_spaces": 38000.0, "roads": 38000.0, "electrician": 52000.0},
        depot_services={1: ["green_spaces", "roads", "lighting"]},
    )
    inp.contract_rate = {"green_spaces": 1000.0, "roads": 1000.0, "lighting": 1000.0}  # dear: posts when possible
    mowing = work("A", 700)
    roads = Work("A", "roads", "inspection", "roads", None, 1, "all_year", 700.0, 0.0, 0.0, 0.0, 1)
    lamps = Work("A", "lighting", "inspection", "electrician", None, 1, "all_year", 700.0, 0.0, 0.0, 0.0, 1)
    unit = Unit("A", ("A",), ("green_spaces", "roads", "lighting"), (1,))
    cost = cost_unit(unit, (1,), [mowing, roads, lamps], inp, A)
    assert cost.posts == {GENERAL: 1, "electrician": 1}
    assert cost.eur["staff"] == pytest.approx(38000 + 52000)


def test_a_purchasing_only_group_costs_a_fifth_of_a_manager_s_coordination() -> None:
    inp = inputs()
    buying = Unit("buy", ("A", "B", "C", "D"), (), (), joint_purchasing=True, group=True)
    service = Unit("svc", ("A", "B", "C", "D"), ("green_spaces",), (1,), group=True)
    bought = cost_unit(buying, (), [], inp, A)
    served = cost_unit(service, (1,), [work("A", 100)], inp, A)
    # a service's manager: 0.5 post + 2 % a member beyond two; buying together: a fifth of that
    assert served.eur["coordination"] == pytest.approx((0.5 + 0.02 * 2) * 47000)
    assert bought.eur["coordination"] == pytest.approx(0.2 * (0.5 + 0.02 * 2) * 47000)


def test_fuel_per_machine_by_km_and_working_hours() -> None:
    """A mower: 0.13 l a km driven and 2.5 l an hour working; a van burns nothing while its crew works.
    100 km and 10 h: 13 + 25 = 38 l for the mower, 11 l for a van."""
    inp = inputs(contract_rate=1000.0)
    mower = Work("A", "green_spaces", "mowing", "green_spaces", "mower", 1, "all_year", 10.0, 1.0, 1.0, 100.0, 1)
    van = Work("A", "green_spaces", "mowing", "green_spaces", "van", 1, "all_year", 10.0, 1.0, 1.0, 100.0, 1)
    unit = Unit("A", ("A",), ("green_spaces",), (1,))
    assert cost_unit(unit, (1,), [mower], inp, A).fuel_l == pytest.approx(38)
    assert cost_unit(unit, (1,), [van], inp, A).fuel_l == pytest.approx(11)


def test_hubs_merge_neighbours_pair_by_pair_while_it_saves() -> None:
    """Three communes with 0.4 post of work each (560 h of 1,400), served from one depot: A and B together need
    one post instead of two, which pays a manager's time (61,500 € against 76,000 €); C then joins (one post and
    280 h contracted, 90,440 € against 99,500 €). A commune with no neighbour in the hub stays alone; when
    contracting is cheap (each contracts its 560 h for 5,600 €), the manager costs more than pooling saves."""
    from gis_patrimoine.arrangements.propose import hubs

    works = {c: [work(c, 560, depot=1)] for c in "ABC"}
    chain = {"A": {"B"}, "B": {"A", "C"}, "C": {"B"}}
    assert hubs(["A", "B", "C"], chain, works, inputs(contract_rate=100.0)) == [["A", "B", "C"]]
    apart = {"A": {"B"}, "B": {"A"}, "C": set()}
    assert hubs(["A", "B", "C"], apart, works, inputs(contract_rate=100.0)) == [["A", "B"]]
    assert hubs(["A", "B", "C"], chain, works, inputs(contract_rate=10.0)) == []


def test_the_whole_pool_is_contracted_when_that_beats_its_posts_and_its_machines() -> None:
    """1,400 h of mowing: in house, a post (38,000 €), the mower and the van it needs (5,000 € each) and the
    mower's fuel (1,400 h × 2.5 l × 1.75 €: 6,125 €), 54,125 €. At 36 €/h the contract (50,400 €) costs more
    than the post alone but less than all that: the work is contracted, no machine needed; at 40 €/h (56,000 €)
    the commune keeps its post and its machines. Without a machine the post wins (38,000 € against 50,400 €)."""
    unit = Unit("A", ("A",), ("green_spaces",), (1,))
    mowing = [work("A", 1400, equipment="mower")]
    cheap = cost_unit(unit, (1,), mowing, inputs(contract_rate=36.0), A)
    assert cheap.posts[GENERAL] == 0 and cheap.eur["contracts"] == pytest.approx(50400)
    assert cheap.eur["machines"] == 0 and cheap.total_eur == pytest.approx(50400)
    dear = cost_unit(unit, (1,), mowing, inputs(contract_rate=40.0), A)
    assert dear.posts[GENERAL] == 1 and dear.eur["contracts"] == 0 and dear.eur["machines"] == pytest.approx(10000)
    assert dear.total_eur == pytest.approx(54125)
    # the km and the litres are counted for all the work, whoever does it; fuel and wear are paid in house only
    assert cheap.fuel_l == dear.fuel_l == pytest.approx(1400 * 2.5) and cheap.eur["fuel"] == 0
    assert dear.eur["fuel"] == pytest.approx(1400 * 2.5 * 1.75)
    by_hand = cost_unit(unit, (1,), [work("A", 1400)], inputs(contract_rate=36.0), A)
    assert by_hand.posts[GENERAL] == 1 and by_hand.total_eur == pytest.approx(38000)
