"""The arrangements the product proposes for a territory, from its diagnostic, its map and its workload.

- `status_quo`: each commune alone with its own staff, machines, depots and contracts;
- `common_service`: the central commune (the most populous) and the agglomération, one service for all their
  services, the depots to keep among theirs chosen by facility location;
- `agglo_lighting`: the agglomération's electricians doing public lighting for every commune that has none,
  from the agglomération's depots (proposed when it has both);
- `hubs`: contiguous groups ("pôles") of the other communes, grown by merging the neighbouring pair that saves
  the most (posts and machines estimated from the catalogue's workload, travel as a share of it) while it
  saves, up to five communes; each hub keeps the best of its members' depots (facility location) and buys
  together;
- `full_pooling`: every commune and the agglomération, the depots to keep chosen by facility location, buying
  together.
Only the proposal uses the workload estimate: every arrangement is then costed from its own rounds.
"""

from __future__ import annotations

import psycopg

from gis_patrimoine.analysis.workload import workload
from gis_patrimoine.arrangements.costing import Work, cost_unit
from gis_patrimoine.arrangements.definition import AGGLO, Arrangement, Group, Unit
from gis_patrimoine.arrangements.inputs import Inputs
from gis_patrimoine.catalogue import Catalogue, get_catalogue

HUB_MAX = 5
TRAVEL_SHARE = 0.3  # travel as a share of on-site time in the estimate that proposes hubs


def estimated_works(
    conn: psycopg.Connection, catalogue: Catalogue | None = None, crew_size: int = 2
) -> dict[str, list[Work]]:
    """A commune's year of work from the catalogue's workload alone (travel a fixed share; rounds from shifts):
    enough to rank candidate groups, never reported as a cost."""
    catalogue = catalogue or get_catalogue()
    acts = {
        (la.maintenance.service, a.name): a
        for la in catalogue.asset_layers
        if la.maintenance
        for a in la.maintenance.activities
    }
    out: dict[str, list[Work]] = {}
    for row in workload(conn, catalogue):
        a = acts[(row.service, row.activity)]
        hours = row.hours_per_year
        out.setdefault(row.commune, []).append(
            Work(row.commune, row.service, a.name, a.skill or "polyvalent", a.equipment, a.crew or crew_size, a.season,
                 hours, hours * TRAVEL_SHARE, hours * (1 + TRAVEL_SHARE) / 7, hours * TRAVEL_SHARE * 40)
        )  # fmt: skip
    return out


def neighbours(conn: psycopg.Connection) -> dict[str, set[str]]:
    rows = conn.execute(
        "SELECT a.insee, b.insee FROM patrimoine.commune a JOIN patrimoine.commune b "
        "ON a.insee < b.insee AND ST_DWithin(a.geom, b.geom, 50)"
    ).fetchall()
    out: dict[str, set[str]] = {}
    for x, y in rows:
        out.setdefault(x, set()).add(y)
        out.setdefault(y, set()).add(x)
    return out


def hubs(
    communes: list[str], adjacency: dict[str, set[str]], works: dict[str, list[Work]], inputs: Inputs
) -> list[list[str]]:
    """Contiguous groups of communes, merged pair by pair — the neighbouring pair whose estimated year costs the
    least together compared with apart — while a merge saves and a hub has at most HUB_MAX communes."""
    a = inputs.central()
    owned = inputs.owned()
    services = tuple(sorted({w.service for ws in works.values() for w in ws}))

    def cost(group: tuple[str, ...]) -> float:
        unit = Unit("hub", group, services, tuple(d for m in group for d in owned.get(m, [])), group=True)
        return cost_unit(unit, unit.depots, [w for m in group for w in works.get(m, [])], inputs, a).total_eur

    clusters = [(c,) for c in communes]
    known: dict[tuple[str, ...], float] = {c: cost(c) for c in clusters}
    while True:
        best = None
        for i, x in enumerate(clusters):
            for y in clusters[i + 1 :]:
                if len(x) + len(y) > HUB_MAX or not any(adjacency.get(m, set()) & set(y) for m in x):
                    continue
                merged = tuple(sorted(x + y))
                if merged not in known:
                    known[merged] = cost(merged)
                saving = known[x] + known[y] - known[merged]
                if saving > 0 and (best is None or saving > best[0]):
                    best = (saving, x, y, merged)
        if best is None:
            break
        _, x, y, merged = best
        clusters = [c for c in clusters if c not in (x, y)] + [merged]
    return sorted((list(c) for c in clusters if len(c) > 1), key=lambda c: c[0])


