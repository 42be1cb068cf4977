"""A MapLibre style.json from the catalogue's styles: code-list colours, widths, zoom ranges.

No online basemap: the communes are the base layer. No text labels either, since they need a glyph server;
feature names are in the map page's popups.
"""

from __future__ import annotations

from gis_patrimoine.catalogue import Catalogue, Layer

RANK = {"fill": 1, "line": 2, "circle": 3}
# analysis results, drawn over the inventory, off until switched on in the map page's layer list
OVERLAYS = (
    "workload_hex", "scenario_commune", "service_zone", "depot_area", "round", "round_stop", "opportunity",
    "network_issue", "diagnostic_commune", "arrangement_commune",
)  # fmt: skip
FALLBACK = "#868e96"


def _colour(catalogue: Catalogue, layer: Layer) -> object:
    style = layer.style
    if not style.by:
        return style.colour or FALLBACK
    codelist = catalogue.codelists[layer.attribute(style.by).codelist]
    pairs = [item for v in codelist.values if v.colour for item in (v.code, v.colour)]
    return ["match", ["get", style.by], *pairs, style.colour or FALLBACK] if pairs else style.colour or FALLBACK


def draw_order(catalogue: Catalogue) -> list[str]:
    """The inventory's layers bottom to top: the communes, then areas, lines and points, each by the zoom they
    appear at (depots under lights, gullies on top). A layer added to the catalogue finds its place."""
    inventory = [la for la in catalogue.layers.values() if la.kind != "result"]
    order = sorted(inventory, key=lambda la: (la.name != "commune", RANK[la.style.type], la.tiles.minzoom, la.name))
    return [la.name for la in order]


def style_json(catalogue: Catalogue, tilejson_url: str, title: str = "gis-patrimoine") -> dict:
    layers: list[dict] = [{"id": "background", "type": "background", "paint": {"background-color": "#e9ecef"}}]
    for name in (*draw_order(catalogue), *(o for o in OVERLAYS if o in catalogue.layers)):
        layer = catalogue.layers[name]
        style = layer.style
        base = {
            "source": "patrimoine",
            "source-layer": layer.collection,
            "minzoom": style.minzoom if style.minzoom is not None else layer.tiles.minzoom,
            "metadata": {"gis-patrimoine:collection": layer.collection, "title": layer.title.fr},
        }
        colour = _colour(catalogue, layer)
        if style.type == "fill":
            layers.append(
                {
                    **base,
                    "id": layer.collection,
                    "type": "fill",
                    "paint": {"fill-color": colour, "fill-opacity": style.opacity},
                }
            )
            if style.outline:
                layers.append(
                    {
                        **base,
                        "id": f"{layer.collection}-outline",
                        "type": "line",
                        "paint": {"line-color": style.outline, "line-width": style.width, "line-opacity": 0.8},
                    }
                )
        elif style.type == "line":
            layers.append(
                {
                    **base,
                    "id": layer.collection,
                    "type": "line",
                    "layout": {"line-cap": "round", "line-join": "round"},
                    "paint": {
                        "line-color": colour,
                        "line-width": [
                            "interpolate",
                            ["linear"],
                            ["zoom"],
                            10,
                            style.width * 0.4,
                            16,
                            style.width * 2.5,
                        ],
                    },
                }
            )
        else:
            layers.append(
                {
                    **base,
                    "id": layer.collection,
                    "type": "circle",
                    "paint": {
                        "circle-color": colour,
                        "circle-radius": [
                            "interpolate",
                            ["linear"],
                            ["zoom"],
                            12,
                            style.radius * 0.6,
                            18,
                            style.radius * 2,
                        ],
                        "circle-stroke-color": style.outline or "#ffffff",
                        "circle-stroke-width": 1,
                    },
                }
            )
    overlays = {catalogue.layers[o].collection for o in OVERLAYS if o in catalogue.layers}
    for entry in layers:
        if entry.get("source-layer") in overlays:
            entry["layout"] = {**entry.get("layout", {}), "visibility": "none"}
            entry["metadata"]["gis-patrimoine:overlay"] = True
    return {
        "version": 8,
        "name": title,
        "sources": {"patrimoine": {"type": "vector", "url": tilejson_url}},
        "layers": layers,
    }
