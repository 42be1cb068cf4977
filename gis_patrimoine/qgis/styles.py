"""Default QGIS styles from the catalogue, stored in `public.layer_styles` where QGIS looks for them.

For every layer: a renderer (categorised by the code list the catalogue styles it by, with the code lists'
colours and French labels, or a single symbol), labels with their scale range, scale-dependent visibility from
the tiles' minimum zoom, and an edit form — value-relation widgets on the value-list tables, identifiers and
audit fields read-only, French aliases. An SLD with the same classes goes alongside for other clients.
QGIS matches rows on the database name, so `gis-patrimoine qgis styles` (also run by `db init`) writes them
for the database it is pointed at.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

import psycopg

from gis_patrimoine.catalogue import Catalogue, DiagnosticTable, Layer, get_catalogue

STYLE_NAME = "gis-patrimoine"
FALLBACK = "#868e96"
SCALE_Z0 = 559_082_264  # map scale at zoom 0 (Web Mercator, 256 px tiles at 0.28 mm per pixel)


def zoom_to_scale(zoom: int) -> int:
    return int(SCALE_Z0 / 2**zoom)


def _rgba(hex_colour: str, alpha: float = 1.0) -> str:
    h = hex_colour.lstrip("#")
    return f"{int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{round(alpha * 255)}"


def _props(props: dict[str, str]) -> str:
    return "".join(f"<prop k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in props.items())


def _symbol(layer: Layer, name: str, colour: str) -> str:
    s = layer.style
    outline = s.outline or colour
    if layer.geometry.endswith("Point"):
        kind, cls = "marker", "SimpleMarker"
        props = {
            "name": "circle",
            "color": _rgba(colour, s.opacity),
            "outline_color": _rgba(outline),
            "outline_width": "0.2",
            "size": f"{max(1.0, s.radius * 0.6):.1f}",
            "size_unit": "MM",
        }
    elif layer.geometry.endswith("LineString"):
        kind, cls = "line", "SimpleLine"
        props = {
            "line_color": _rgba(colour, s.opacity),
            "line_width": f"{max(0.2, s.width * 0.3):.2f}",
            "line_width_unit": "MM",
            "capstyle": "round",
            "joinstyle": "round",
        }
    else:
        kind, cls = "fill", "SimpleFill"
        props = {
            "color": _rgba(colour, s.opacity),
            "style": "solid",
            "outline_color": _rgba(outline),
            "outline_width": "0.26",
            "outline_style": "solid",
        }
    return (
        f'<symbol type="{kind}" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
        f'<layer class="{cls}" enabled="1" locked="0" pass="0">{_props(props)}</layer></symbol>'
    )


def _categories(catalogue: Catalogue, layer: Layer) -> list[tuple[str, str, str]]:
    """(code, French label, colour) of the code list the layer is styled by."""
    if not layer.style.by:
        return []
    codelist = catalogue.codelists[layer.attribute(layer.style.by).codelist]
    return [(v.code, v.fr, v.colour or layer.style.colour or FALLBACK) for v in codelist.values]


def _renderer(catalogue: Catalogue, layer: Layer) -> str:
    cats = _categories(catalogue, layer)
    if not cats:
        return (
            f'<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0"><symbols>'
            f"{_symbol(layer, '0', layer.style.colour or FALLBACK)}</symbols></renderer-v2>"
        )
    categories = "".join(
        f'<category render="true" symbol="{k}" value={quoteattr(code)} label={quoteattr(label)}/>'
        for k, (code, label, _) in enumerate(cats)
    )
    symbols = "".join(_symbol(layer, str(k), colour) for k, (_, _, colour) in enumerate(cats))
    return (
        f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(layer.style.by)} symbollevels="0" '
        f'enableorderby="0" forceraster="0"><categories>{categories}</categories><symbols>{symbols}</symbols>'
        "</renderer-v2>"
    )


def _labeling(layer: Layer) -> str:
    s = layer.style
    if not s.label:
        return ""
    scale = zoom_to_scale(s.label_minzoom) if s.label_minzoom is not None else 0
    placement = "2" if layer.geometry.endswith("LineString") else "0"
    return (
        '<labeling type="simple"><settings calloutType="simple">'
        f'<text-style fieldName={quoteattr(s.label)} isExpression="0" fontSize="8" fontSizeUnit="Point" '
        'textColor="33,37,41,255" fontFamily="Sans Serif" namedStyle="Regular" textOpacity="1">'
        '<text-buffer bufferDraw="1" bufferSize="0.8" bufferSizeUnits="MM" bufferColor="255,255,255,255"/>'
        "</text-style>"
        f'<placement placement="{placement}" dist="1" distUnits="MM"/>'
        f'<rendering scaleVisibility="{1 if scale else 0}" scaleMin="0" scaleMax="{scale}" obstacle="1"/>'
        "</settings></labeling>"
    )


def _option(name: str, value: object) -> str:
    kind = "bool" if isinstance(value, bool) else "QString"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f'<Option name={quoteattr(name)} value={quoteattr(text)} type="{kind}"/>'


def _relation(conninfo: str, schema: str, table: str, key: str, value: str, layer_id: str, allow_null: bool) -> str:
    source = f'{conninfo} key=\'{key}\' table="{schema}"."{table}"'
    config = "".join(
        _option(k, v)
        for k, v in {
            "AllowMulti": False,
            "AllowNull": allow_null,
            "Key": key,
            "Value": value,
            "Layer": layer_id,
            "LayerName": table,
            "LayerProviderName": "postgres",
            "LayerSource": source,
            "OrderByValue": True,
            "UseCompleter": False,
        }.items()
    )
    return f'<editWidget type="ValueRelation"><config><Option type="Map">{config}</Option></config>'


def _widgets(layer: Layer | DiagnosticTable, conninfo: str) -> str:
    fields = []
    for a in layer.attributes:
        if a.type == "commune" and isinstance(layer, DiagnosticTable):  # empty: the agglomération
            widget = _relation(conninfo, "patrimoine", "commune", "insee", "name", "gp_commune", True)
        elif a.type == "reference" and a.references == "depot":
            widget = _relation(conninfo, "patrimoine", "depot", "id", "name", "gp_depot", not a.required)
        elif a.type in ("code", "codes"):
            source = f'{conninfo} key=\'code\' table="patrimoine_vl"."{a.codelist}"'
            config = "".join(
                _option(k, v)
                for k, v in {
                    "AllowMulti": a.type == "codes",
                    "AllowNull": not a.required,
                    "Key": "code",
                    "Value": "fr",
                    "Layer": f"vl_{a.codelist}",
                    "LayerName": a.codelist,
                    "LayerProviderName": "postgres",
                    "LayerSource": source,
                    "OrderByValue": False,
                    "UseCompleter": False,
                }.items()
            )
            widget = f'<editWidget type="ValueRelation"><config><Option type="Map">{config}</Option></config>'
        elif a.form.read_only or a.system or a.generated:
            widget = '<editWidget type="TextEdit"><config><Option/></config>'
        else:
            continue
        fields.append(f'<field name={quoteattr(a.name)} configurationFlags="None">{widget}</editWidget></field>')
    return f"<fieldConfiguration>{''.join(fields)}</fieldConfiguration>"


def qml(layer: Layer, conninfo: str, catalogue: Catalogue | None = None) -> str:
    """The layer's default QGIS style (QML)."""
    catalogue = catalogue or get_catalogue()
    minzoom = layer.style.minzoom if layer.style.minzoom is not None else layer.tiles.minzoom
    scale = zoom_to_scale(minzoom) if minzoom > 8 else 0
    aliases = "".join(
        f'<alias field={quoteattr(a.name)} index="{k}" name={quoteattr(a.title.fr)}/>'
        for k, a in enumerate(layer.attributes)
    )
    readonly = "".join(
        f'<field name={quoteattr(a.name)} editable="{0 if (a.system or a.generated) else 1}"/>'
        for a in layer.attributes
    )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
        f'<qgis version="3.22.16" styleCategories="AllStyleCategories" '
        f'hasScaleBasedVisibilityFlag="{1 if scale else 0}" minScale="{scale}" maxScale="0">'
        f"{_renderer(catalogue, layer)}{_labeling(layer)}{_widgets(layer, conninfo)}"
        f"<aliases>{aliases}</aliases><editable>{readonly}</editable>"
        f"<layerOpacity>1</layerOpacity></qgis>"
    )


