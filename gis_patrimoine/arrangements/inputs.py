"""What the costing reads, gathered once: the diagnostic's posts, machines, depots, contracts and purchases,
the catalogue's skills, seasons and machine defaults, and the assumptions with their ranges and sources.

`Inputs` is plain data, so a costing can be checked by hand on a territory written in a test.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import psycopg

from gis_patrimoine.analysis.areas import depot_owners
from gis_patrimoine.arrangements.definition import AGGLO
from gis_patrimoine.catalogue import Catalogue, get_catalogue


@dataclass(frozen=True)
class Assumption:
    value: float
    low: float
    high: float
    unit: str
    source: str


def assumptions(hours_per_post: float = 1607.0) -> dict[str, Assumption]:
    """The costing's assumptions: a central value, the range the comparison is run over, and where it comes from."""
    productive = hours_per_post * (1 - 0.12)
    return {
        "productive_hours": Assumption(
            round(productive),
            round(hours_per_post * 0.83),
            round(hours_per_post * 0.92),
            "h/post/year",
            "1,607 h a year (loi du 6 août 2019) less 8–17 % of sickness and training (12 % central)",
        ),
        "post_cost_factor": Assumption(
            1.0, 0.92, 1.08, "×", "loaded cost per post: the diagnostic's answers, else the grade's default (codelists)"
        ),
        "seasonal_month_eur": Assumption(
            3000, 2700, 3400, "€/month", "a seasonal contract agent (contractuel, 36,000 € a year loaded) by the month"
        ),
        "contract_factor": Assumption(
            1.0, 0.8, 1.25, "×", "contract prices: the diagnostic's contracts per agent hour of the work they cover"
        ),
        "shift_overhead_h": Assumption(
            0.5, 0.25, 0.75, "h/round", "loading, fuelling and cleaning at the depot, per round (one shift)"
        ),
        "travel_factor": Assumption(
            1.0, 0.9, 1.15, "×", "travel times: road speeds of the catalogue (traffic, reversing, parking)"
        ),
        "machine_factor": Assumption(
            1.0, 0.85, 1.15, "×", "machine cost a year: price ÷ life + running cost (diagnostic, else codelists)"
        ),
        "machine_use": Assumption(
            0.8, 0.7, 0.9, "share", "share of working hours a machine can work (upkeep, breakdowns, weather)"
        ),
        "fuel_price": Assumption(1.75, 1.5, 2.1, "€/l", "diesel, excl. VAT recovered (2024–2025)"),
        "cost_per_km": Assumption(0.45, 0.35, 0.6, "€/km", "vehicle wear and insurance per km, fuel excluded"),
        "depot_factor": Assumption(1.0, 0.9, 1.1, "×", "depot fixed costs a year (the diagnostic's depot sheet)"),
        "closed_depot_saved": Assumption(
            0.7,
            0.4,
            1.0,
            "share",
            "share of a closed depot's cost a year actually saved (the building sold, let or reused; some costs stay)",
        ),
        "coordination_posts": Assumption(
            0.5,
            0.3,
            1.0,
            "posts/group",
            "a manager's time per pooled group (planning, conventions, reporting), plus 0.02 per member beyond two",
        ),
        "one_off_factor": Assumption(
            1.0,
            0.5,
            2.0,
            "×",
            "one-off costs of setting up: 30,000 € a group (convention, IT, signage), 2,500 € a member, 15,000 € a "
            "depot closed (moves); orders of magnitude to replace by the territory's estimates",
        ),
        "purchase_capture": Assumption(
            0.75,
            0.5,
            1.0,
            "share",
            "share of the saving at the lowest unit price paid in the group that joint purchasing obtains",
        ),
    }


ONE_OFF_GROUP_EUR = 30_000
ONE_OFF_MEMBER_EUR = 2_500
ONE_OFF_DEPOT_CLOSED_EUR = 15_000
SOLVER_SPREAD_DEFAULT = 0.03  # ± share of travel between solver runs when not measured
AGENTS_PER_CREW = 2  # a depot's capacity in crews holds twice as many agents (changing rooms, vehicles)


