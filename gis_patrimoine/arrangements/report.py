"""The director's report: the arrangements side by side — € a year with its range, posts, machines, depots,
km, CO₂, one-off costs and payback, what each commune pays — with a map per arrangement and every assumption.

Self-contained printable HTML (SVG charts and maps, no script, no basemap). It replaces the per-activity
scenario report for deciding between arrangements.
"""

from __future__ import annotations

import html

import psycopg

from gis_patrimoine.analysis.svg import territory_frame

RED = " class='more'"
E = html.escape


def _eur(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}".replace(",", " ")


def _colour(pct: float) -> str:
    t = max(-1.0, min(1.0, pct / 30.0))
    if t >= 0:
        return f"rgb({int(235 - 170 * t)},{int(245 - 90 * t)},{int(235 - 170 * t)})"
    return f"rgb({int(245 + 10 * t)},{int(235 + 150 * t)},{int(235 + 150 * t)})"


def _bars(r: dict, width: int = 640) -> str:
    """Each arrangement's € a year: the bar at the central figure, the whisker its 10–90 % range."""
    rows = r["arrangements"]
    top = max(a["range_eur"][1] for a in rows) or 1.0
    scale = (width - 320) / top  # room for the figure after the whisker
    h = 26 * len(rows) + 24
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" role="img" '
           'aria-label="cost a year of each arrangement">']  # fmt: skip
    for k, a in enumerate(rows):
        y = 8 + 26 * k
        lo, hi = a["range_eur"]
        colour = "#2f9e44" if a["name"] == r["robustness"]["best"] else "#748ffc"
        out.append(f'<text x="0" y="{y + 13}" font-size="11">{E(a["title"][:34])}</text>')
        out.append(f'<rect x="220" y="{y}" width="{a["total_eur"] * scale:.1f}" height="16" fill="{colour}"/>')
        out.append(f'<line x1="{220 + lo * scale:.1f}" x2="{220 + hi * scale:.1f}" y1="{y + 8}" y2="{y + 8}" '
                   'stroke="#212529" stroke-width="1.5"/>')  # fmt: skip
        out.append(f'<text x="{224 + hi * scale:.1f}" y="{y + 12}" font-size="10">{_eur(a["total_eur"])} €</text>')
    out.append(f'<text x="220" y="{h - 2}" font-size="10" fill="#495057">€ a year; whiskers: 10–90 % of '
               f'{r["robustness"]["draws"]} draws of the assumptions</text></svg>')  # fmt: skip
    return "".join(out)


def _maps(conn: psycopg.Connection, run_id: int, r: dict, size: int = 230) -> str:
    """One small map per arrangement: each commune's saving by use (green saves, red pays more), kept depots."""
    frame = territory_frame(conn, size)
    if frame is None:
        return ""
    outlines = {
        insee: (geo, x, y)
        for insee, geo, x, y in conn.execute(
            "SELECT insee, ST_AsGeoJSON(ST_Simplify(geom, 40)), ST_X(ST_PointOnSurface(geom)), "
            "ST_Y(ST_PointOnSurface(geom)) FROM patrimoine.commune"
        )
    }
    depots = {d: (x, y) for d, x, y in conn.execute("SELECT id, ST_X(geom), ST_Y(geom) FROM patrimoine.depot")}
    pct = {
        (a, c): p
        for a, c, p in conn.execute(
            "SELECT arrangement, commune_insee, saving_pct FROM analysis.arrangement_commune WHERE run_id = %s",
            (run_id,),
        )
    }
    cells = []
    for a in r["arrangements"]:
        svg = [frame.open(f"saving per commune, {a['name']}")]
        for insee, (geo, _, _) in outlines.items():
            p = pct.get((a["name"], insee), 0.0)
            svg.append(f'<path d="{frame.path(geo)}" fill="{_colour(p)}" stroke="#868e96" stroke-width="0.6">'
                       f"<title>{insee}: {p:+.1f} %</title></path>")  # fmt: skip
        for d in a["depots_kept"]:
            if d in depots:
                x, y = depots[d]
                svg.append(f"<circle cx='{(x - frame.x0) * frame.scale:.1f}' "
                           f"cy='{(frame.y1 - y) * frame.scale:.1f}' r='3' fill='#1864ab' stroke='#fff'/>")  # fmt: skip
        svg.append("</svg>")
        cells.append(f"<figure>{''.join(svg)}<figcaption>{E(a['title'])}</figcaption></figure>")
    return "<div class='maps'>" + "".join(cells) + "</div>"


