"""The direct path (importer/direct.py): a clean file of new features COPYed straight into the layer table.

It must write exactly what the staged path writes (same rows, same history, same report), be taken only
when nothing needs the staged path, and leave no trace when it hands over halfway.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psycopg
import pyogrio
import pytest
import shapely
from psycopg import sql

from bench.make_data import write_points, write_polygons
from gis_patrimoine.catalogue import get_catalogue
from gis_patrimoine.db.connection import with_dbname
from gis_patrimoine.importer import ImportOptions, ImportRefused, import_layer
from tests.conftest import create_clone, drop_database

COMMUNES = Path(__file__).resolve().parents[1] / "gis_patrimoine" / "demo" / "data" / "laval-agglo" / "COMMUNE.shp"
SKIP = ("id", "uuid", "created_at", "updated_at")


def rows(url: str, layer_name: str) -> list[tuple]:
    """Every row but what differs by nature between two loads (identity, uuid, times), in key order."""
    layer = get_catalogue().layer(layer_name)
    cols = [a.name for a in layer.attributes if a.name not in SKIP] + ["geom"]
    query = sql.SQL("SELECT {} FROM {} ORDER BY source, source_id").format(
        sql.SQL(", ").join(
            sql.SQL("ST_AsEWKB({})").format(sql.Identifier(c)) if c == "geom" else sql.Identifier(c) for c in cols
        ),
        layer.qualified,
    )
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def history(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT layer, operation, import_job_id IS NOT NULL, count(*), count(feature_uuid), count(old_values), "
            "count(new_values) FROM patrimoine_sys.history GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).fetchall()


@pytest.fixture
def pair(server_url: str, laval_template: str):
    """Two databases holding the Laval communes: one for each path."""
    names = [
        create_clone(server_url, laval_template, "gp_direct"),
        create_clone(server_url, laval_template, "gp_staged"),
    ]
    yield [with_dbname(server_url, n) for n in names]
    for name in names:
        drop_database(server_url, name)


def crossing_roads(path: Path) -> None:
    """Roads from each commune's centre to its neighbours': they cross boundaries and are cut there."""
    geoms = pyogrio.raw.read(COMMUNES, columns=["INSEE_COM"])[2]
    centres = shapely.point_on_surface(shapely.from_wkb(geoms))
    lines, ids, classes = [], [], []
    for i in range(len(centres)):
        j = (i + 1) % len(centres)
        lines.append(shapely.linestrings([centres[i].coords[0], centres[j].coords[0]]))
        ids.append(f"R{i}")
        classes.append(["main", "Street", "rural"][i % 3])  # codes, and a code written as its label
    pyogrio.raw.write(path, shapely.to_wkb(np.array(lines)), [np.array(ids), np.array(classes)],
                      fields=["road_ref", "road_class"], crs="EPSG:2154", driver="ESRI Shapefile",
                      geometry_type="LineString", encoding="UTF-8")  # fmt: skip


def with_odd_fields(path: Path) -> Path:
    """The same lights with a field no column reads (kept in extra), a condition that fits no code (kept in
    extra under its column) and dates written the French way."""
    info, _, geoms, fields = pyogrio.raw.read(path)
    n = len(geoms)
    owner = np.array(["Ville", "", None, "SDE 53"] * (n // 4 + 1), dtype=object)[:n]
    condition = np.array(["good", "so-so", None, "Bon"] * (n // 4 + 1), dtype=object)[:n]
    done = np.array(["03/02/2021", "2020-11-30", None, "1/1/2019"] * (n // 4 + 1), dtype=object)[:n]
    odd = path.with_name("odd.gpkg")
    pyogrio.raw.write(odd, geoms, [*fields, owner, condition, done], fields=[*info["fields"], "owner", "condition",
                      "last_intervention"], crs="EPSG:2154", driver="GPKG", geometry_type="Point")  # fmt: skip
    return odd


def with_doubtful_values(path: Path, variant: str) -> Path:
    """Values the direct path must leave to the staged path: a date followed by a non-breaking space (the
    database's pattern refuses it), or the file's own `extra` naming a code column (the staged path replaces
    that key)."""
    info, _, geoms, fields = pyogrio.raw.read(path)
    n = len(geoms)
    names = [*info["fields"]]
    if variant == "date":
        extra = np.array(["2021-02-03"] * n, dtype=object)
        extra[n // 2] = "2021-02-03\u00a0"
        names.append("last_intervention")
    else:
        extra = np.array(['{"owner": "SDE 53"}'] * n, dtype=object)
        extra[n // 3] = '{"lamp_type": "sodium", "height": 1.10}'
        names.append("extra")
    out = path.with_name(f"doubtful_{variant}.gpkg")
    pyogrio.raw.write(out, geoms, [*fields, extra], fields=names, crs="EPSG:2154", driver="GPKG", geometry_type="Point")
    return out


@pytest.mark.parametrize(
    "layer",
    ["street_lights", "odd_street_lights", "date_street_lights", "extra_street_lights", "green_spaces", "roads"],
)
def test_both_paths_write_the_same_rows_history_and_report(layer: str, pair: list[str], tmp_path: Path) -> None:
    variant, _, layer = layer.rpartition("_street_") if "_street_" in layer else ("", "", layer)
    layer = "street_" + layer if variant else layer
    odd = variant == "odd"
    path = tmp_path / f"{layer}.shp"
    options = {"street_lights": {"id_field": "light_id", "mapping": {"mast_height_m": "mast_h_m",
                                                                     "installed_year": "inst_year"}},
               "green_spaces": {"id_field": "gs_id"}, "roads": {"id_field": "road_ref"}}[layer]  # fmt: skip
    if layer == "street_lights":
        write_points(path, 3000)
    elif layer == "green_spaces":
        write_polygons(path, 1500)
    else:
        crossing_roads(path)
    if odd:
        path = with_odd_fields(path)
    elif variant:
        path = with_doubtful_values(path, variant)
    reports = []
    for url, direct in zip(pair, (True, False), strict=True):
        reports.append(
            import_layer(
                url,
                ImportOptions(
                    layer=layer, path=path, direct=direct, batch_size=700, skip_refused=bool(variant), **options
                ),
            )
        )
    direct, staged = reports
    assert direct.path == ("staged" if variant in ("date", "extra") else "direct") and staged.path == "staged"
    assert direct.counts() == staged.counts() and direct.inserted > 0
    if odd:
        assert direct.kept_in_extra > 0 and direct.unmapped_values > 0
    if layer == "roads":
        assert direct.split > 0  # lines cut at commune boundaries: pieces keyed '#1', '#2'…
    assert rows(pair[0], layer) == rows(pair[1], layer)
    assert history(pair[0]) == history(pair[1])


def test_the_direct_path_hands_over_to_the_staged_path_and_leaves_nothing(laval_url: str, tmp_path: Path) -> None:
    """A bad value in the last batch, after thousands of rows went in by COPY: the staged path takes over from
    the savepoint and refuses the file with its report; nothing of the first attempt stays, history included."""
    path = tmp_path / "lights.shp"
    write_points(path, 3000)
    info, _, geoms, fields = pyogrio.raw.read(path)
    names = list(info["fields"])
    fields[names.index("power_w")] = fields[names.index("power_w")].astype(object)
    fields[names.index("power_w")][-1] = "strong"
    bad = tmp_path / "bad.gpkg"
    pyogrio.raw.write(bad, geoms, fields, fields=names, crs="EPSG:2154", driver="GPKG", geometry_type="Point")
    options = ImportOptions(layer="street_lights", path=bad, id_field="light_id", batch_size=500)
    with pytest.raises(ImportRefused) as refused:
        import_layer(laval_url, options)
    report = refused.value.report
    assert report.path == "staged" and report.refused == 1 and report.read == 3000
    assert report.refusals == [("feature 3000 (id 2999)", "power_w: 'strong' (field power_w) is not an integer")]
    with psycopg.connect(laval_url) as conn:
        assert conn.execute("SELECT count(*) FROM patrimoine.street_light").fetchone()[0] == 0
        assert (
            conn.execute("SELECT count(*) FROM patrimoine_sys.history WHERE layer = 'street_light'").fetchone()[0] == 0
        )


def test_what_takes_the_staged_path(laval_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Duplicates and re-imports need the staged path's merge; both get the same report as before."""
    path = tmp_path / "lights.shp"
    write_points(path, 400)
    first = import_layer(laval_url, ImportOptions(layer="street_lights", path=path, id_field="light_id"))
    assert first.path == "direct" and first.inserted == 400
    again = import_layer(laval_url, ImportOptions(layer="street_lights", path=path, id_field="light_id"))
    assert again.path == "staged" and (again.inserted, again.updated, again.unchanged) == (0, 0, 400)
    info, _, geoms, fields = pyogrio.raw.read(path)
    names = list(info["fields"])
    fields[names.index("light_id")] = fields[names.index("light_id")] + 10_000  # other features, same source
    renumbered = tmp_path / "lights.gpkg"
    pyogrio.raw.write(renumbered, geoms, fields, fields=names, crs="EPSG:2154", driver="GPKG", geometry_type="Point")
    with caplog.at_level("DEBUG", logger="gis_patrimoine.importer.run"):
        replaced = import_layer(laval_url, ImportOptions(layer="street_lights", path=renumbered, id_field="light_id",
                                                         source="lights.shp", mode="replace"))  # fmt: skip
    assert replaced.path == "staged" and (replaced.inserted, replaced.retired) == (400, 400)
    assert "holds features of this source" in caplog.text  # known before a row was copied
    # the same with the sources named in the rows (as an export has them): known only after the COPY
    ids = fields[names.index("light_id")]
    own = tmp_path / "own_sources.gpkg"
    pyogrio.raw.write(own, geoms, [*fields, np.full(len(ids), "lights.shp", dtype=object), (ids + 10_000).astype(str)],
                      fields=[*names, "source", "source_id"], crs="EPSG:2154", driver="GPKG",
                      geometry_type="Point")  # fmt: skip
    owned = import_layer(laval_url, ImportOptions(layer="street_lights", path=own, mode="replace"))
    assert owned.path == "staged" and (owned.inserted, owned.retired) == (400, 400)
    fields[names.index("light_id")][1] = fields[names.index("light_id")][0]  # two features, one identifier
    twice = tmp_path / "twice.gpkg"
    pyogrio.raw.write(twice, geoms, fields, fields=names, crs="EPSG:2154", driver="GPKG", geometry_type="Point")
    with pytest.raises(ImportRefused) as refused:
        import_layer(laval_url, ImportOptions(layer="street_lights", path=twice, id_field="light_id", source="other"))
    assert refused.value.report.path == "staged" and refused.value.report.refused == 2
    assert "appears 2 times" in refused.value.report.refusals[0][1]
