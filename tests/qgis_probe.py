"""What a QGIS user does, done by real PyQGIS: run by Debian's /usr/bin/python3 from tests/test_qgis.py.

Reads a JSON specification on stdin, prints one JSON line of observations; the test asserts on them.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (
    QgsApplication,
    QgsDataSourceUri,
    QgsGeometry,
    QgsPointXY,
    QgsProject,
    QgsVectorLayer,
    QgsVectorLayerUtils,
    QgsVectorTileLayer,
    QgsWkbTypes,
)


def pg_layer(
    db: dict, schema: str, table: str, key: str, user: str | None = None, geom: str = "geom"
) -> QgsVectorLayer:
    uri = QgsDataSourceUri()
    uri.setConnection(db["host"], str(db["port"]), db["dbname"], user or db["user"], "")
    uri.setDataSource(schema, table, geom, "", key)
    return QgsVectorLayer(uri.uri(False), table, "postgres")


def diagnostic(spec: dict) -> dict:
    """The diagnostic's tables as a QGIS user opens them (no geometry): forms; then the editor changes posts."""
    db, ed = spec["db"], spec["editor"]
    out: dict = {"tables": {}}
    for table in spec["tables"]:
        lyr = pg_layer(db, "patrimoine", table, "id", user=ed["login"], geom="")
        fields = lyr.fields()
        out["tables"][table] = {
            "valid": lyr.isValid(),
            "count": lyr.featureCount(),
            "widgets": {f.name(): lyr.editorWidgetSetup(i).type() for i, f in enumerate(fields)},
            "aliases": {f.name(): lyr.attributeAlias(i) for i, f in enumerate(fields)},
        }
    for label, row in (("own", ed["own_row"]), ("other", ed["other_row"])):
        lyr = pg_layer(db, "patrimoine", "staff", "id", user=ed["login"], geom="")
        lyr.startEditing()
        fid = next(ft.id() for ft in lyr.getFeatures(f"id = {row}"))
        lyr.changeAttributeValue(fid, lyr.fields().indexOf("fte"), 4.5)
        ok = lyr.commitChanges()
        out[label] = {"ok": ok, "errors": " ".join(lyr.commitErrors())}
        if not ok:
            lyr.rollBack()
    return out


def layers(spec: dict) -> list[dict]:
    out = []
    for item in spec["layers"]:
        lyr = pg_layer(spec["db"], item["schema"], item["table"], item["key"])
        fields = lyr.fields()
        widgets = {f.name(): lyr.editorWidgetSetup(i).type() for i, f in enumerate(fields)}
        out.append(
            {
                "table": item["table"],
                "valid": lyr.isValid(),
                "geometry": QgsWkbTypes.displayString(lyr.wkbType()),
                "srid": lyr.crs().postgisSrid(),
                "pk": [fields[i].name() for i in lyr.primaryKeyAttributes()],
                "count": lyr.featureCount(),
                "renderer": lyr.renderer().type() if lyr.renderer() else None,
                "categories": len(lyr.renderer().categories()) if hasattr(lyr.renderer(), "categories") else 0,
                "widgets": widgets,
                "aliases": {f.name(): lyr.attributeAlias(i) for i, f in enumerate(fields)},
                "readonly_id": lyr.editFormConfig().readOnly(fields.indexOf(item["key"])),
                "readonly": sorted(f.name() for i, f in enumerate(fields) if lyr.editFormConfig().readOnly(i)),
                "labels": lyr.labelsEnabled(),
                "label_min_scale": _label_scale(lyr),
                "scale_based": lyr.hasScaleBasedVisibility(),
                "min_scale": lyr.minimumScale(),
                "sld": _sld(spec["db"], item) if item.get("sld") else None,
            }
        )
    return out


def _label_scale(lyr) -> float | None:
    """The most zoomed-out scale at which labels show (QGIS's minimumScale; None: at every scale, or none)."""
    if not lyr.labelsEnabled() or lyr.labeling() is None:
        return None
    settings = lyr.labeling().settings()
    return settings.minimumScale if settings.scaleVisibility else None


