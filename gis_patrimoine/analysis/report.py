"""A scenario report a director can read: the map of savings per commune, the tables, the assumptions.

Self-contained HTML (SVG map, no script, no basemap), printable.
"""

from __future__ import annotations

import html

import psycopg

from gis_patrimoine.analysis.svg import territory_frame

LABELS = {
    "km": "vehicle km",
    "hours_on_site": "crew hours on site",
    "hours_travel": "crew hours travelling",
    "crew_hours": "crew hours",
    "crew_years": "crew-years of work",
    "crews_needed": "whole crews needed (each commune its own, alone)",
    "fuel_l": "diesel (l)",
    "co2_kg": "CO₂e (kg)",
    "cost_eur": "cost (€)",
}
PARAMETERS = {
    "crew_size": "agents per crew",
    "shift_hours": "shift (h)",
    "working_days_per_year": "working days a year",
    "cost_per_hour": "€ per agent hour",
    "cost_per_km": "€ per km (fuel excluded)",
    "fuel_price": "€ per litre of diesel",
    "fuel_l_per_km": "litres per km",
    "co2_kg_per_l": "kg CO₂e per litre (arrêté du 26 avril 2017)",
    "stop_spread_m": "span of one stop (m)",
}


RED = " style='color:#c92a2a;font-weight:bold'"


def _colour(pct: float) -> str:
    """Green for savings, red for losses, pale near zero."""
    t = max(-1.0, min(1.0, pct / 10.0))
    if t >= 0:
        return f"rgb({int(235 - 170 * t)},{int(245 - 90 * t)},{int(235 - 170 * t)})"
    return f"rgb({int(245 + 10 * t)},{int(235 + 150 * t)},{int(235 + 150 * t)})"


def _map(conn: psycopg.Connection, scenario_id: int, size: int = 560) -> str:
    frame = territory_frame(conn, size)
    if frame is None:
        return ""
    rows = conn.execute(
        "SELECT name, saving_pct, ST_AsGeoJSON(ST_Simplify(geom, 20)), ST_X(ST_PointOnSurface(geom)), "
        "ST_Y(ST_PointOnSurface(geom)) FROM analysis.scenario_commune WHERE scenario_id = %s",
        (scenario_id,),
    ).fetchall()
    out = [frame.open("saving per commune")]
    for name, pct, geojson, lx, ly in rows:
        out.append(
            f'<path d="{frame.path(geojson)}" fill="{_colour(pct)}" stroke="#495057" stroke-width="0.8"><title>'
            f"{html.escape(name)}: {pct:+.1f} %</title></path>"
        )
        out.append(f'<text {frame.point(lx, ly)} font-size="8" text-anchor="middle">{html.escape(name[:18])}</text>')
    out.append("</svg>")
    return "".join(out)


