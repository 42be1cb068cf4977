"""Stored round plans as files a crew or a GIS can use: GeoJSON, GPX (for satnavs) and a printable sheet.

The sheet is self-contained HTML (no basemap, no script): a map drawn as SVG from the round, its stops and
the roads around it, then the ordered list of stops with arrival times. It prints on one A4 page per round.
"""

from __future__ import annotations

import html
import json
from xml.sax.saxutils import escape

import psycopg

from gis_patrimoine import __version__


class NoSuchPlan(LookupError):
    """A plan (or a round of it) that does not exist."""


def plan_summary(conn: psycopg.Connection, plan_id: int) -> dict:
    row = conn.execute(
        "SELECT id, service, activity, label, communes, routing, parameters, summary, created_at, created_by "
        "FROM analysis.round_plan WHERE id = %s",
        (plan_id,),
    ).fetchone()
    if row is None:
        raise NoSuchPlan(f"no round plan {plan_id}; list them at /analysis/rounds")
    keys = ["id", "service", "activity", "label", "communes", "routing", "parameters", "summary", "created_at"]
    out = dict(zip(keys, row[:9], strict=True))
    out["created_at"] = row[8].isoformat()
    out["created_by"] = row[9]
    out["rounds"] = [
        dict(
            zip(
                [
                    "number",
                    "label",
                    "depot_id",
                    "depot_name",
                    "day",
                    "crew",
                    "stops",
                    "assets",
                    "km_travel",
                    "km_work",
                    "hours_on_site",
                    "hours_travel",
                    "communes",
                ],
                r,
                strict=True,
            )
        )
        for r in conn.execute(
            "SELECT number, label, depot_id, depot_name, day, crew, stops, assets, round(km_travel::numeric, 3)::float,"
            " round(km_work::numeric, 3)::float, round(hours_on_site::numeric, 3)::float, "
            "round(hours_travel::numeric, 3)::float, communes FROM analysis.round WHERE plan_id = %s ORDER BY number",
            (plan_id,),
        )
    ]
    return out


def geojson(conn: psycopg.Connection, plan_id: int) -> dict:
    """Rounds (lines) and stops (points) of a plan, in WGS84 (RFC 7946)."""
    plan_summary(conn, plan_id)
    features = []
    for number, props, geom in conn.execute(
        "SELECT number, to_jsonb(r) - 'geom' - 'id', ST_AsGeoJSON(ST_Transform(geom, 4326), 7) "
        "FROM analysis.round r WHERE plan_id = %s ORDER BY number",
        (plan_id,),
    ):
        features.append(
            {
                "type": "Feature",
                "id": f"round-{number}",
                "properties": {"kind": "round", **props},
                "geometry": json.loads(geom),
            }
        )
    for rnd, seq, props, geom in conn.execute(
        "SELECT round_number, seq, to_jsonb(s) - 'geom' - 'id', ST_AsGeoJSON(ST_Transform(geom, 4326), 7) "
        "FROM analysis.round_stop s WHERE plan_id = %s ORDER BY round_number, seq",
        (plan_id,),
    ):
        features.append(
            {
                "type": "Feature",
                "id": f"stop-{rnd}-{seq}",
                "properties": {"kind": "stop", **props},
                "geometry": json.loads(geom),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def gpx(conn: psycopg.Connection, plan_id: int, number: int | None = None) -> str:
    """GPX 1.1: a track per round (its line along the roads), a waypoint per stop, numbered in order."""
    summary = plan_summary(conn, plan_id)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<gpx version="1.1" creator="gis-patrimoine {__version__}" xmlns="http://www.topografix.com/GPX/1/1">',
        f"<metadata><name>{escape(summary['label'])}</name></metadata>",
    ]
    args = (plan_id, number, number)
    for rnd, seq, label, lon, lat in conn.execute(
        "SELECT round_number, seq, label, ST_X(g), ST_Y(g) FROM (SELECT *, ST_Transform(geom, 4326) g "
        "FROM analysis.round_stop WHERE plan_id = %s AND (%s::int IS NULL OR round_number = %s)) s "
        "ORDER BY round_number, seq",
        args,
    ):
        parts.append(f'<wpt lat="{lat:.7f}" lon="{lon:.7f}"><name>{rnd}.{seq}</name><desc>{escape(label)}</desc></wpt>')
    for rnd, label, lines in conn.execute(
        "SELECT number, label, ST_AsGeoJSON(ST_Transform(geom, 4326), 7) FROM analysis.round "
        "WHERE plan_id = %s AND (%s::int IS NULL OR number = %s) ORDER BY number",
        args,
    ):
        parts.append(f"<trk><name>{rnd} — {escape(label)}</name>")
        for line in json.loads(lines)["coordinates"]:
            parts.append("<trkseg>" + "".join(f'<trkpt lat="{y:.7f}" lon="{x:.7f}"/>' for x, y in line) + "</trkseg>")
        parts.append("</trk>")
    if number is not None and len(parts) == 3:
        raise NoSuchPlan(f"plan {plan_id} has no round {number}")
    parts.append("</gpx>")
    return "\n".join(parts)


def _svg(conn: psycopg.Connection, plan_id: int, number: int, size: int = 680) -> str:
    """The round over the roads of its box, as SVG in the storage CRS (metres, north up)."""
    box = conn.execute(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ("
        "SELECT ST_Expand(ST_Extent(geom)::geometry, 150) e FROM analysis.round WHERE plan_id = %s AND number = %s) s",
        (plan_id, number),
    ).fetchone()
    x0, y0, x1, y1 = box
    scale = size / max(x1 - x0, y1 - y0)
    width, height = (x1 - x0) * scale, (y1 - y0) * scale

    def path(geojson_text: str) -> str:
        geom = json.loads(geojson_text)
        lines = geom["coordinates"] if geom["type"] == "MultiLineString" else [geom["coordinates"]]
        return " ".join(
            "M" + " L".join(f"{(x - x0) * scale:.1f},{(y1 - y) * scale:.1f}" for x, y in line) for line in lines
        )

    roads = conn.execute(
        "SELECT ST_AsGeoJSON(ST_Simplify(geom, 2)) FROM patrimoine.road "
        "WHERE geom && ST_MakeEnvelope(%s, %s, %s, %s, ST_SRID(geom)) LIMIT 20000",
        (x0, y0, x1, y1),
    ).fetchall()
    route = conn.execute(
        "SELECT ST_AsGeoJSON(geom) FROM analysis.round WHERE plan_id = %s AND number = %s", (plan_id, number)
    ).fetchone()[0]
    stops = conn.execute(
        "SELECT seq, ST_X(geom), ST_Y(geom) FROM analysis.round_stop WHERE plan_id = %s AND round_number = %s "
        "ORDER BY seq",
        (plan_id, number),
    ).fetchall()
    depot = conn.execute(
        "SELECT ST_X(d.geom), ST_Y(d.geom) FROM analysis.round r JOIN patrimoine.depot d ON d.id = r.depot_id "
        "WHERE r.plan_id = %s AND r.number = %s",
        (plan_id, number),
    ).fetchone()
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="map of round {number}">',
        '<rect width="100%" height="100%" fill="#f8f9fa"/>',
    ]
    out += [f'<path d="{path(r[0])}" fill="none" stroke="#adb5bd" stroke-width="1"/>' for r in roads]
    out.append(f'<path d="{path(route)}" fill="none" stroke="#c2255c" stroke-width="3" stroke-opacity="0.8"/>')
    for seq, x, y in stops:
        cx, cy = (x - x0) * scale, (y1 - y) * scale
        out.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="7" fill="#fff" stroke="#c2255c" stroke-width="1.5"/>'
            f'<text x="{cx:.1f}" y="{cy + 3:.1f}" font-size="8" text-anchor="middle">{seq}</text>'
        )
    if depot:
        cx, cy = (depot[0] - x0) * scale, (y1 - depot[1]) * scale
        out.append(f'<rect x="{cx - 7:.1f}" y="{cy - 7:.1f}" width="14" height="14" fill="#1864ab"/>')
    metres = 10 ** int(f"{(x1 - x0) / 4:e}".split("e")[1])
    out.append(
        f'<line x1="10" y1="{height - 12:.0f}" x2="{10 + metres * scale:.1f}" y2="{height - 12:.0f}" '
        f'stroke="#212529" stroke-width="2"/><text x="10" y="{height - 16:.0f}" font-size="10">'
        f"{metres:g} m</text>"
    )
    out.append("</svg>")
    return "".join(out)