def _side_by_side(r: dict) -> str:
    rows = r["arrangements"]
    head = "<tr><th></th>" + "".join(f"<th>{E(a['title'])}</th>" for a in rows) + "</tr>"

    def line(label: str, cell) -> str:
        return f"<tr><td>{label}</td>" + "".join(f"<td>{cell(a)}</td>" for a in rows) + "</tr>"

    machine_types = sorted({t for a in rows for t in a["machines_needed"]})
    body = [
        line("€ a year (central)", lambda a: f"<b>{_eur(a['total_eur'])}</b>"),
        line("range (10–90 %)", lambda a: f"{_eur(a['range_eur'][0])} – {_eur(a['range_eur'][1])}"),
        line("saving vs status quo", lambda a: f"{_eur(a['saving_eur'])} ({a['saving_pct']:+.1f} %)"),
        line("saving range", lambda a: f"{_eur(a['saving_range_eur'][0])} – {_eur(a['saving_range_eur'][1])}"
             + (" <i>within the uncertainty</i>" if a["saving_within_spread"] else "")),
        line("cheapest in the draws", lambda a: f"{a['best_share']:.0%}"),
        line("one-off costs € (range)", lambda a: _eur(a["one_off_eur"]) + _range(a["one_off_range_eur"])),
        line("first year, one-off included €", lambda a: _eur(a["total_eur"] + a["one_off_eur"])),
        line("payback (years)", lambda a: "—" if a["payback_years"] is None else f"{a['payback_years']:g}"),
        line("permanent posts", lambda a: f"{a['posts_total']} ("
             + ", ".join(f"{k} {v}" for k, v in sorted(a["posts"].items()) if v) + ")"),
        line("seasonal months", lambda a: a["seasonal_months"]),
        line("work contracted out", lambda a: f"{a['contracted_share']:.0%}"),
        *(line(f"{t} (needed / communes hold)",
               lambda a, t=t: f"{a['machines_needed'].get(t, 0)} / {a['machines_held'].get(t, 0)}")
          for t in machine_types),
        line("depots kept / closed", lambda a: f"{len(a['depots_kept'])} / {len(a['depots_closed'])}"),
        line("km a year", lambda a: _eur(a["km"])),
        line("CO₂e (t a year)", lambda a: f"{a['co2_t']:,.1f}"),
        line("assets not reached", lambda a: a["unreachable_assets"]),
    ]  # fmt: skip
    items = sorted({k for a in rows for k in a["by_item_eur"]})
    body += [
        line(f"&nbsp;&nbsp;{k.replace('_', ' ')} €", lambda a, k=k: _eur(a["by_item_eur"].get(k, 0))) for k in items
    ]
    return f"<table>{head}{''.join(body)}</table>"


def _communes(r: dict) -> str:
    rows = r["arrangements"]
    names: dict[str, str] = {}
    for a in rows:
        for c in a["communes"]:
            names.setdefault(c["commune"], c["name"])
    baseline = next(a for a in rows if a["name"] == r["baseline"])
    others = [a for a in rows if a is not baseline]
    base = {c["commune"]: c["status_quo_eur"] for c in baseline["communes"]}
    head = "<tr><th>commune</th><th>status quo €</th>" + "".join(f"<th>{E(a['name'])}</th>" for a in others)
    out = [head + "</tr>"]
    for code, name in sorted(names.items(), key=lambda kv: kv[1]):
        cells = []
        for a in others:
            c = next((x for x in a["communes"] if x["commune"] == code), None)
            if c is None:
                cells.append("<td>—</td>")
                continue
            flag = RED if c["pays_more_than_alone"] else ""
            more = f" ({', '.join(c['pays_more_than_alone'])})" if c["pays_more_than_alone"] else ""
            cells.append(f"<td{flag}>{_eur(c['pays_eur']['use'])}{E(more)}</td>")
        out.append(f"<tr><td>{E(name)}</td><td>{_eur(base.get(code))}</td>{''.join(cells)}</tr>")
    return f"<table>{''.join(out)}</table>"