@dataclass
class Machine:
    annual_eur: float  # price ÷ life + running cost, for one unit
    fuel_l_per_km: float
    fuel_l_per_h: float


@dataclass
class Inputs:
    """Everything but the rounds: per skill, service, machine type, depot, commune."""

    names: dict[str, str]
    population: dict[str, int]
    post_cost: dict[str, float]  # skill -> loaded € a year of one post
    specialist: set[str]  # skills no general-purpose agent covers, never hired seasonally
    general_skill_cost: float  # a general-purpose agent
    manager_cost: float
    contract_rate: dict[str, float]  # service -> € per agent hour of contracted work
    machines: dict[str, Machine]  # type -> costs
    held: dict[tuple[str, str], int]  # (owner, type) -> units held
    depot_owner: dict[int, str]  # depot id -> commune or AGGLO
    depot_cost: dict[int, float]
    depot_capacity: dict[int, int | None]  # crews it can hold
    depot_services: dict[int, list[str]]
    purchases: list[tuple[str, str, str, float, float]]  # (owner, item key, unit, quantity, unit price)
    working_days: float = 205
    shift_hours: float = 7.0
    crew_size: int = 2  # agents of an activity whose crew the catalogue does not give
    min_agents_per_depot: int = 1
    assumptions: dict[str, Assumption] = field(default_factory=assumptions)
    months: dict[str, tuple[float, ...]] = field(default_factory=dict)  # season -> share of the work per month

    def owned(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for depot, owner in sorted(self.depot_owner.items()):
            out.setdefault(owner, []).append(depot)
        return out

    def central(self) -> dict[str, float]:
        return {k: a.value for k, a in self.assumptions.items()}


def season_months(catalogue: Catalogue) -> dict[str, tuple[float, ...]]:
    """Season code -> the share of a year's work done in each month (even over the season's months)."""
    out = {}
    for v in catalogue.codelists["season"].values:
        first, _, last = str(v.defaults.get("months", "1-12")).partition("-")
        a, b = int(first), int(last or first)
        active = [(a - 1 + k) % 12 for k in range(((b - a) % 12) + 1)]
        out[v.code] = tuple(1 / len(active) if m in active else 0.0 for m in range(12))
    return out


def load(conn: psycopg.Connection, catalogue: Catalogue | None = None) -> Inputs:
    """The territory's inputs, from the diagnostic tables and the catalogue."""
    from gis_patrimoine.analysis.params import load as load_params
    from gis_patrimoine.analysis.workload import workload

    catalogue = catalogue or get_catalogue()
    params = load_params(conn)
    names = dict(conn.execute("SELECT insee, name FROM patrimoine.commune").fetchall())
    names[AGGLO] = "Agglomération"
    population = {k: v or 0 for k, v in conn.execute("SELECT insee, population FROM patrimoine.commune")}
    grade_cost = dict(conn.execute("SELECT code, default_cost_eur FROM patrimoine_vl.grade").fetchall())
    skills = catalogue.codelists["skill"].values
    answered = {}
    for skill, cost in conn.execute(
        "SELECT skill, loaded_cost_eur FROM patrimoine.staff WHERE loaded_cost_eur IS NOT NULL"
    ):
        answered.setdefault(skill, []).append(float(cost))
    post_cost = {
        v.code: statistics.median(answered[v.code])
        if v.code in answered
        else float(grade_cost.get(str(v.defaults.get("grade", "adjoint_technique"))) or 38000)
        for v in skills
    }
    # contract prices: each contract's cost over the agent hours of the work it covers (its share of it)
    hours: dict[tuple[str, str, str], float] = {}
    crews = {
        (la.maintenance.service, a.name): a.crew or params.crew_size
        for la in catalogue.asset_layers
        if la.maintenance
        for a in la.maintenance.activities
    }
    for row in workload(conn, catalogue):
        hours[(row.commune, row.service, row.activity)] = row.hours_per_year * crews[(row.service, row.activity)]
    rates: dict[str, list[float]] = {}
    for commune, service, activity, share, cost in conn.execute(
        "SELECT commune_insee, service, activity, coalesce(work_share, 1), annual_cost_eur FROM patrimoine.contract "
        "WHERE commune_insee IS NOT NULL AND annual_cost_eur > 0"
    ):
        covered = sum(h for (c, s, a), h in hours.items() if c == commune and s == service and activity in (None, a))
        if covered * share > 1:
            rates.setdefault(service, []).append(float(cost) / (covered * share))
    services = catalogue.codelists["service"].codes
    fallback = statistics.median([r for v in rates.values() for r in v]) if rates else 45.0
    contract_rate = {s: statistics.median(rates[s]) if s in rates else fallback for s in services}
    held_rows = conn.execute(
        "SELECT coalesce(e.commune_insee, %s), e.equipment_type, count(*), "
        "avg(e.purchase_price_eur / nullif(e.life_years, 0) + coalesce(e.running_cost_eur, 0)) "
        "FROM patrimoine.equipment e GROUP BY 1, 2",
        (AGGLO,),
    ).fetchall()
    machines = {}
    for v in catalogue.codelists["equipment_type"].values:
        d = v.defaults
        known = [float(r[3]) for r in held_rows if r[1] == v.code and r[3] is not None]
        default = float(d.get("price_eur", 30000)) / float(d.get("life_years", 10)) + float(d.get("running_eur", 2000))
        machines[v.code] = Machine(
            statistics.fmean(known) if known else default,
            float(d.get("fuel_l_per_km", params.fuel_l_per_km)),
            float(d.get("fuel_l_per_h", 0.0)),
        )
    held = {(r[0], r[1]): int(r[2]) for r in held_rows}
    depot_owner = {did: owner or AGGLO for did, owner in depot_owners(conn).items()}
    depot_cost, capacity, depot_services = {}, {}, {}
    for did, services_of, cost, cap in conn.execute(
        "SELECT d.id, d.services, c.annual_cost_eur, c.capacity_crews FROM patrimoine.depot d "
        "LEFT JOIN patrimoine.depot_cost c ON c.depot_id = d.id WHERE d.crews > 0 ORDER BY d.id"
    ):
        depot_cost[did] = cost
        capacity[did] = cap
        depot_services[did] = list(services_of)
    known_costs = [c for c in depot_cost.values() if c is not None]
    median_depot = statistics.median(known_costs) if known_costs else 15000.0
    depot_cost = {d: float(c if c is not None else median_depot) for d, c in depot_cost.items()}
    purchases = [
        (owner, " ".join(item.lower().split()) + f" [{unit}]", unit, float(q), float(p))
        for owner, item, unit, q, p in conn.execute(
            "SELECT coalesce(commune_insee, %s), item, unit, quantity, unit_price_eur FROM patrimoine.purchase",
            (AGGLO,),
        )
    ]
    staff_hours = conn.execute("SELECT avg(hours_per_year) FROM patrimoine.staff").fetchone()[0]
    return Inputs(
        names=names,
        population=population,
        post_cost=post_cost,
        specialist={v.code for v in skills if v.defaults.get("specialist")},
        general_skill_cost=post_cost.get("polyvalent", 38000.0),
        manager_cost=post_cost.get("manager", 47000.0),
        contract_rate=contract_rate,
        machines=machines,
        held=held,
        depot_owner=depot_owner,
        depot_cost=depot_cost,
        depot_capacity=capacity,
        depot_services=depot_services,
        purchases=purchases,
        working_days=params.working_days_per_year,
        shift_hours=params.shift_hours,
        crew_size=params.crew_size,
        assumptions=assumptions(float(staff_hours or 1607.0)),
        months=season_months(catalogue),
    )