def _sld(db: dict, item: dict) -> dict:
    """Load the layer's SLD (as stored in layer_styles) into a fresh layer, as another client would read it."""
    import tempfile

    lyr = pg_layer(db, item["schema"], item["table"], item["key"])
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/{item['table']}.sld"
        with open(path, "w") as f:
            f.write(item["sld"])
        message, ok = lyr.loadSldStyle(path)
    renderer = lyr.renderer()
    rules = renderer.rootRule().children() if renderer.type() == "RuleRenderer" else []
    return {"ok": ok, "message": message, "renderer": renderer.type(), "rules": [r.label() for r in rules]}


def project(spec: dict) -> dict:
    proj = QgsProject.instance()
    ok = proj.read(spec["project_uri"])
    found = list(proj.mapLayers().values())
    tree = [
        {
            "group": g.name(),
            "layers": [n.layer().dataProvider().uri().table() or n.name() for n in g.findLayers()],
            "visible": [n.isVisible() for n in g.findLayers()],
        }
        for g in proj.layerTreeRoot().children()
        if hasattr(g, "findLayers")
    ]
    return {
        "read": ok,
        "layers": len(found),
        "invalid": [lyr.name() for lyr in found if not lyr.isValid()],
        "tree": tree,
    }


def edit(spec: dict) -> dict:
    """As the editor: add, change and delete a light in its commune, then try the same in another."""
    db, ed = spec["db"], spec["editor"]
    out = {}
    for label, commune, xy, existing in (
        ("own", ed["own"], ed["own_xy"], ed["own_light"]),
        ("other", ed["other"], ed["other_xy"], ed["other_light"]),
    ):
        lyr = pg_layer(db, "patrimoine", "street_light", "id", user=ed["login"])
        steps = {}
        # add
        lyr.startEditing()
        fields = lyr.fields()
        values = {"commune_insee": commune, "source": "qgis", "source_id": f"qgis-{label}", "lamp_type": "led"}
        # as digitising does: the provider's defaults (uuid, audit columns) fill what the user leaves empty
        f = QgsVectorLayerUtils.createFeature(
            lyr, QgsGeometry.fromPointXY(QgsPointXY(*xy)), {fields.indexOf(k): v for k, v in values.items()}
        )
        lyr.addFeature(f)
        steps["add"] = lyr.commitChanges()
        steps["add_errors"] = " ".join(lyr.commitErrors())
        if not steps["add"]:
            lyr.rollBack()
        # change an existing light's power
        lyr.startEditing()
        idx = lyr.fields().indexOf("power_w")
        fid = next(ft.id() for ft in lyr.getFeatures(f"id = {existing}"))
        lyr.changeAttributeValue(fid, idx, 77)
        steps["change"] = lyr.commitChanges()
        steps["change_errors"] = " ".join(lyr.commitErrors())
        if not steps["change"]:
            lyr.rollBack()
        # delete it
        lyr.startEditing()
        lyr.deleteFeature(fid)
        steps["delete"] = lyr.commitChanges()
        steps["delete_errors"] = " ".join(lyr.commitErrors())
        if not steps["delete"]:
            lyr.rollBack()
        out[label] = steps
    return out


def server(spec: dict) -> dict:
    url = spec["api"]
    out = {}
    for collection in ("communes", "depots"):
        lyr = QgsVectorLayer(f"url='{url}' typename='{collection}'", collection, "OAPIF")
        out[collection] = {"valid": lyr.isValid(), "count": lyr.featureCount()}
    tiles = QgsVectorTileLayer(f"type=xyz&url={url}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}&zmin=0&zmax=22", "t")
    out["tiles"] = {"valid": tiles.isValid(), "zmax": tiles.sourceMaxZoom()}
    return out


def main() -> None:
    spec = json.load(sys.stdin)
    app = QgsApplication([], False)
    app.initQgis()
    result = {}
    try:
        for step in spec["steps"]:
            steps = {"layers": layers, "project": project, "edit": edit, "server": server, "diagnostic": diagnostic}
            result[step] = steps[step](spec)
    finally:
        print(json.dumps(result))
        app.exitQgis()


if __name__ == "__main__":
    main()