def render(conn: psycopg.Connection, r: dict) -> str:
    """The report of a stored comparison (`r` as arrangements.store.load gives it)."""
    best = next(a for a in r["arrangements"] if a["name"] == r["robustness"]["best"])
    rob = r["robustness"]
    robust = (
        f"it is the cheapest in {rob['best_share']:.0%} of {rob['draws']} draws of the assumptions: the ranking's "
        + ("winner is robust" if rob["robust"] else "<b>winner is not robust</b> — see the ranges")
    )
    declared = r["declared_status_quo"]
    done = "—" if declared["work_done_share"] is None else f"{declared['work_done_share']:.1%}"
    assumptions = "".join(
        f"<tr><td>{E(k)}</td><td>{v['value']:g}</td><td>{v['low']:g} – {v['high']:g}</td><td>{E(v['unit'])}</td>"
        f"<td>{E(v['source'])}</td></tr>"
        for k, v in r["assumptions"].items()
    )
    inputs = r["inputs"]
    notes = "".join(
        f"<li><b>{E(a['name'])}</b>: {E(n)}</li>" for a in r["arrangements"] for n in dict.fromkeys(a["notes"])
    )
    groups = "".join(
        f"<li><b>{E(a['title'])}</b> — {E(a['description'])} "
        + "; ".join(f"{E(g['name'])}: {E(', '.join(g['members']))} ({E(', '.join(g['services']) or 'purchases')})"
                    for g in a["groups"])
        + "</li>"
        for a in r["arrangements"]
    )  # fmt: skip
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Pooling arrangements — comparison {r['id']}</title><style>"
        "body{font:13px system-ui,sans-serif;margin:24px;max-width:1180px;color:#212529}"
        "table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ced4da;padding:3px 6px;"
        "text-align:right;vertical-align:top}td:first-child,th:first-child{text-align:left}th{background:#e9ecef}"
        ".more{color:#c92a2a;font-weight:bold}.maps{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}"
        "figcaption{font-size:11px;max-width:230px}h1{font-size:20px}h2{font-size:15px;margin-top:20px}"
        "</style></head><body>"
        f"<h1>Pooling the technical services: the arrangements side by side</h1>"
        f"<p>Comparison {r['id']}, computed {E(r['created_at'][:16].replace('T', ' '))}. "
        f"The cheapest arrangement is <b>{E(best['title'])}</b>: {_eur(best['total_eur'])} € a year "
        f"(range {_eur(best['range_eur'][0])} – {_eur(best['range_eur'][1])}), saving {_eur(best['saving_eur'])} € "
        f"({best['saving_pct']:+.1f} %) on the status quo costed the same way, for {_eur(best['one_off_eur'])} € of "
        f"one-off costs; {robust}.</p>"
        f"<h2>€ a year</h2>{_bars(r)}"
        f"<h2>Side by side</h2>{_side_by_side(r)}"
        "<h2>Saving per commune (by use; green saves, red pays more) and the depots kept</h2>"
        f"{_maps(conn, r['id'], r)}"
        "<h2>What each commune pays a year, by use</h2><p>In red, a commune that would pay more than alone under "
        "the keys named (use: the hours done for it; population; stand-alone cost: every member saves the same "
        f"share).</p>{_communes(r)}"
        "<h2>The status quo as declared</h2>"
        f"<p>The diagnostic's spending: {_eur(declared['total_eur'])} € a year "
        f"(incomplete answers: {E(', '.join(declared['incomplete']) or 'none')}); the communes' staff leave "
        f"{_eur(declared['undone_h'])} h of the {_eur(declared['work_needed_h'])} h the inventory needs undone "
        f"({done} done). "
        "It covers all their work, where the arrangements cost only the work the inventory describes: it is "
        "shown for the work left undone, not compared euro for euro. Every modelled arrangement does all the "
        "work its rounds reach.</p>"
        f"<h2>The arrangements</h2><ul>{groups}</ul>"
        "<h2>Assumptions (central, range, source)</h2><table><tr><th>assumption</th><th>central</th>"
        f"<th>range</th><th>unit</th><th>source</th></tr>{assumptions}</table>"
        "<h2>Inputs from the diagnostic</h2>"
        f"<p>Loaded cost of a post by skill (€): {E(_kv(inputs['post_cost_eur']))}. Contract prices (€ per agent "
        f"hour): {E(_kv(inputs['contract_eur_per_agent_hour']))}. Machines (€ a year each): "
        f"{E(_kv(inputs['machine_eur_per_year']))}. Depots (€ a year): {E(_kv(inputs['depot_eur_per_year']))}.</p>"
        f"<p>Rounds: {r['solver']['problems']} round problems, {r['solver']['iterations']} solver iterations each; "
        f"travel differs by {r['solver']['spread']:.1%} between two seeds on the largest (in the ranges). The "
        "agglomération's own staff and machines are the same in every arrangement and left out.</p>"
        f"<h2>Notes</h2><ul>{notes}</ul></body></html>"
    )


def _range(pair: list[float]) -> str:
    return f" ({_eur(pair[0])} – {_eur(pair[1])})" if pair[1] else ""


def _kv(d: dict) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in d.items())
