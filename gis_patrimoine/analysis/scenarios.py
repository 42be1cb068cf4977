""" "Each commune alone" vs "pooled": the same activity planned both ways, compared from the rounds themselves.

Alone: every commune plans its own rounds from its own depots (the nearest depot serving the service when it
has none — flagged). Pooled: one plan for all the communes from all the depots that serve the service, crews
shared. Both are one pass of the activity, turned into a year by the activity's visits per year; hours are crew
hours (on site and travelling), kilometres vehicle km. Costs, fuel and CO₂ follow from the territory's
parameters (CO₂: 3.17 kg CO₂e per litre of diesel, arrêté du 26 avril 2017).

Nothing is estimated apart from the rounds: every figure of a scenario is a sum over its own rounds, so a pooled
scenario can only report the saving its rounds show. In the pooled plan, each round's travel is shared among
the communes it serves in proportion to its on-site time there. The cost-sharing key is each commune's share of
the stand-alone costs: each pays what it would pay alone, less the same share of the saving, so no commune pays
more than alone when pooling saves (the report lists any that would).

Pooled zones are network catchments: each asset goes to the depot nearest to it by road (pgr_drivingDistance),
and each depot's zone is planned with its own crews.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from gis_patrimoine.analysis.areas import asset_junctions, catchments, depot_owners, depots_serving
from gis_patrimoine.analysis.network import ensure_network
from gis_patrimoine.analysis.params import Parameters
from gis_patrimoine.analysis.rounds import DepotProblem, Plan, RoundRequest, plan_rounds
from gis_patrimoine.analysis.selection import NothingToDo, asset_query, pick_activity, select_communes
from gis_patrimoine.catalogue import Activity, Layer, get_catalogue


@dataclass
class Totals:
    """Annual figures of a set of rounds (or of a commune's part of them)."""

    km: float = 0.0
    hours_on_site: float = 0.0
    hours_travel: float = 0.0
    rounds_per_pass: int = 0

    def add(self, other: Totals) -> None:
        self.km += other.km
        self.hours_on_site += other.hours_on_site
        self.hours_travel += other.hours_travel
        self.rounds_per_pass += other.rounds_per_pass

    def money(self, p: Parameters, crew: int | None = None) -> dict:
        """Figures of a year; `crew`: agents per crew of the activity (the territory's crew_size when None)."""
        crew = crew or p.crew_size
        hours = self.hours_on_site + self.hours_travel
        fuel_l = self.km * p.fuel_l_per_km
        return {
            "km": round(self.km, 1),
            "hours_on_site": round(self.hours_on_site, 1),
            "hours_travel": round(self.hours_travel, 1),
            "crew_hours": round(hours, 1),
            # a crew-year is the hours of one crew's working year; a service needs whole crews (or contracts):
            # 0.2 of a crew-year still takes a crew
            "crew_years": round(hours / (p.working_days_per_year * p.shift_hours), 2),
            "crews_needed": math.ceil(round(hours / (p.working_days_per_year * p.shift_hours), 6)),
            "fuel_l": round(fuel_l, 1),
            "co2_kg": round(fuel_l * p.co2_kg_per_l, 1),
            "cost_eur": round(
                hours * crew * p.cost_per_hour + self.km * (p.cost_per_km + p.fuel_l_per_km * p.fuel_price), 0
            ),
        }


@dataclass
class Comparison:
    service: str
    activity: str
    visits_per_year: float
    params: Parameters
    alone: dict[str, Totals]  # per commune
    pooled: dict[str, Totals]  # per commune (shares of the pooled rounds)
    pooled_total: Totals
    alone_plans: dict[str, Plan] = field(default_factory=dict)
    pooled_plans: list[Plan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unzoned: list[dict] = field(default_factory=list)  # assets no depot's catchment reaches: in no pooled plan
    crew: int | None = None  # agents per crew of the activity (the catalogue's; else the territory's crew_size)

    def unreachable(self) -> dict[str, list[dict]]:
        """Assets the rounds could not reach, alone and pooled (each with its reason): not in that side's rounds."""
        return {
            "alone": [u for plan in self.alone_plans.values() for u in plan.unreachable],
            "pooled": [u for plan in self.pooled_plans for u in plan.unreachable] + self.unzoned,
        }

    def _unreachable_notes(self) -> list[str]:
        sets = {k: {a for u in v for a in u["assets"]} for k, v in self.unreachable().items()}
        if not any(sets.values()):
            return []
        note = (
            f"{len(sets['alone'])} asset(s) cannot be reached by road alone and {len(sets['pooled'])} pooled (a part "
            "of the network no depot is on, one-way traps): each side's figures leave out what its rounds cannot "
            "reach; see 'unreachable' and the network report"
        )
        if sets["alone"] != sets["pooled"]:
            note += (
                f"; the two sides leave out different assets ({len(sets['alone'] ^ sets['pooled'])} differ), so "
                "compare them knowing the work is not quite the same"
            )
        return [note]

    @property
    def alone_total(self) -> Totals:
        total = Totals()
        for t in self.alone.values():
            total.add(t)
        return total

    def table(self, names: dict[str, str], population: dict[str, int | None] | None = None) -> dict:
        """Totals alone and pooled, per commune, and the pooled cost shared three ways — by stand-alone cost (each
        saves the same share), by use (the pooled work done for it), by population — with, for each way, the
        communes that would pay more than alone."""
        p = self.params
        alone, pooled = self.alone_total.money(p, self.crew), self.pooled_total.money(p, self.crew)
        # alone, each commune with work needs its own whole crews: the sum of theirs, not the total's
        alone["crews_needed"] = sum(t.money(p, self.crew)["crews_needed"] for t in self.alone.values())
        alone_cost = alone["cost_eur"] or 1.0
        ratio = pooled["cost_eur"] / alone_cost
        codes = sorted(self.alone, key=lambda c: names.get(c, c))
        used = {c: self.pooled[c].money(p, self.crew)["cost_eur"] for c in codes}
        people = {c: (population or {}).get(c) for c in codes}
        own = {c: self.alone[c].money(p, self.crew)["cost_eur"] for c in codes}
        keys = {
            "stand_alone": {c: own[c] / (sum(own.values()) or 1.0) for c in codes},
            "use": {c: used[c] / (sum(used.values()) or 1.0) for c in codes},
        }
        if codes and all(people[c] for c in codes):
            keys["population"] = {c: people[c] / sum(people.values()) for c in codes}
        communes = []
        for code in codes:
            a = self.alone[code].money(p, self.crew)
            pays = round(a["cost_eur"] * ratio, 0)  # the stand-alone key: each saves the same share
            by_key = {k: round(pooled["cost_eur"] * shares[code], 0) for k, shares in keys.items()}
            communes.append(
                {
                    "insee": code,
                    "name": names.get(code, code),
                    "alone": a,
                    "pooled": self.pooled[code].money(p, self.crew),
                    "key": round(keys["stand_alone"][code], 4),
                    "pays_pooled_eur": pays,
                    "saving_eur": round(a["cost_eur"] - pays, 0),
                    "keys": {k: round(shares[code], 4) for k, shares in keys.items()},
                    "pays_by_key_eur": by_key,
                    "pays_more_than_alone": sorted(k for k, v in by_key.items() if v > a["cost_eur"] + 1),
                }
            )
        return {
            "service": self.service,
            "activity": self.activity,
            "visits_per_year": self.visits_per_year,
            "alone": alone,
            "pooled": pooled,
            "saving": {k: round(alone[k] - pooled[k], 2) for k in alone},
            "saving_pct": {k: round(100 * (alone[k] - pooled[k]) / alone[k], 1) if alone[k] else 0.0 for k in alone},
            "communes": communes,
            "losers": [c["name"] for c in communes if c["saving_eur"] < 0],
            "losers_by_key": {k: [c["name"] for c in communes if k in c["pays_more_than_alone"]] for k in keys},
            "unreachable": self.unreachable(),
            "notes": self.notes + self._unreachable_notes(),
            "parameters": p.model_dump(),
        }


def _annual(plan: Plan, visits: float) -> tuple[Totals, dict[str, Totals]]:
    """Totals of a plan per year, and each commune's part (travel shared by on-site time in each round)."""
    total = Totals(rounds_per_pass=len(plan.rounds))
    per: dict[str, Totals] = {}
    for r in plan.rounds:
        site_by: dict[str, float] = {}
        for i in r.stops:
            site_by[plan.stops[i].commune] = site_by.get(plan.stops[i].commune, 0.0) + plan.stops[i].service_s
        on_site = sum(site_by.values()) or 1.0
        km = (r.travel_m + r.work_m) / 1000 * visits
        total.km += km
        total.hours_on_site += r.service_s / 3600 * visits
        total.hours_travel += r.travel_s / 3600 * visits
        for code, site in site_by.items():
            share = site / on_site
            t = per.setdefault(code, Totals())
            t.km += km * share
            t.hours_on_site += site / 3600 * visits
            t.hours_travel += r.travel_s / 3600 * visits * share
    return total, per


def compare(
    conn: psycopg.Connection,
    service: str,
    activity: str | None = None,
    communes: list[str] | None = None,
    stop_spread_m: float | None = None,  # default: the territory's (analyse params)
    iterations: int = 300,
) -> Comparison:
    """Plan the activity commune by commune and pooled, and compare the years they make."""
    catalogue = get_catalogue()
    layer, act = pick_activity(catalogue, service, activity)
    communes = select_communes(conn, communes)
    # a fixed number of solver iterations: the same figures on any machine, for a fixed seed
    kwargs = {"workers": 1, "stop_spread_m": stop_spread_m, "iterations": iterations}
    ensure_network(conn)  # once, before the parallel plans read it
    # assets of the activity per commune: which communes plan alone, and the biggest plans start first
    sizes = dict(
        conn.execute(
            sql.SQL("SELECT commune_insee, count(*) FROM ({}) a GROUP BY 1").format(asset_query(layer, act, communes))
        ).fetchall()
    )
    with_assets = sorted(sizes)
    if not with_assets:
        raise NothingToDo(
            f"no {layer.collection} for {service}/{act.name} in the communes asked; "
            "import them or choose another service"
        )
    own = {code: [] for code in with_assets}
    owners = depot_owners(conn)  # the agglomération's depot is nobody's alone
    for did, _, _ in depots_serving(conn, service):
        if owners.get(did) is not None:
            own.setdefault(owners[did], []).append(did)
    zones = pooled_zones(conn, layer, act, with_assets, service)
    zoned = {a for assets in zones.values() for a in assets}
    unzoned_ids = [
        r[0]
        for r in conn.execute(sql.SQL("SELECT id FROM ({}) a ORDER BY id").format(asset_query(layer, act, with_assets)))
        if r[0] not in zoned
    ]
    # every plan is independent: two at a time (each its own connection: pgRouting and the solver share the cores)
    tasks = [("alone", code, RoundRequest(service, act.name, [code], own[code], **kwargs)) for code in with_assets]
    tasks += [
        ("pooled", depot_id, RoundRequest(service, act.name, with_assets, [depot_id], assets=assets, **kwargs))
        for depot_id, assets in sorted(zones.items())
    ]
    url = make_conninfo(conn.info.dsn, password=conn.info.password) if conn.info.password else conn.info.dsn

    def run(task: tuple) -> Plan:
        with psycopg.connect(url) as own_conn:
            return plan_rounds(own_conn, task[2], catalogue)

    order = sorted(
        range(len(tasks)),
        key=lambda k: -(sizes.get(tasks[k][1], 0) if tasks[k][0] == "alone" else len(tasks[k][2].assets or [])),
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(order, pool.map(run, [tasks[k] for k in order]), strict=True))
    alone: dict[str, Totals] = {}
    plans: dict[str, Plan] = {}
    notes = []
    pooled_total, pooled = Totals(), {code: Totals() for code in with_assets}
    zone_plans = []
    for k, (kind, key, _) in enumerate(tasks):
        plan = done[k]
        if kind == "alone":
            if not own[key]:
                notes.append(f"{key} has no depot serving {service}: alone, it is served from {plan.depots[0].name}")
            plans[key] = plan
            alone[key] = _annual(plan, act.visits)[0]
        else:
            zone_plans.append(plan)
            total, per = _annual(plan, act.visits)
            pooled_total.add(total)
            for code, t in per.items():
                pooled[code].add(t)
    return Comparison(
        service=service,
        activity=act.name,
        visits_per_year=act.visits,
        params=zone_plans[0].params,
        alone=alone,
        pooled=pooled,
        pooled_total=pooled_total,
        alone_plans=plans,
        pooled_plans=zone_plans,
        notes=notes,
        crew=act.crew,
        unzoned=[
            {"layer": layer.collection, "assets": unzoned_ids, "label": f"{len(unzoned_ids)} {layer.collection}",
             "commune": None, "reason": "no depot's catchment reaches it by road", "part": 0, "segments": 0}
        ]
        if unzoned_ids
        else [],
    )  # fmt: skip


def pooled_zones(
    conn: psycopg.Connection, layer: Layer, activity: Activity, communes: list[str], service: str
) -> dict[int, list[int]]:
    """Pooled service zones: every asset goes to the depot nearest to it by road (network catchments), whatever
    commune either is in, among the depots of the communes pooled (all depots when none of them has one: they
    would be served from elsewhere alone too). Returns depot id -> asset ids."""
    serving = depots_serving(conn, service)
    located = dict(conn.execute("SELECT id, commune_insee FROM patrimoine.depot").fetchall())
    depots = [d[0] for d in serving if located.get(d[0]) in communes] or [d[0] for d in serving]
    if not depots:
        raise DepotProblem(f"no depot with crews serves {service}; import depots or add {service} to their services")
    nearest = catchments(conn, depots)
    rows = [(aid, source, target) for aid, _, source, target, _ in asset_junctions(conn, layer, activity, communes)]
    zones: dict[int, list[int]] = {}
    for aid, source, target in rows:
        options = [nearest[n] for n in (source, target) if n in nearest]
        if options:
            zones.setdefault(min(options, key=lambda o: o[1])[0], []).append(aid)
    return zones


def main_activities() -> list[tuple[str, str]]:
    """(service, activity): each service's first activity, that of its main layer: the default full comparison."""
    out: dict[str, str] = {}
    for layer in get_catalogue().asset_layers:  # main layers first
        if layer.maintenance and layer.maintenance.activities:
            out.setdefault(layer.maintenance.service, layer.maintenance.activities[0].name)
    return sorted(
        out.items(),
        key=lambda x: (
            ["lighting", "green_spaces", "roads", "buildings"].index(x[0])
            if x[0] in ("lighting", "green_spaces", "roads", "buildings")
            else math.inf
        ),
    )


def commune_names(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT insee, name FROM patrimoine.commune").fetchall())


def commune_populations(conn: psycopg.Connection) -> dict[str, int | None]:
    return dict(conn.execute("SELECT insee, population FROM patrimoine.commune").fetchall())


def store(conn: psycopg.Connection, comparison: Comparison) -> int:
    """The comparison and its per-commune figures (with outlines, for maps) in one transaction."""
    result = comparison.table(commune_names(conn), commune_populations(conn))
    with conn.transaction():
        sid = conn.execute(
            "INSERT INTO analysis.scenario (service, activity, result) VALUES (%s, %s, %s) RETURNING id",
            (comparison.service, comparison.activity, json.dumps(result)),
        ).fetchone()[0]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO analysis.scenario_commune (scenario_id, service, activity, commune_insee, name, alone_km, "
                "pooled_km, alone_hours, pooled_hours, alone_cost_eur, pays_pooled_eur, saving_eur, saving_pct, "
                "sharing_key, geom) SELECT %s, %s, %s, insee, name, %s, %s, %s, %s, %s, %s, %s, %s, %s, geom "
                "FROM patrimoine.commune WHERE insee = %s",
                [
                    (
                        sid,
                        comparison.service,
                        comparison.activity,
                        c["alone"]["km"],
                        c["pooled"]["km"],
                        c["alone"]["crew_hours"],
                        c["pooled"]["crew_hours"],
                        c["alone"]["cost_eur"],
                        c["pays_pooled_eur"],
                        c["saving_eur"],
                        round(100 * c["saving_eur"] / c["alone"]["cost_eur"], 1) if c["alone"]["cost_eur"] else 0.0,
                        c["key"],
                        c["insee"],
                    )
                    for c in result["communes"]
                ],
            )
    return sid
