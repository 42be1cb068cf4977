"""A year of an arrangement in euros, posts, machines, depots, km and CO₂ — from its units' work and the inputs.

For each unit (a group, or a commune alone):
- **posts**: agent hours per month of each pool (a specialist skill, or the general skills together, whose
  fractions one general-purpose agent combines) = (on site + travel + the depot time of each round) × crew,
  spread over the activity's season. Permanent posts P are chosen, from the floor of the average need to the
  peak month's, to minimise P × loaded cost + each month's hours above P at the cheaper of seasonal hires
  (general skills, months above the year's average only) or contract; contracting the whole pool instead is
  taken when cheaper, counting the machines only that pool uses. A kept depot holds at least
  `min_agents_per_depot` agents when the unit works in house.
- **machines**: per type, units for the peak month of in-house machine hours (crew hours of the activities
  using it) at the usable machine hours of a month; several depots sharing fewer machines than they are add the
  drives between them.
- **depots**: the kept depots' fixed costs; those of members not kept are closed (their cost saved, one-off).
- **pooling's own costs**: a manager's time per pooled group; one-off set-up costs, with the payback.
- **purchases**: in a group buying together, each item at the lowest unit price paid by a member, of which a
  share is obtained (`purchase_capture`).
Fuel: km × the machine's litres per km + hours on site × its litres per hour; CO₂ 3.17 kg per litre.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from gis_patrimoine.arrangements.definition import AGGLO, Unit
from gis_patrimoine.arrangements.inputs import (
    AGENTS_PER_CREW,
    ONE_OFF_DEPOT_CLOSED_EUR,
    ONE_OFF_GROUP_EUR,
    ONE_OFF_MEMBER_EUR,
    Inputs,
)

CO2_KG_PER_L = 3.17  # diesel, arrêté du 26 avril 2017 (Base Carbone)
GENERAL = "general"
KEYS = ("use", "population", "stand_alone")  # the cost-sharing keys


@dataclass(frozen=True)
class Work:
    """A commune's share of one activity's rounds in a unit, for a year (crew hours, not agent hours)."""

    commune: str
    service: str
    activity: str
    skill: str
    equipment: str | None
    crew: int
    season: str
    on_site_h: float
    travel_h: float
    rounds: float  # rounds (shifts) a year, this commune's share
    km: float
    depot: int | None = None

    def crew_hours(self, a: dict[str, float]) -> float:
        return self.on_site_h + self.travel_h * a["travel_factor"] + self.rounds * a["shift_overhead_h"]

    def agent_hours(self, a: dict[str, float]) -> float:
        return self.crew_hours(a) * self.crew


@dataclass
class UnitCost:
    unit: Unit
    depots: tuple[int, ...]
    posts: dict[str, int] = field(default_factory=dict)  # pool -> permanent posts
    seasonal_months: dict[str, int] = field(default_factory=dict)
    contracted_h: dict[str, float] = field(default_factory=dict)  # pool -> agent hours contracted out
    hours: dict[str, float] = field(default_factory=dict)  # pool -> agent hours needed
    peak_month: dict[str, int] = field(default_factory=dict)  # pool -> month (1-12) of the peak
    machines: dict[str, int] = field(default_factory=dict)  # type -> units needed
    machine_transfer_h: float = 0.0
    eur: dict[str, float] = field(default_factory=dict)  # staff, seasonal, contracts, machines, fuel, km, depots…
    one_off_eur: float = 0.0
    km: float = 0.0
    fuel_l: float = 0.0
    closed: tuple[int, ...] = ()
    charged: tuple[int, ...] = ()  # the depots whose fixed cost this unit bears
    use_h: dict[str, float] = field(default_factory=dict)  # commune -> agent hours done for it
    notes: list[str] = field(default_factory=list)

    @property
    def total_eur(self) -> float:
        return sum(self.eur.values())


def pool_of(skill: str, inputs: Inputs) -> str:
    return skill if skill in inputs.specialist else GENERAL


def monthly(works: list[Work], hours, inputs: Inputs) -> list[float]:
    out = [0.0] * 12
    for w in works:
        h = hours(w)
        for m, share in enumerate(inputs.months.get(w.season, (1 / 12,) * 12)):
            out[m] += h * share
    return out


def staff_pool(
    need: list[float], post_eur: float, rate: float, seasonal_eur: float | None, capacity: float, min_posts: int = 0
) -> tuple[int, int, float, float]:
    """(posts, seasonal months, contracted hours, €) of the cheapest way to do a month-by-month need in house:
    P permanent posts, and each month's hours above them by seasonal hires (when allowed, in months above the
    average) or by contract, whichever is cheaper that month."""
    month_cap = capacity / 12
    total = sum(need)
    mean = total / 12
    best: tuple[float, int, int, float] | None = None
    low = max(min_posts, math.floor(mean / month_cap + 1e-9)) if total else min_posts
    high = max(low, math.ceil(max(need) / month_cap - 1e-9))
    for posts in range(low, high + 1):
        eur, hires, contracted = posts * post_eur, 0, 0.0
        for h in need:
            over = max(0.0, h - posts * month_cap)
            if over <= 1e-9:
                continue
            by_contract = over * rate
            if seasonal_eur is not None and h > mean + 1e-9:
                n = math.ceil(over / month_cap - 1e-9)
                if n * seasonal_eur < by_contract:
                    eur, hires = eur + n * seasonal_eur, hires + n
                    continue
            eur, contracted = eur + by_contract, contracted + over
        if best is None or eur < best[0] - 1e-6:
            best = (eur, posts, hires, contracted)
    assert best is not None
    return best[1], best[2], best[3], best[0]


def machines_needed(need: list[float], month_cap: float) -> int:
    return max((math.ceil(h / month_cap - 1e-9) for h in need), default=0)


def cost_unit(
    unit: Unit,
    depots: tuple[int, ...],
    works: list[Work],
    inputs: Inputs,
    a: dict[str, float],
    depot_travel_h: float = 0.0,
) -> UnitCost:
    """The unit's year; `depot_travel_h`: mean drive between its depots (machines moved between them)."""
    out = UnitCost(unit, depots)
    capacity = a["productive_hours"]
    machine_cap = inputs.working_days / 12 * inputs.shift_hours * a["machine_use"]
    pools: dict[str, list[Work]] = {}
    for w in works:
        pools.setdefault(pool_of(w.skill, inputs), []).append(w)
    types_of = {p: {w.equipment for w in ws if w.equipment} for p, ws in pools.items()}

    def machine_cost(ws: list[Work], types: set[str]) -> float:
        total = 0.0
        for t in types:
            n = machines_needed(monthly([w for w in ws if w.equipment == t], lambda w: w.crew_hours(a), inputs),
                                machine_cap)  # fmt: skip
            total += n * inputs.machines[t].annual_eur * a["machine_factor"]
        return total

    def running(w: Work) -> float:
        """Fuel and wear a year of a work done in house."""
        m = inputs.machines.get(w.equipment or "van") or inputs.machines["van"]
        litres = w.km * m.fuel_l_per_km + w.on_site_h * m.fuel_l_per_h
        return litres * a["fuel_price"] + w.km * a["cost_per_km"]

    decided: dict[str, dict] = {}
    for pool, ws in sorted(pools.items()):
        need = monthly(ws, lambda w: w.agent_hours(a), inputs)
        total = sum(need)
        out.hours[pool] = total
        out.peak_month[pool] = 1 + max(range(12), key=lambda m: need[m])
        if pool == GENERAL:
            by_skill: dict[str, float] = {}
            for w in ws:
                by_skill[w.skill] = by_skill.get(w.skill, 0.0) + w.agent_hours(a)
            post = sum(inputs.post_cost.get(s, inputs.general_skill_cost) * h for s, h in by_skill.items()) / (
                total or 1
            )
        else:
            post = inputs.post_cost.get(pool, inputs.general_skill_cost)
        post *= a["post_cost_factor"]
        # contract prices are per agent hour on site (the firm's travel is in its price): per hour of this
        # pool's modelled work, that is the on-site share of it
        rate = sum(inputs.contract_rate[w.service] * w.on_site_h * w.crew for w in ws) / (total or 1)
        rate *= a["contract_factor"]
        seasonal = a["seasonal_month_eur"] if pool == GENERAL else None
        posts, hires, contracted, eur = staff_pool(need, post, rate, seasonal, capacity)
        others = {t for p, ts in types_of.items() if p != pool for t in ts}
        own_share = 1 - contracted / total if total else 0.0
        in_house_eur = eur + machine_cost(ws, types_of[pool] - others) + own_share * sum(running(w) for w in ws)
        contract_all = (posts == 0 and hires == 0) or total * rate <= in_house_eur + 1e-6
        if contract_all:
            posts, hires, contracted, eur = 0, 0, total, total * rate
            out.notes.append(f"{pool} ({', '.join(sorted({w.service for w in ws}))}): contracted, cheaper than posts")
        decided[pool] = {"need": need, "post": post, "rate": rate, "seasonal": seasonal, "posts": posts,
                         "hires": hires, "contracted": contracted, "eur": eur, "works": ws,
                         "own": not contract_all}  # fmt: skip
    in_house = [w for d in decided.values() if d["own"] for w in d["works"]]
    floor = inputs.min_agents_per_depot * len({w.depot for w in in_house if w.depot is not None})
    short = floor - sum(d["posts"] for d in decided.values())
    if in_house and short > 0:  # a depot used keeps its agents: more posts, fewer hires and contracts
        pool = GENERAL if decided.get(GENERAL, {}).get("own") else next(p for p, d in decided.items() if d["own"])
        d = decided[pool]
        posts, hires, contracted, eur = staff_pool(
            d["need"], d["post"], d["rate"], d["seasonal"], capacity, min_posts=d["posts"] + short
        )
        d.update(posts=posts, hires=hires, contracted=contracted, eur=eur)
        out.notes.append(f"{short} post(s) added: each depot used keeps {inputs.min_agents_per_depot} agent(s)")
    staff_eur = seasonal_eur = contract_eur = 0.0
    own_share: dict[int, float] = {}
    for pool, d in decided.items():
        out.posts[pool], out.seasonal_months[pool], out.contracted_h[pool] = d["posts"], d["hires"], d["contracted"]
        staff_eur += d["posts"] * d["post"]
        seasonal_eur += d["hires"] * (d["seasonal"] or 0.0)
        contract_eur += d["eur"] - d["posts"] * d["post"] - d["hires"] * (d["seasonal"] or 0.0)
        share_in = 1 - d["contracted"] / out.hours[pool] if out.hours[pool] else 0.0
        for w in d["works"]:
            own_share[id(w)] = share_in
    # machines of the in-house work, moved between depots when fewer than the depots using them
    machine_eur = 0.0
    for t in sorted({w.equipment for w in in_house if w.equipment}):
        ws = [w for w in in_house if w.equipment == t]
        need = monthly(ws, lambda w: w.crew_hours(a), inputs)
        n = machines_needed(need, machine_cap)
        sharing = len({w.depot for w in ws if w.depot is not None})
        if 1 < sharing and n < sharing and depot_travel_h:
            months_active = sum(1 for h in need if h > 0)
            moves = 4.3 * months_active * (sharing - n)  # once a week to each depot without its own machine
            transfer = moves * depot_travel_h
            out.machine_transfer_h += transfer
            extra = [h + transfer / max(months_active, 1) if h > 0 else 0.0 for h in need]
            n = machines_needed(extra, machine_cap)
        out.machines[t] = n
        machine_eur += n * inputs.machines[t].annual_eur * a["machine_factor"]
    if out.machine_transfer_h:
        staff_eur += out.machine_transfer_h * rate_of_general(inputs, a)
    # travel, fuel, wear: paid for the work done in house (a contract's price includes the firm's), driven and
    # burnt (km, litres, CO₂) for all the work, whoever does it
    fuel_l = km = 0.0
    for w in works:
        m = inputs.machines.get(w.equipment or "van") or inputs.machines["van"]
        litres = w.km * m.fuel_l_per_km + w.on_site_h * m.fuel_l_per_h
        out.km += w.km
        out.fuel_l += litres
        share_in = own_share.get(id(w), 0.0)  # the part done in house (peaks contracted are the firm's)
        fuel_l += litres * share_in
        km += w.km * share_in
    coordination = 0.0
    if unit.pooled:
        coordination = (a["coordination_posts"] + 0.02 * max(0, len(unit.members) - 2)) * inputs.manager_cost
        if not unit.services:  # buying together only: a buyer's time, not a service's manager
            coordination *= 0.2
        out.one_off_eur = a["one_off_factor"] * (ONE_OFF_GROUP_EUR + ONE_OFF_MEMBER_EUR * len(unit.members))
    out.eur = {
        "staff": staff_eur,
        "seasonal": seasonal_eur,
        "contracts": contract_eur,
        "machines": machine_eur,
        "fuel": fuel_l * a["fuel_price"],
        "vehicle_km": km * a["cost_per_km"],
        "depots": 0.0,  # set by cost_arrangement: each kept depot charged once
        "coordination": coordination,
        "purchasing_saving": -purchasing_saving(unit, inputs, a) if unit.joint_purchasing else 0.0,
    }
    for w in works:
        out.use_h[w.commune] = out.use_h.get(w.commune, 0.0) + w.agent_hours(a)
    return out


