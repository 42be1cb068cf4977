"""Builds the QGIS project with PyQGIS. Run by Debian's /usr/bin/python3 (where python3-qgis lives), not the
project's venv: it imports only qgis and the standard library, and reads its specification (JSON) on stdin.

Output: the project written to each target (a `postgresql://` URI stores it in qgis_projects; a path writes a
.qgz), then one JSON line on stdout: the layers and whether each is valid.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsProject,
    QgsVectorLayer,
    QgsVectorTileLayer,
)


def build(spec: dict, connection: str) -> tuple[QgsProject, list[dict]]:
    project = QgsProject.instance()
    project.clear()
    project.setTitle(spec["title"])
    project.setCrs(QgsCoordinateReferenceSystem(f"EPSG:{spec['srid']}"))
    root = project.layerTreeRoot()
    report = []
    for group_spec in spec["groups"]:
        group = root.addGroup(group_spec["name"])
        group.setExpanded(group_spec.get("expanded", True))
        for item in group_spec["layers"]:
            if item["kind"] == "postgres":
                geometry = f" type={item['geometry']} srid={spec['srid']} ({item['geom']})" if item.get("geom") else " "
                uri = (
                    f"{connection} key='{item['key']}' checkPrimaryKeyUnicity='0'"
                    f'{geometry} table="{item["schema"]}"."{item["table"]}"'
                )
                if not item.get("geom"):
                    uri = f'{connection} key=\'{item["key"]}\' table="{item["schema"]}"."{item["table"]}"'
                layer = QgsVectorLayer(uri, item["title"], "postgres")
            elif item["kind"] == "oapif":
                layer = QgsVectorLayer(f"url='{item['url']}' typename='{item['typename']}'", item["title"], "OAPIF")
            else:
                layer = QgsVectorTileLayer(f"type=xyz&url={item['url']}&zmin=0&zmax=22", item["title"])
            if item.get("id") and hasattr(layer, "setId"):  # QGIS >= 3.28; before, ids stay QGIS's own
                layer.setId(item["id"])
            project.addMapLayer(layer, False)
            node = group.addLayer(layer)
            node.setItemVisibilityChecked(item.get("visible", True))
            report.append({"title": item["title"], "valid": layer.isValid(), "kind": item["kind"]})
    return project, report


def main() -> None:
    spec = json.load(sys.stdin)
    app = QgsApplication([], False)
    app.initQgis()
    try:
        out = {}
        for target in spec["targets"]:
            project, report = build(spec, target["connection"])
            ok = project.write(target["path"])
            out[target["path"].split("?")[0] if target["path"].startswith("postgresql") else target["path"]] = {
                "written": bool(ok),
                "error": project.error(),
                "layers": report,
            }
        print(json.dumps(out))
    finally:
        app.exitQgis()


if __name__ == "__main__":
    main()