def sheet(conn: psycopg.Connection, plan_id: int, number: int | None = None) -> str:
    """A printable round sheet: one page per round (or only round `number`), map and ordered stops."""
    summary = plan_summary(conn, plan_id)
    rounds = [r for r in summary["rounds"] if number is None or r["number"] == number]
    if not rounds:
        raise NoSuchPlan(f"plan {plan_id} has no round {number}")
    e = html.escape
    pages = []
    for r in rounds:
        stops = conn.execute(
            "SELECT seq, label, layer, asset_ids, commune_insee, arrival_min, on_site_min FROM analysis.round_stop "
            "WHERE plan_id = %s AND round_number = %s ORDER BY seq",
            (plan_id, r["number"]),
        ).fetchall()
        rows = "".join(
            f"<tr><td>{seq}</td><td>{int(arr // 60):d} h {int(arr % 60):02d}</td><td>{e(label)}</td>"
            f"<td>{e(commune)}</td><td>{e(', '.join(map(str, ids[:12])))}{' …' if len(ids) > 12 else ''}</td>"
            f"<td>{site:.0f}</td><td>☐</td></tr>"
            for seq, label, _layer, ids, commune, arr, site in stops
        )
        pages.append(
            f"<section><h1>{e(summary['label'])} — round {r['number']}</h1>"
            f"<p><b>{e(r['depot_name'])}</b> · day {r['day']}, crew {r['crew']} · {r['stops']} stops, "
            f"{r['assets']} assets · {r['km_travel'] + r['km_work']:.1f} km ({r['km_work']:.1f} km working) · "
            f"{r['hours_on_site'] + r['hours_travel']:.1f} h ({r['hours_travel']:.1f} h travelling)</p>"
            f"{_svg(conn, plan_id, r['number'])}"
            "<table><thead><tr><th>#</th><th>arrival</th><th>stop</th><th>commune</th><th>assets (ids)</th>"
            f"<th>min on site</th><th>done</th></tr></thead><tbody>{rows}</tbody></table></section>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{e(summary['label'])}</title><style>"
        "body{font:12px system-ui,sans-serif;margin:16px;color:#212529}h1{font-size:16px;margin:0 0 4px}"
        "section{page-break-after:always;margin-bottom:32px}table{border-collapse:collapse;width:100%;margin-top:8px}"
        "td,th{border:1px solid #ced4da;padding:3px 5px;text-align:left}th{background:#e9ecef}"
        "@media print{body{margin:0}}</style></head><body>" + "".join(pages) + "</body></html>"
    )