def rate_of_general(inputs: Inputs, a: dict[str, float]) -> float:
    """€ per agent hour of a general-purpose post: moving machines is driving time paid as such."""
    return inputs.general_skill_cost * a["post_cost_factor"] / a["productive_hours"]


def purchasing_saving(unit: Unit, inputs: Inputs, a: dict[str, float]) -> float:
    """What buying together saves a year: items two members or more buy, at the lowest unit price one paid."""
    items: dict[str, list[tuple[str, float, float]]] = {}
    for owner, key, _, q, p in inputs.purchases:
        if owner in unit.members:
            items.setdefault(key, []).append((owner, q, p))
    saving = 0.0
    for lines in items.values():
        buys = [(q, p) for _, q, p in lines]
        if len({owner for owner, _, _ in lines}) > 1:  # two members or more buy it
            low = min(p for _, p in buys)
            saving += sum(q * (p - low) for q, p in buys)
    return saving * a["purchase_capture"]


def share(costs: list[UnitCost], alone: dict[tuple[str, str], float], inputs: Inputs) -> dict[str, dict[str, float]]:
    """What each payer (commune, agglomération) pays under each key: a unit of one member pays itself; a group's
    cost is shared by use (agent hours done for each), by population, or by stand-alone cost (each member's cost
    alone, from the status quo costed the same way)."""
    keys = KEYS
    pays: dict[str, dict[str, float]] = {k: {} for k in keys}
    for c in costs:
        total = c.total_eur
        members = c.unit.members
        if len(members) > 1 and AGGLO in members:  # the agglomération pays for its own depots kept by the group
            own = sum(inputs.depot_cost.get(d, 0.0) for d in c.charged if inputs.depot_owner.get(d) == AGGLO)
            own *= c.eur["depots"] / (sum(inputs.depot_cost.get(d, 0.0) for d in c.charged) or 1)
            for k in keys:
                pays[k][AGGLO] = pays[k].get(AGGLO, 0.0) + own
            total -= own
            members = tuple(m for m in members if m != AGGLO) or (AGGLO,)
        if len(members) == 1:
            for k in keys:
                pays[k][members[0]] = pays[k].get(members[0], 0.0) + total
            continue
        weights = {
            "use": {m: c.use_h.get(m, 0.0) for m in members},
            "population": {m: float(inputs.population.get(m, 0)) for m in members},
            "stand_alone": {m: sum(alone.get((m, s), 0.0) for s in c.unit.services) for m in members},
        }
        for k in keys:
            w = weights[k]
            s = sum(w.values())
            for m in members:
                part = total * (w[m] / s if s else 1 / len(members))
                pays[k][m] = pays[k].get(m, 0.0) + part
    return pays


