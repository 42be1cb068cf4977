"""The shared diagnostic: what each commune has (staff, machines, depots, contracts, purchases) against what
its inventory needs — per commune and service, with every figure's assumptions.

- **Capacity**: posts × annual hours × (1 − share lost to sickness and training); a seasonal post counts for
  its months. Loaded cost: the answer, else the grade's default (layers/codelists.yaml, `grade`), else the
  `adjoint_technique` one.
- **Workload**: the catalogue's on-site hours (analysis.workload) × the activity's crew (agent hours), plus the
  travel of the latest stored round plan of each activity where one covers the commune (its share of each
  round's travel, by on-site time, times the visits a year); without a plan, on-site hours only (said so).
- **Contracted work**: a contract for a whole service covers its `work_share` of it; one for an activity, that
  share of the activity's hours. The commune's own work is what remains.
- **Machines**: held (the equipment sheet) against machine-days needed (hours of the activities that use the
  type ÷ shift hours), with their mean age.
- **Spending**: staff + machines (price ÷ life + running cost) + depots + contracts + purchases, per
  inhabitant. A commune that did not answer a sheet shows that part as missing (None), never as zero.
- **Purchases**: unit prices of the same item side by side, who pays the most, and what buying all at the
  lowest price paid would save (an upper bound of joint purchasing).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date

import psycopg

from gis_patrimoine.analysis.params import load as load_params
from gis_patrimoine.analysis.selection import select_communes
from gis_patrimoine.analysis.workload import workload
from gis_patrimoine.catalogue import get_catalogue

AGGLO = "agglo"
FALLBACK_GRADE = "adjoint_technique"


@dataclass
class Figure:
    """A per-commune, per-service line of the diagnostic (None: not answered)."""

    commune: str
    service: str
    posts: float | None
    capacity_h: float | None
    workload_h: float
    travel_h: float
    contracted_share: float | None
    own_work_h: float | None
    balance_h: float | None
    staff_cost_eur: float | None
    contract_cost_eur: float | None


def _answered(conn: psycopg.Connection) -> dict[str, set[str]]:
    """table -> communes that answered it: a questionnaire returned (even "none"), or rows entered otherwise
    (in QGIS, or kept by an upgrade)."""
    out: dict[str, set[str]] = {}
    for key, table in conn.execute("SELECT commune_key, table_name FROM patrimoine_sys.diagnostic_return"):
        out.setdefault(table, set()).add(key)
    for table in ("staff", "equipment", "depot_cost", "contract", "purchase"):
        rows = conn.execute(f"SELECT DISTINCT coalesce(commune_insee, %s) FROM patrimoine.{table}", (AGGLO,))  # noqa: S608
        out.setdefault(table, set()).update(r[0] for r in rows)
    return out


def _travel_hours(conn: psycopg.Connection) -> dict[tuple[str, str, str], float]:
    """(commune, service, activity) -> travel hours of one pass, from the latest stored plan of the activity that
    covers the commune (its share of each round's travel, by on-site time)."""
    rows = conn.execute(
        "WITH latest AS (SELECT DISTINCT ON (service, activity, c) id, service, activity, c AS commune "
        "  FROM analysis.round_plan, unnest(communes) c ORDER BY service, activity, c, id DESC), "
        "site AS (SELECT s.plan_id, s.round_number, s.commune_insee, sum(s.on_site_min) m, "
        "  sum(sum(s.on_site_min)) OVER (PARTITION BY s.plan_id, s.round_number) AS round_m "
        "  FROM analysis.round_stop s WHERE s.plan_id IN (SELECT id FROM latest) GROUP BY 1, 2, 3) "
        "SELECT site.commune_insee, l.service, l.activity, sum(r.hours_travel * site.m / nullif(site.round_m, 0)) "
        "FROM site JOIN latest l ON l.id = site.plan_id AND l.commune = site.commune_insee "
        "JOIN analysis.round r ON r.plan_id = site.plan_id AND r.number = site.round_number "
        "GROUP BY 1, 2, 3"
    ).fetchall()
    return {(r[0], r[1], r[2]): float(r[3] or 0.0) for r in rows}


def diagnostic(conn: psycopg.Connection, communes: list[str] | None = None) -> dict:
    """The diagnostic of the communes (all by default): per commune and service, machines, spending, purchases."""
    catalogue = get_catalogue()
    params = load_params(conn)
    names = dict(conn.execute("SELECT insee, name FROM patrimoine.commune").fetchall())
    population = dict(conn.execute("SELECT insee, population FROM patrimoine.commune").fetchall())
    codes = select_communes(conn, communes)
    keys = [*codes, AGGLO]
    answered = _answered(conn)
    grade_cost = dict(conn.execute("SELECT code, default_cost_eur FROM patrimoine_vl.grade").fetchall())
    services = sorted({la.maintenance.service for la in catalogue.asset_layers if la.maintenance})
    visits = {
        (la.maintenance.service, a.name): (a.visits, a.equipment, a.crew or params.crew_size)
        for la in catalogue.asset_layers
        if la.maintenance
        for a in la.maintenance.activities
    }
    # work needed: agent hours on site (crew size × the catalogue's hours), travel where a plan gives it
    travel = _travel_hours(conn)
    work: dict[tuple[str, str], float] = {}
    work_act: dict[tuple[str, str, str], float] = {}
    trav: dict[tuple[str, str], float] = {}
    machine_days: dict[tuple[str, str], float] = {}
    for row in workload(conn, catalogue, codes):
        crew = visits[(row.service, row.activity)][2]  # the activity's crew (one mower, two for work at height)
        agent_h = row.hours_per_year * crew
        t = travel.get((row.commune, row.service, row.activity), 0.0) * row.visits_per_year * crew
        work[(row.commune, row.service)] = work.get((row.commune, row.service), 0.0) + agent_h + t
        work_act[(row.commune, row.service, row.activity)] = agent_h + t
        trav[(row.commune, row.service)] = trav.get((row.commune, row.service), 0.0) + t
        equipment = visits[(row.service, row.activity)][1]
        if equipment:
            key = (row.commune, equipment)
            machine_days[key] = machine_days.get(key, 0.0) + (row.hours_per_year + t / crew) / (params.shift_hours)
    staff = conn.execute(  # a seasonal post counts for its months
        "SELECT coalesce(commune_insee, %s), service, "
        "  fte * CASE WHEN seasonal THEN coalesce(months, 12) ELSE 12 END / 12.0, hours_per_year, "
        "absence_share, loaded_cost_eur, grade FROM patrimoine.staff",
        (AGGLO,),
    ).fetchall()
    contracts = conn.execute(
        "SELECT coalesce(commune_insee, %s), service, activity, work_share, annual_cost_eur FROM patrimoine.contract",
        (AGGLO,),
    ).fetchall()
    figures = []
    for key in keys:
        for service in services:
            has_staff = key in answered.get("staff", set())
            has_contracts = key in answered.get("contract", set())
            mine = [s for s in staff if s[0] == key and s[1] == service]
            posts = sum(s[2] for s in mine) if has_staff else None
            capacity = (
                sum(s[2] * (1607 if s[3] is None else s[3]) * (1 - (s[4] or 0.0)) for s in mine) if has_staff else None
            )
            cost = (
                sum(s[2] * (s[5] if s[5] is not None else grade_cost.get(s[6] or FALLBACK_GRADE) or 0) for s in mine)
                if has_staff
                else None
            )
            needed = work.get((key, service), 0.0)
            covered = 0.0
            for _, svc, activity, share, _ in (c for c in contracts if c[0] == key and c[1] == service):
                part = needed if activity is None else work_act.get((key, svc, activity), 0.0)
                covered += part * (share if share is not None else 1.0)
            covered = min(covered, needed)
            # no work to share out (nothing inventoried): no share, whatever the contracts cost
            share = (covered / needed if needed else None) if has_contracts else None
            own = needed - covered if has_contracts else (needed if has_staff else None)
            contract_cost = sum(c[4] for c in contracts if c[0] == key and c[1] == service) if has_contracts else None
            if not (needed or posts or contract_cost):
                continue
            figures.append(
                Figure(
                    commune=key,
                    service=service,
                    posts=posts,
                    capacity_h=capacity,
                    workload_h=needed,
                    travel_h=trav.get((key, service), 0.0),
                    contracted_share=share,
                    own_work_h=own,
                    balance_h=None if capacity is None or own is None else capacity - own,
                    staff_cost_eur=cost,
                    contract_cost_eur=contract_cost,
                )
            )
    return {
        "assumptions": {
            "crew_size": f"the catalogue's crew of each activity (else the territory's crew_size, {params.crew_size})",
            "shift_hours": params.shift_hours,
            "default_hours_per_fte": 1607,
            "default_cost_by_grade_eur": grade_cost,
            "workload": "on-site hours of the catalogue's activities × their crew; travel of the latest stored round "
            "plan of each activity where one exists (else none)",
            "machines": "machine-days = hours of the activities using the type ÷ shift hours",
            "purchases": "saving at the lowest unit price paid for the same item: an upper bound",
        },
        "answered": {t: sorted(v) for t, v in answered.items()},
        "figures": [f.__dict__ for f in figures],
        "services": _per_service(figures),
        "machines": _machines(conn, machine_days, keys, answered.get("equipment", set())),
        "spending": _spending(conn, keys, figures, answered, population, names),
        "purchases": _purchases(conn, names, keys),
    }


def _per_service(figures: list[Figure]) -> list[dict]:
    out = []
    for service in sorted({f.service for f in figures}):
        rows = [f for f in figures if f.service == service]
        known = [f for f in rows if f.posts is not None]
        out.append(
            {
                "service": service,
                "communes_answered": len(known),
                "posts": round(sum(f.posts for f in known), 2),
                "capacity_h": round(sum(f.capacity_h for f in known), 0),
                "workload_h": round(sum(f.workload_h for f in rows), 0),
                "workload_answered_h": round(sum(f.workload_h for f in known), 0),
                "own_work_answered_h": round(sum(f.own_work_h or 0 for f in known), 0),
                "contract_cost_eur": round(sum(f.contract_cost_eur or 0 for f in rows), 0),
                "under_capacity": sorted(f.commune for f in known if f.balance_h is not None and f.balance_h < 0),
                "over_capacity": sorted(
                    f.commune
                    for f in known
                    if f.balance_h is not None and f.balance_h > 0.25 * max(f.own_work_h or 0, 1)
                ),
            }
        )
    return out


def _machines(
    conn: psycopg.Connection, days: dict[tuple[str, str], float], keys: list[str], answered: set[str]
) -> list[dict]:
    held = conn.execute(
        "SELECT coalesce(commune_insee, %s) k, equipment_type, count(*), avg(%s - year) FROM patrimoine.equipment "
        "WHERE coalesce(commune_insee, %s) = ANY(%s) GROUP BY 1, 2",
        (AGGLO, date.today().year, AGGLO, keys),
    ).fetchall()
    types = sorted({t for _, t in days} | {r[1] for r in held})
    out = []
    for t in types:
        units = {r[0]: (r[2], r[3]) for r in held if r[1] == t}
        need = {k: d for (k, tt), d in days.items() if tt == t}
        ages = [float(a) for n, a in units.values() if a is not None for _ in range(n)]
        out.append(
            {
                "type": t,
                "held": sum(n for n, _ in units.values()),
                "held_by": {k: n for k, (n, _) in sorted(units.items())},
                "mean_age_years": round(statistics.fmean(ages), 1) if ages else None,
                "machine_days_needed": round(sum(need.values()), 1),
                "needed_by": {k: round(v, 1) for k, v in sorted(need.items()) if k in keys},
                "communes_without_answer": sorted(k for k in need if k not in answered),
            }
        )
    return out


def _spending(
    conn: psycopg.Connection,
    keys: list[str],
    figures: list[Figure],
    answered: dict[str, set[str]],
    population: dict[str, int],
    names: dict[str, str],
) -> list[dict]:
    machines = dict(conn.execute(
        "SELECT coalesce(commune_insee, %s), sum(coalesce(purchase_price_eur / life_years, 0) + "
        "coalesce(running_cost_eur, 0)) FROM patrimoine.equipment GROUP BY 1", (AGGLO,)
    ).fetchall())  # fmt: skip
    depots = dict(conn.execute(
        "SELECT coalesce(commune_insee, %s), sum(annual_cost_eur) FROM patrimoine.depot_cost GROUP BY 1", (AGGLO,)
    ).fetchall())  # fmt: skip
    purchases = dict(conn.execute(
        "SELECT coalesce(commune_insee, %s), sum(quantity * unit_price_eur) FROM patrimoine.purchase GROUP BY 1",
        (AGGLO,),
    ).fetchall())  # fmt: skip
    out = []
    for key in keys:
        parts = {
            "staff_eur": _part(answered, "staff", key, sum(f.staff_cost_eur or 0 for f in figures if f.commune == key)),
            "machines_eur": _part(answered, "equipment", key, machines.get(key, 0.0)),
            "depots_eur": _part(answered, "depot_cost", key, depots.get(key, 0.0)),
            "contracts_eur": _part(
                answered, "contract", key, sum(f.contract_cost_eur or 0 for f in figures if f.commune == key)
            ),
            "purchases_eur": _part(answered, "purchase", key, purchases.get(key, 0.0)),
        }
        known = [v for v in parts.values() if v is not None]
        total = round(sum(known), 0) if known else None
        people = population.get(key)
        out.append(
            {
                "commune": key,
                "name": names.get(key, "Agglomération"),
                **parts,
                "total_eur": total,
                "complete": len(known) == len(parts),
                "per_inhabitant_eur": round(total / people, 1) if total is not None and people else None,
            }
        )
    return out


def _part(answered: dict[str, set[str]], table: str, key: str, value: float) -> float | None:
    return round(float(value), 0) if key in answered.get(table, set()) else None


def _purchases(conn: psycopg.Connection, names: dict[str, str], keys: list[str]) -> list[dict]:
    rows = conn.execute(
        "SELECT category, item, unit, coalesce(commune_insee, %s) k, quantity, unit_price_eur FROM patrimoine.purchase "
        "WHERE coalesce(commune_insee, %s) = ANY(%s) ORDER BY category, lower(item), unit_price_eur",
        (AGGLO, AGGLO, keys),
    ).fetchall()
    groups: dict[tuple[str, str, str], list[tuple[str, float, float]]] = {}
    spelt: dict[tuple[str, str, str], str] = {}
    for category, item, unit, commune, qty, price in rows:
        key = (category, " ".join(item.lower().split()), unit)  # the same item, however its case and spaces
        spelt.setdefault(key, item.strip())
        groups.setdefault(key, []).append((commune, float(qty), float(price)))
    out = []
    for (category, norm, unit), buys in groups.items():
        item = spelt[(category, norm, unit)]
        prices = [p for _, _, p in buys]
        low = min(prices)
        top = max(buys, key=lambda b: b[2])
        out.append(
            {
                "category": category,
                "item": item,
                "unit": unit,
                "communes": len(buys),
                "quantity": round(sum(q for _, q, _ in buys), 2),
                "min_price_eur": low,
                "median_price_eur": statistics.median(prices),
                "max_price_eur": max(prices),
                "pays_most": names.get(top[0], "Agglomération"),
                "spent_eur": round(sum(q * p for _, q, p in buys), 0),
                "saving_at_lowest_eur": round(sum(q * (p - low) for _, q, p in buys), 0),
                "prices": [{"commune": c, "quantity": q, "unit_price_eur": p} for c, q, p in buys],
            }
        )
    return sorted(out, key=lambda g: -g["saving_at_lowest_eur"])


def per_commune(d: dict) -> list[dict]:
    """One line per commune (and the agglomération): totals over its services, and the sheets it did not send."""
    tables = ("staff", "equipment", "depot_cost", "contract", "purchase")
    out = []
    for s in d["spending"]:
        key = s["commune"]
        mine = [f for f in d["figures"] if f["commune"] == key]
        known = [f for f in mine if f["posts"] is not None]
        out.append(
            {
                "commune": key,
                "name": s["name"],
                "posts": round(sum(f["posts"] for f in known), 2) if known else None,
                "capacity_h": round(sum(f["capacity_h"] for f in known), 0) if known else None,
                "workload_h": round(sum(f["workload_h"] for f in mine), 0),
                "balance_h": round(sum(f["balance_h"] for f in known if f["balance_h"] is not None), 0)
                if known
                else None,
                "contracts_eur": s["contracts_eur"],
                "spending_eur": s["total_eur"],
                "per_inhabitant_eur": s["per_inhabitant_eur"],
                "missing": [t for t in tables if key not in d["answered"].get(t, [])],
            }
        )
    return out


def store(conn: psycopg.Connection, d: dict) -> int:
    """Replace analysis.diagnostic_commune (the collection diagnostic_communes) with this diagnostic's lines."""
    rows = [r for r in per_commune(d) if r["commune"] != AGGLO]
    with conn.transaction():
        conn.execute("DELETE FROM analysis.diagnostic_commune")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO analysis.diagnostic_commune (commune_insee, name, population, posts, capacity_h, "
                "workload_h, balance_h, contracts_eur, spending_eur, per_inhabitant_eur, missing, geom) "
                "SELECT insee, name, population, %s, %s, %s, %s, %s, %s, %s, %s, ST_Multi(geom) "
                "FROM patrimoine.commune WHERE insee = %s",
                [
                    (r["posts"], r["capacity_h"], r["workload_h"], r["balance_h"], r["contracts_eur"],
                     r["spending_eur"], r["per_inhabitant_eur"], r["missing"], r["commune"])
                    for r in rows
                ],
            )  # fmt: skip
    return len(rows)
