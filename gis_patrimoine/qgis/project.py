"""The QGIS project: communes as the base, the inventory grouped by service, the analysis results, the value
lists (for the edit forms), and the running server's OGC API and vector tiles as an alternative source.

Stored in the database (`qgis_projects`, "Project > Open From > PostgreSQL") with explicit connection
parameters, and as a .qgz whose layers use the `pg_service.conf` entry written beside it. PyQGIS does the
writing (project_script.py under Debian's python3, where python3-qgis is installed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from gis_patrimoine.catalogue import Catalogue, get_catalogue
from gis_patrimoine.db.connection import connection_params

QGIS_PYTHON = "/usr/bin/python3"
PROJECT_NAME = "gis-patrimoine"
SERVICE = "gis-patrimoine"
SERVICE_GROUPS = {
    "lighting": "Éclairage public",
    "green_spaces": "Espaces verts",
    "roads": "Voirie",
    "buildings": "Bâtiments",
}


class QgisMissing(RuntimeError):
    """PyQGIS is not installed (Debian's python3-qgis)."""


def pg_connection(url: str) -> str:
    """QGIS data-source connection text for the database of `url`."""
    p = connection_params(url)
    parts = [
        f"dbname='{p['dbname']}'",
        f"host={p['host']}",
        f"port={p['port']}",
        f"user='{p['user']}'",
        "sslmode=disable",
    ]
    if "password" in p:
        parts.append(f"password='{p['password']}'")
    return " ".join(parts)


def storage_uri(url: str, name: str = PROJECT_NAME) -> str:
    """The `postgresql://` URI QGIS stores projects under (public.qgis_projects)."""
    p = connection_params(url)
    auth = quote(p["user"]) + (f":{quote(p['password'])}" if "password" in p else "")
    return (
        f"postgresql://{auth}@{p['host']}:{p['port']}?sslmode=disable"
        f"&dbname={quote(p['dbname'])}&schema=public&project={quote(name)}"
    )


def service_entry(url: str) -> str:
    p = connection_params(url)
    lines = [
        f"[{SERVICE}]",
        f"host={p['host']}",
        f"port={p['port']}",
        f"dbname={p['dbname']}",
        f"user={p['user']}",
        "sslmode=disable",
    ]
    return "\n".join(lines) + "\n"


def spec(url: str, srid: int, api_url: str | None, catalogue: Catalogue | None = None) -> dict:
    catalogue = catalogue or get_catalogue()
    groups: dict[str, dict] = {"base": {"name": "Communes", "layers": []}}
    for service, title in SERVICE_GROUPS.items():
        groups[service] = {"name": title, "layers": []}
    groups["depots"] = {"name": "Centres techniques", "layers": []}
    groups["results"] = {"name": "Analyses (tournées, secteurs, mutualisation)", "layers": [], "expanded": False}
    groups["lists"] = {"name": "Listes de valeurs", "layers": [], "expanded": False}
    groups["diagnostic"] = {
        "name": "Diagnostic partagé (personnel, matériel, contrats, achats)",
        "expanded": False,
        "layers": [
            {"kind": "postgres", "schema": "patrimoine", "table": t.name, "key": "id", "title": t.title.fr,
             "id": f"gp_{t.name}"}
            for t in catalogue.tables.values()
        ],
    }  # fmt: skip
    from gis_patrimoine.collection.style import draw_order

    drawn = draw_order(catalogue)  # QGIS lists layers top first: points above lines above areas
    ordered = sorted(catalogue.layers.values(), key=lambda la: -drawn.index(la.name) if la.name in drawn else 0)
    for layer in ordered:
        item = {
            "kind": "postgres",
            "schema": layer.schema,
            "table": layer.table,
            "geom": "geom",
            "geometry": layer.geometry,
            "key": layer.key,
            "title": layer.title.fr,
            "id": f"gp_{layer.name}",
        }
        if layer.kind == "reference":
            groups["base"]["layers"].append(item)
        elif layer.kind == "result":
            groups["results"]["layers"].append({**item, "visible": False})
        elif layer.maintenance:
            groups[layer.maintenance.service]["layers"].append(item)
        else:
            groups["depots"]["layers"].append(item)
    for name, codelist in catalogue.codelists.items():
        groups["lists"]["layers"].append(
            {
                "kind": "postgres",
                "schema": "patrimoine_vl",
                "table": name,
                "key": "code",
                "title": codelist.title.fr,
                "id": f"vl_{name}",
            }
        )
    ordered = ["depots", "lighting", "roads", "green_spaces", "buildings", "base", "diagnostic", "results", "lists"]
    out = [groups[k] for k in ordered]
    if api_url:
        server = {"name": "Serveur gis-patrimoine (OGC API, tuiles)", "expanded": False, "layers": []}
        server["layers"].append(
            {
                "kind": "vectortile",
                "title": "Tuiles vectorielles",
                "url": f"{api_url}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}",
                "visible": False,
            }
        )
        for layer in catalogue.layers.values():
            if layer.kind != "result":
                server["layers"].append(
                    {
                        "kind": "oapif",
                        "title": f"{layer.title.fr} (OGC API)",
                        "url": api_url,
                        "typename": layer.collection,
                        "visible": False,
                    }
                )
        out.append(server)
    return {"title": "gis-patrimoine — patrimoine des communes", "srid": srid, "groups": out}


def write_project(url: str, srid: int, qgz: Path | None = None, api_url: str | None = None) -> dict:
    """Store the project in the database (and as a .qgz with its pg_service.conf); returns PyQGIS's report."""
    if not Path(QGIS_PYTHON).exists() or shutil.which(QGIS_PYTHON) is None:
        raise QgisMissing("PyQGIS is needed: apt-get install python3-qgis (make setup installs it)")
    body = spec(url, srid, api_url)
    targets = [{"path": storage_uri(url), "connection": pg_connection(url)}]
    if qgz is not None:
        qgz.parent.mkdir(parents=True, exist_ok=True)
        (qgz.parent / "pg_service.conf").write_text(service_entry(url), encoding="utf-8")
        targets.append({"path": str(qgz), "connection": f"service='{SERVICE}'"})
    result = subprocess.run(
        [QGIS_PYTHON, str(Path(__file__).with_name("project_script.py"))],
        input=json.dumps({**body, "targets": targets}),
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "QT_QPA_PLATFORM": "offscreen",
            "PATH": "/usr/bin:/bin",
            "HOME": str(Path.home()),
            "PGSERVICEFILE": str(qgz.parent / "pg_service.conf") if qgz else "",
        },
    )
    if result.returncode != 0:
        raise RuntimeError(f"PyQGIS failed: {result.stderr.strip().splitlines()[-1] if result.stderr else ''}")
    return json.loads(result.stdout.strip().splitlines()[-1])