AUDIT = ("id", "created_at", "updated_at", "updated_by")


def qml_table(table: DiagnosticTable, conninfo: str) -> str:
    """The default form of a table of the diagnostic: value relations, French aliases, audit read-only."""
    names = [*(a.name for a in table.attributes), *AUDIT]
    titles = {a.name: a.title.fr for a in table.attributes} | {
        "id": "Identifiant", "created_at": "Créé le", "updated_at": "Modifié le", "updated_by": "Modifié par"
    }  # fmt: skip
    aliases = "".join(
        f'<alias field={quoteattr(n)} index="{k}" name={quoteattr(titles[n])}/>' for k, n in enumerate(names)
    )
    readonly = "".join(f'<field name={quoteattr(n)} editable="{0 if n in AUDIT else 1}"/>' for n in names)
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
        '<qgis version="3.22.16" styleCategories="AllStyleCategories">'
        f"{_widgets(table, conninfo)}<aliases>{aliases}</aliases><editable>{readonly}</editable></qgis>"
    )


def sld(layer: Layer, catalogue: Catalogue | None = None) -> str:
    """The same classes as Styled Layer Descriptor 1.1 (for GeoServer, MapServer, other clients)."""
    catalogue = catalogue or get_catalogue()
    cats = _categories(catalogue, layer) or [(None, layer.title.fr, layer.style.colour or FALLBACK)]
    rules = []
    for code, label, colour in cats:
        filt = (
            f"<ogc:Filter><ogc:PropertyIsEqualTo><ogc:PropertyName>{layer.style.by}</ogc:PropertyName>"
            f"<ogc:Literal>{code}</ogc:Literal></ogc:PropertyIsEqualTo></ogc:Filter>"
            if code is not None
            else ""
        )
        if layer.geometry.endswith("Point"):
            sym = (
                f"<se:PointSymbolizer><se:Graphic><se:Mark><se:WellKnownName>circle</se:WellKnownName><se:Fill>"
                f'<se:SvgParameter name="fill">{colour}</se:SvgParameter></se:Fill></se:Mark>'
                f"<se:Size>{layer.style.radius * 2:g}</se:Size></se:Graphic></se:PointSymbolizer>"
            )
        elif layer.geometry.endswith("LineString"):
            sym = (
                f'<se:LineSymbolizer><se:Stroke><se:SvgParameter name="stroke">{colour}</se:SvgParameter>'
                f'<se:SvgParameter name="stroke-width">{layer.style.width:g}</se:SvgParameter></se:Stroke>'
                "</se:LineSymbolizer>"
            )
        else:
            sym = (
                f'<se:PolygonSymbolizer><se:Fill><se:SvgParameter name="fill">{colour}</se:SvgParameter>'
                f'<se:SvgParameter name="fill-opacity">{layer.style.opacity:g}</se:SvgParameter></se:Fill>'
                f'<se:Stroke><se:SvgParameter name="stroke">{layer.style.outline or colour}</se:SvgParameter>'
                "</se:Stroke></se:PolygonSymbolizer>"
            )
        rules.append(f"<se:Rule><se:Name>{label}</se:Name>{filt}{sym}</se:Rule>")
    return (
        '<StyledLayerDescriptor version="1.1.0" xmlns="http://www.opengis.net/sld" '
        'xmlns:se="http://www.opengis.net/se" xmlns:ogc="http://www.opengis.net/ogc">'
        f"<NamedLayer><se:Name>{layer.collection}</se:Name><UserStyle><se:Name>{STYLE_NAME}</se:Name>"
        f"<se:FeatureTypeStyle>{''.join(rules)}</se:FeatureTypeStyle></UserStyle></NamedLayer>"
        "</StyledLayerDescriptor>"
    )