def payments(
    costs: list[UnitCost], base: list[UnitCost], alone: dict[tuple[str, str], float], inputs: Inputs
) -> list[dict]:
    """Each payer's year under each key against what it pays in the status quo (`base`), and the keys under
    which it would pay more than alone."""
    pays, before = share(costs, alone, inputs), share(base, alone, inputs)
    members = {m for c in costs for m in c.unit.members}
    out = []
    for m in sorted(members, key=lambda m: (m == AGGLO, inputs.names.get(m, m))):
        alone_eur = before["use"].get(m, 0.0)  # alone, every key gives a commune its own cost
        by_key = {k: round(pays[k].get(m, 0.0)) for k in KEYS}
        out.append(
            {
                "commune": m,
                "name": inputs.names.get(m, m),
                "status_quo_eur": round(alone_eur),
                "pays_eur": by_key,
                "saving_eur": {k: round(alone_eur - v) for k, v in by_key.items()},
                "pays_more_than_alone": sorted(k for k, v in by_key.items() if v > alone_eur + 1),
                "group": next((c.unit.name for c in costs if c.unit.group and m in c.unit.members), None),
            }
        )
    return out


@dataclass
class ArrangementCost:
    """An arrangement's year: its units, depots kept and closed, totals."""

    units: list[UnitCost]
    kept: tuple[int, ...]
    closed: tuple[int, ...]
    one_off_eur: float

    @property
    def total_eur(self) -> float:
        return sum(u.total_eur for u in self.units)

    def _sum(self, figures: str) -> dict:
        """A per-unit dict (eur, posts, machines) added up over the units."""
        out: Counter = Counter()
        for u in self.units:
            out.update(getattr(u, figures))
        return dict(out)

    def by_item(self) -> dict[str, float]:
        return self._sum("eur")

    def posts(self) -> dict[str, int]:
        return self._sum("posts")

    def machines(self) -> dict[str, int]:
        return self._sum("machines")