def scenario_report(conn: psycopg.Connection, scenario_id: int) -> str:
    row = conn.execute(
        "SELECT service, activity, result, created_at FROM analysis.scenario WHERE id = %s", (scenario_id,)
    ).fetchone()
    if row is None:
        raise LookupError(f"no scenario {scenario_id}; list them at /analysis/scenarios")
    service, activity, r, created = row
    e = html.escape
    totals = "".join(
        f"<tr><td>{label}</td><td>{r['alone'][k]:,.1f}</td><td>{r['pooled'][k]:,.1f}</td>"
        f"<td>{r['saving'][k]:,.1f}</td><td>{r['saving_pct'][k]:+.1f} %</td></tr>"
        for k, label in LABELS.items()
    )
    communes = "".join(
        f"<tr><td>{e(c['name'])}</td><td>{c['alone']['km']:,.0f}</td><td>{c['pooled']['km']:,.0f}</td>"
        f"<td>{c['alone']['crew_hours']:,.0f}</td><td>{c['pooled']['crew_hours']:,.0f}</td>"
        f"<td>{c['alone']['cost_eur']:,.0f}</td><td>{c['key']:.1%}</td><td>{c['pays_pooled_eur']:,.0f}</td>"
        f"<td>{c['saving_eur']:,.0f}</td></tr>"
        for c in r["communes"]
    )
    params = "".join(f"<tr><td>{label}</td><td>{r['parameters'].get(k)}</td></tr>" for k, label in PARAMETERS.items())
    ways = [k for k in ("stand_alone", "use", "population") if k in r.get("losers_by_key", {})]
    sharing = "".join(
        f"<tr><td>{e(c['name'])}</td><td>{c['alone']['cost_eur']:,.0f}</td>"
        + "".join(
            f"<td{RED if k in c['pays_more_than_alone'] else ''}>{c['pays_by_key_eur'][k]:,.0f}</td>" for k in ways
        )
        + "</tr>"
        for c in r["communes"]
        if "pays_by_key_eur" in c
    )
    more = "; ".join(f"{k.replace('_', ' ')}: {', '.join(v) or 'none'}" for k, v in r.get("losers_by_key", {}).items())
    opportunities = conn.execute(
        "SELECT rank, label, hours_saved, km_saved, assets FROM analysis.opportunity WHERE service = %s "
        "ORDER BY rank LIMIT 10",
        (service,),
    ).fetchall()
    opp = (
        "".join(
            f"<tr><td>{k}</td><td>{e(label)}</td><td>{hours:,.1f}</td><td>{km:,.1f}</td><td>{n}</td></tr>"
            for k, label, hours, km, n in opportunities
        )
        or "<tr><td colspan='5'>not computed (gis-patrimoine analyse opportunities)</td></tr>"
    )
    notes = "".join(f"<li>{e(n)}</li>" for n in r.get("notes", []))
    losers = ", ".join(e(x) for x in r.get("losers", [])) or "none"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Pooling {e(service)} — scenario {scenario_id}</title><style>"
        "body{font:13px system-ui,sans-serif;margin:24px;max-width:1000px;color:#212529}"
        "table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ced4da;padding:3px 6px;"
        "text-align:right}td:first-child,th:first-child{text-align:left}th{background:#e9ecef}"
        "h1{font-size:20px}h2{font-size:15px;margin-top:20px}</style></head><body>"
        f"<h1>Pooling {e(service)} ({e(activity)}): each commune alone vs pooled</h1>"
        f"<p>Scenario {scenario_id}, computed {created:%Y-%m-%d %H:%M}. {r['visits_per_year']:g} passes a year. "
        f"Pooling saves <b>{r['saving']['cost_eur']:,.0f} € a year ({r['saving_pct']['cost_eur']:+.1f} %)</b>, "
        f"{r['saving']['km']:,.0f} km and {r['saving']['co2_kg']:,.0f} kg CO₂e. Communes that would pay more "
        f"than alone: {losers}.</p>"
        f"<h2>Saving per commune</h2>{_map(conn, scenario_id)}"
        "<h2>Totals per year</h2><table><tr><th></th><th>alone</th><th>pooled</th><th>saving</th><th></th></tr>"
        f"{totals}</table>"
        "<h2>Per commune, and the cost-sharing key</h2><table><tr><th>commune</th><th>km alone</th>"
        "<th>km pooled</th><th>crew h alone</th><th>crew h pooled</th><th>cost alone €</th><th>key</th>"
        f"<th>pays pooled €</th><th>saving €</th></tr>{communes}</table>"
        + (
            "<h2>Three ways to share the pooled cost</h2><p>By stand-alone cost (every commune saves the same "
            "share), by use (the pooled work done for it) and by population; in red, who would pay more than alone. "
            f"Paying more than alone: {e(more)}.</p><table><tr><th>commune</th><th>alone €</th>"
            + "".join(f"<th>{k.replace('_', ' ')} €</th>" for k in ways)
            + f"</tr>{sharing}</table>"
            if sharing
            else ""
        )
        + "<h2>Where pooling makes sense: neighbouring communes</h2><table><tr><th>rank</th><th>communes</th>"
        f"<th>crew h saved/yr</th><th>km saved/yr</th><th>assets driving it</th></tr>{opp}</table>"
        "<h2>How to read it, and the assumptions</h2><p>Both scenarios plan the same work with the same crews "
        "and depots: alone, every commune's assets are visited from its own depots; pooled, every asset from the "
        "depot nearest to it by road, across boundaries. Every figure is a sum over the scenario's own rounds (one "
        "pass of the activity) times the passes a year; travel of a pooled round is shared among the communes it "
        "serves by their time on site. The key: each commune pays its stand-alone cost less the same share of "
        "the saving.</p>"
        f"<table>{params}</table><ul>{notes}</ul></body></html>"
    )
