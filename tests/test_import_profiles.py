"""Source profiles from the catalogue: IGN BD TOPO field names and values (OSM is covered by the Andorra files)."""

from __future__ import annotations

from pathlib import Path

import psycopg

from gis_patrimoine.importer import ImportOptions, import_layer
from tests.importing import LAVAL_X, LAVAL_Y, write_layer
from tests.test_import_broken import laval  # noqa: F401 (fixture)


def test_bdtopo_troncons_de_route(laval: str, tmp_path: Path) -> None:  # noqa: F811
    x, y = LAVAL_X, LAVAL_Y
    lines = [f"LINESTRING Z({x + 300 * i} {y} 61, {x + 300 * i + 200} {y + 10} 62.5)" for i in range(4)]
    path = write_layer(
        tmp_path / "TRONCON_DE_ROUTE.shp",
        lines,
        {
            "ID": ["TRONROUT0000000001", "TRONROUT0000000002", "TRONROUT0000000003", "TRONROUT0000000004"],
            "NATURE": ["Route à 1 chaussée", "Chemin", "Route à 2 chaussées", "Sentier"],
            "IMPORTANCE": ["4", "5", "2", "6"],
            "NOM_1_G": ["Rue de Bretagne", None, "Boulevard Félix Grat", None],
            "LARGEUR": ["5.5", "3", "12", None],
            "SENS": ["Double sens", "Sans objet", "Sens direct", "Sens inverse"],
            "VIT_MOY_VL": ["30", "20", "50", "10"],
            "ETAT": ["En service"] * 4,
            "POS_SOL": ["0", "1", "0", "-1"],  # on a bridge, in a tunnel
        },
        geometry_type="LineString Z",
        encoding="ISO-8859-1",
    )
    report = import_layer(laval, ImportOptions("roads", path, profile="bdtopo", id_field="ID"))
    assert (report.read, report.inserted, report.refused, report.dropped_z) == (4, 4, 0, 4)
    assert report.extra_fields == ["ETAT"]
    with psycopg.connect(laval) as conn:
        rows = conn.execute(
            "SELECT source_id, name, road_class, width_m, speed_kmh, oneway, extra ->> 'ETAT', level "
            "FROM patrimoine.road WHERE source = 'TRONCON_DE_ROUTE.shp' ORDER BY 1"
        ).fetchall()
    assert rows == [
        ("TRONROUT0000000001", "Rue de Bretagne", "street", 5.5, 30, "no", "En service", 0),  # by IMPORTANCE 4
        ("TRONROUT0000000002", None, "lane", 3.0, 20, "no", "En service", 1),  # NATURE Chemin
        ("TRONROUT0000000003", "Boulevard Félix Grat", "main", 12.0, 50, "forward", "En service", 0),
        ("TRONROUT0000000004", None, "pedestrian", None, 10, "backward", "En service", -1),  # NATURE Sentier
    ]
