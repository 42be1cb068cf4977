"""`f=html`: every JSON resource also as a plain, readable page (links, properties, features as tables)."""

from __future__ import annotations

import json

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, select_autoescape

_env = Environment(autoescape=select_autoescape(default=True))
_TEMPLATE = _env.from_string("""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{{ title }} – gis-patrimoine</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2rem .5rem;font-size:.9rem;text-align:left}code{font-size:.85rem}</style>
</head><body>
<p><a href="{{ base }}/?f=html">gis-patrimoine</a> · <a href="{{ base }}/collections?f=html">collections</a> ·
<a href="{{ base }}/map">map</a> · <a href="{{ base }}/docs">API</a></p>
<h1>{{ title }}</h1>
{% if body.description %}<p>{{ body.description }}</p>{% endif %}
{% if body.links %}<ul>{% for l in body.links %}<li><a href="{{ l.href }}">{{ l.title or l.rel }}</a>
 <small>({{ l.rel }})</small></li>{% endfor %}</ul>{% endif %}
{% if body.collections %}<table><tr><th>id</th><th>title</th><th>description</th></tr>
{% for c in body.collections %}<tr><td><a href="{{ base }}/collections/{{ c.id }}?f=html">{{ c.id }}</a></td>
<td>{{ c.title }}</td><td>{{ c.description }}</td></tr>{% endfor %}</table>{% endif %}
{% if body.features %}<p>{{ body.features|length }} features{% if body.numberMatched is defined %} of
 {{ body.numberMatched }}{% endif %}</p>
<table><tr><th>id</th>{% for k in keys %}<th>{{ k }}</th>{% endfor %}</tr>
{% for f in body.features %}<tr><td>{{ f.id }}</td>{% for k in keys %}<td>{{ f.properties[k] }}</td>{% endfor %}
</tr>{% endfor %}</table>{% elif body.properties %}<table>{% for k, v in body.properties.items() %}
<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
{% else %}<pre><code>{{ dump }}</code></pre>{% endif %}
</body></html>""")


def wants_html(request: Request) -> bool:
    f = request.query_params.get("f")
    if f is not None:
        if f not in ("json", "html", "geojson"):
            raise HTTPException(400, f"f: {f!r} is not available; use json or html")
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


def render_html(title: str, body: dict, request: Request) -> HTMLResponse:
    features = body.get("features") or []
    keys = list(dict.fromkeys(k for f in features[:50] for k in (f.get("properties") or {})))
    return HTMLResponse(
        _TEMPLATE.render(
            title=title,
            body=body,
            keys=keys,
            base=str(request.base_url).rstrip("/"),
            dump=json.dumps(body, indent=2, ensure_ascii=False, default=str),
        )
    )