def cost_arrangement(
    plan: list[tuple[Unit, tuple[int, ...], list[Work], float]], inputs: Inputs, a: dict[str, float]
) -> ArrangementCost:
    """Every unit's year, then the depots: each kept depot's fixed cost charged once — to its owner's own unit
    when that unit keeps it, else to the first group that does; a depot no unit keeps is closed (its cost saved,
    the one-off cost of closing it charged to the group of its owner, with the share of its cost that stays)."""
    costs = [cost_unit(unit, depots, works, inputs, a, travel) for unit, depots, works, travel in plan]
    charged: set[int] = set()
    ordered = sorted(costs, key=lambda c: c.unit.group)  # units alone first: an owner keeps its own depot
    for owners_only in (True, False):  # then a depot used by a unit that does not own it: charged to that unit
        for c in ordered:
            mine = [d for d in c.depots if d not in charged]
            if owners_only and not c.unit.group:
                mine = [d for d in mine if inputs.depot_owner.get(d) in c.unit.members]
            charged.update(mine)
            c.charged += tuple(mine)
            c.eur["depots"] += sum(inputs.depot_cost.get(d, 0.0) for d in mine) * a["depot_factor"]
    for c in costs:  # the agents a unit employs against what its depots hold (the diagnostic's crews × 2)
        caps = [inputs.depot_capacity.get(d) for d in c.depots]
        agents = sum(c.posts.values()) + sum(c.seasonal_months.values()) / 12
        if c.depots and all(x is not None for x in caps) and agents > AGENTS_PER_CREW * sum(caps):
            c.notes.append(
                f"{agents:.1f} agents for depots holding {AGENTS_PER_CREW * sum(caps)}: find room, or keep a depot"
            )
    members = {m for c in costs for m in c.unit.members}
    closed = tuple(sorted(d for d, owner in inputs.depot_owner.items() if owner in members and d not in charged))
    given: set[int] = set()
    for c in costs:
        if c.unit.group:  # each closed depot to the first group holding its owner: its one-off cost once
            c.closed = tuple(d for d in closed if inputs.depot_owner[d] in c.unit.members and d not in given)
            given.update(c.closed)
            c.one_off_eur += a["one_off_factor"] * ONE_OFF_DEPOT_CLOSED_EUR * len(c.closed)
            # what a closed depot still costs (a building not sold at once, a lease running on)
            c.eur["depots_closed"] = (
                sum(inputs.depot_cost.get(d, 0.0) for d in c.closed) * (1 - a["closed_depot_saved"]) * a["depot_factor"]
            )
    return ArrangementCost(costs, tuple(sorted(charged)), closed, sum(c.one_off_eur for c in costs))
