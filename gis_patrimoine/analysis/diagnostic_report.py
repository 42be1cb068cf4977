"""The diagnostic as a director reads it: a printable, self-contained HTML page (SVG map, no script).

The map gives € per inhabitant per commune (hatched grey where answers are missing); the tables give, per
service, posts and their hours against the work the inventory needs, the machines, the spending and the unit
prices side by side; then who answered what, and every assumption.
"""

from __future__ import annotations

import html
import json

import psycopg

from gis_patrimoine.analysis.diagnostic import AGGLO, per_commune
from gis_patrimoine.analysis.svg import territory_frame

SHEETS = {"staff": "Personnel", "equipment": "Matériel", "depot_cost": "Centres techniques", "contract": "Contrats",
          "purchase": "Achats"}  # fmt: skip


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "—" if value is None else format(value, fmt)


def _map(conn: psycopg.Connection, lines: list[dict], size: int = 520) -> str:
    by = {r["commune"]: r for r in lines}
    frame = territory_frame(conn, size)
    if frame is None:
        return ""
    rows = conn.execute(
        "SELECT insee, name, ST_AsGeoJSON(ST_Simplify(geom, 20)), ST_X(ST_PointOnSurface(geom)), "
        "ST_Y(ST_PointOnSurface(geom)) FROM patrimoine.commune"
    ).fetchall()
    values = [r["per_inhabitant_eur"] for r in lines if r["per_inhabitant_eur"] is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    out = [
        frame.open(
            "spending per inhabitant",
            '<defs><pattern id="missing" width="6" height="6" patternUnits="userSpaceOnUse">'
            '<path d="M0,6 L6,0" stroke="#868e96" stroke-width="1"/></pattern></defs>',
        )
    ]
    for insee, name, geojson, lx, ly in rows:
        line = by.get(insee, {})
        value = line.get("per_inhabitant_eur")
        d = frame.path(geojson)
        t = 0.0 if value is None else (value - lo) / max(hi - lo, 1e-9)
        fill = "#dee2e6" if value is None else f"rgb(255,{int(235 - 150 * t)},{int(200 - 170 * t)})"
        out.append(f'<path d="{d}" fill="{fill}" stroke="#495057" stroke-width="0.8"><title>{html.escape(name)}: '
                   f"{_num(value, ',.1f')} € per inhabitant</title></path>")  # fmt: skip
        if line.get("missing"):
            out.append(f'<path d="{d}" fill="url(#missing)" stroke="none"/>')
        out.append(
            f'<text {frame.point(lx, ly)} font-size="8" text-anchor="middle">'
            f"{html.escape(name[:16])} {_num(value)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def diagnostic_report(conn: psycopg.Connection, d: dict) -> str:
    e = html.escape
    lines = per_commune(d)
    names = {r["commune"]: r["name"] for r in lines}
    services = "".join(
        f"<tr><td>{e(s['service'])}</td><td>{s['communes_answered']}</td><td>{_num(s['posts'], ',.1f')}</td>"
        f"<td>{_num(s['capacity_h'])}</td><td>{_num(s['workload_h'])}</td><td>{_num(s['own_work_answered_h'])}</td>"
        f"<td>{_num(s['contract_cost_eur'])}</td>"
        f"<td>{e(', '.join(names.get(c, c) for c in s['under_capacity']) or 'none')}</td></tr>"
        for s in d["services"]
    )
    machines = "".join(
        f"<tr><td>{e(m['type'])}</td><td>{m['held']}</td><td>{_num(m['mean_age_years'], '.1f')}</td>"
        f"<td>{_num(m['machine_days_needed'])}</td></tr>"
        for m in d["machines"]
    )
    spending = "".join(
        f"<tr><td>{e(s['name'])}</td><td>{_num(s['staff_eur'])}</td><td>{_num(s['machines_eur'])}</td>"
        f"<td>{_num(s['depots_eur'])}</td><td>{_num(s['contracts_eur'])}</td><td>{_num(s['purchases_eur'])}</td>"
        f"<td>{_num(s['total_eur'])}</td><td>{_num(s['per_inhabitant_eur'], ',.1f')}</td></tr>"
        for s in d["spending"]
    )
    prices = "".join(
        f"<tr><td>{e(p['item'])}</td><td>{e(p['unit'])}</td><td>{p['communes']}</td>"
        f"<td>{p['min_price_eur']:,.2f}</td><td>{p['median_price_eur']:,.2f}</td><td>{p['max_price_eur']:,.2f}</td>"
        f"<td>{e(p['pays_most'])}</td><td>{p['saving_at_lowest_eur']:,.0f}</td></tr>"
        for p in d["purchases"]
    )
    missing = (
        "".join(
            f"<tr><td>{e(r['name'])}</td><td>{e(', '.join(SHEETS[t] for t in r['missing']))}</td></tr>"
            for r in lines
            if r["missing"]
        )
        or "<tr><td colspan='2'>every commune answered every sheet</td></tr>"
    )
    assumptions = "".join(
        f"<tr><td>{e(k)}</td><td>{e(json.dumps(v, ensure_ascii=False))}</td></tr>" for k, v in d["assumptions"].items()
    )
    agglo = next((s for s in d["spending"] if s["commune"] == AGGLO), None)
    return (
        "<!doctype html><html lang='fr'><head><meta charset='utf-8'><title>Diagnostic partagé</title><style>"
        "body{font:13px system-ui,sans-serif;margin:24px;max-width:1050px;color:#212529}"
        "table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ced4da;padding:3px 6px;"
        "text-align:right}td:first-child,th:first-child{text-align:left}th{background:#e9ecef}"
        "h1{font-size:20px}h2{font-size:15px;margin-top:20px}</style></head><body>"
        "<h1>Shared diagnostic of the technical services</h1>"
        "<p>What the communes have (staff, machines, depots, contracts, purchases: their answers to the "
        "questionnaire) against the work their inventory needs. «—»: not answered, never zero.</p>"
        f"<h2>Spending per inhabitant and per year</h2>{_map(conn, lines)}"
        "<h2>Per service: capacity against the work the inventory needs</h2><table><tr><th>service</th>"
        "<th>communes answered</th><th>posts (FTE)</th><th>posts' productive h</th><th>work needed h</th>"
        f"<th>own work h (answered)</th><th>contracts €/yr</th><th>under capacity</th></tr>{services}</table>"
        "<h2>Machines held against machine-days needed</h2><table><tr><th>type</th><th>held</th>"
        f"<th>mean age (years)</th><th>machine-days a year</th></tr>{machines}</table>"
        "<h2>Spending a year</h2><table><tr><th>commune</th><th>staff €</th><th>machines €</th><th>depots €</th>"
        f"<th>contracts €</th><th>purchases €</th><th>total €</th><th>€/inhabitant</th></tr>{spending}</table>"
        + (f"<p>The agglomération's own means: {_num(agglo['total_eur'])} € a year known.</p>" if agglo else "")
        + "<h2>The same item, unit prices side by side</h2><table><tr><th>item</th><th>unit</th><th>communes</th>"
        "<th>lowest €</th><th>median €</th><th>highest €</th><th>pays the most</th>"
        f"<th>saving at the lowest price €/yr</th></tr>{prices}</table>"
        f"<h2>Sheets not answered</h2><table><tr><th>commune</th><th>sheets</th></tr>{missing}</table>"
        f"<h2>Assumptions</h2><table>{assumptions}</table></body></html>"
    )