def write_styles(conn: psycopg.Connection, catalogue: Catalogue | None = None) -> int:
    """Replace this project's default styles in public.layer_styles for the current database."""
    catalogue = catalogue or get_catalogue()
    info = conn.info
    conninfo = f"dbname='{info.dbname}'"
    rows = []
    for layer in catalogue.layers.values():
        rows.append(
            (
                layer.schema,
                layer.table,
                qml(layer, conninfo, catalogue),
                sld(layer, catalogue),
                layer.title.fr,
                "geom",
            )
        )
    for table in catalogue.tables.values():  # no geometry: QGIS looks their style up with no geometry column
        rows.append(("patrimoine", table.name, qml_table(table, conninfo), None, table.title.fr, None))
    current = conn.execute(
        "SELECT f_table_schema, f_table_name, styleqml::text FROM public.layer_styles WHERE stylename = %s "
        "AND f_table_catalog = current_database()",
        (STYLE_NAME,),
    ).fetchall()
    if sorted(current) == sorted((r[0], r[1], r[2]) for r in rows):
        return 0  # up to date: a no-op, as db init must be
    with conn.transaction():
        conn.execute(
            "DELETE FROM public.layer_styles WHERE stylename = %s AND f_table_catalog = current_database()",
            (STYLE_NAME,),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO public.layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                # type NULL: QGIS then matches the style whatever geometry type the layer's URI declares
                "stylename, styleqml, stylesld, useasdefault, description, type) VALUES (current_database(), %s, %s, "
                "%s, %s, %s::xml, %s::xml, true, %s, %s)",
                [
                    (schema, table, geom, STYLE_NAME, q, s, f"Style par défaut — {title}", None)
                    for schema, table, q, s, title, geom in rows
                ],
            )
    return len(rows)