def propose(
    conn: psycopg.Connection, inputs: Inputs, catalogue: Catalogue | None = None, communes: list[str] | None = None
) -> list[Arrangement]:
    """The arrangements a territory (or some of its communes) is offered (see the module's docstring)."""
    catalogue = catalogue or get_catalogue()
    every = [r[0] for r in conn.execute("SELECT insee FROM patrimoine.commune ORDER BY insee")]
    communes = communes or every
    central = max(communes, key=lambda c: (inputs.population.get(c, 0), c))
    owned = inputs.owned()
    # the agglomération joins only a comparison of the whole territory: its depots serve every commune
    has_agglo = bool(owned.get(AGGLO)) and set(communes) == set(every)
    out = [Arrangement(name="status_quo", title="Status quo: each commune alone")]
    members = [central, AGGLO] if has_agglo else [central]
    out.append(
        Arrangement(
            name="common_service",
            title=f"Common service of {inputs.names[central]}" + (" and the agglomération" if has_agglo else ""),
            description="One service for all the central commune's and the agglomération's work, their depots and "
            "machines shared, buying together.",
            groups=[Group(name="common service", members=members, depots="optimise", joint_purchasing=True)],
        )
    )
    electricians = {
        r[0] for r in conn.execute("SELECT DISTINCT commune_insee FROM patrimoine.staff WHERE skill = 'electrician'")
    }
    lighting_depots = [d for d in owned.get(AGGLO, []) if "lighting" in inputs.depot_services.get(d, [])]
    if has_agglo and AGGLO in {k or AGGLO for k in electricians} and lighting_depots:
        served = [c for c in communes if c not in electricians]
        out.append(
            Arrangement(
                name="agglo_lighting",
                title=f"The agglomération's lighting for {len(served)} communes",
                description="The agglomération's electricians and platforms do public lighting for the communes "
                "without an electrician, from its depots; the other services stay with the communes.",
                groups=[Group(name="agglomération lighting", members=[*served, AGGLO], services=["lighting"],
                              depots=lighting_depots)],
            )
        )  # fmt: skip
    others = [c for c in communes if c != central]
    groups = hubs(others, neighbours(conn), estimated_works(conn, catalogue, inputs.crew_size), inputs)
    if groups:
        out.append(
            Arrangement(
                name="hubs",
                title=f"{len(groups)} hub{'s' if len(groups) > 1 else ''} of neighbouring communes",
                description="Contiguous groups of communes (other than the central one) sharing staff, machines, "
                "depots and a manager, and buying together; proposed where the estimate says they save most.",
                groups=[
                    Group(name=f"hub {k + 1}", members=g, depots="optimise", joint_purchasing=True)
                    for k, g in enumerate(groups)
                ],
            )
        )
    out.append(
        Arrangement(
            name="full_pooling",
            title="Full pooling, depots chosen by optimisation",
            description="One service for every commune and the agglomération; the depots to keep chosen by "
            "fixed-charge facility location within 30 minutes' drive; buying together.",
            groups=[
                Group(
                    name="territory",
                    members=[*communes, *([AGGLO] if has_agglo else [])],
                    depots="optimise",
                    joint_purchasing=True,
                )
            ],
        )
    )
    return out
