"""Every command of the README's command list run once as a user would, each checked on its effect: the local
cluster, tokens, history, parameters, exports, and the analyses that the API tests reach another way."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.test_migrations import CLI, run_cli


def cli(*args: str, env: dict, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


@pytest.mark.slow
def test_db_up_and_down_manage_a_local_cluster(tmp_path: Path) -> None:
    """A checkout under a private folder: the cluster lives under /var/lib/gis-patrimoine/<key>, listens on
    127.0.0.1 from port 55432 on, keeps its port and its data from one start to the next."""
    data = tmp_path / "private" / ".data"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"GIS_PATRIMOINE_DATA_DIR": str(data)}
    state = None
    try:
        up = cli("db", "up", env=env)
        assert up.returncode == 0, up.stderr
        state = json.loads((data / "cluster.json").read_text())
        assert state["port"] >= 55432 and state["datadir"].startswith("/var/lib/gis-patrimoine/")
        url = f"postgresql://postgres@127.0.0.1:{state['port']}/gis_patrimoine"
        with psycopg.connect(url) as conn:  # trust on loopback, the project's database created
            assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
            assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("15")
            conn.execute("CREATE TABLE kept (x int)")
        assert "stopped" in cli("db", "down", env=env).stdout
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
        assert cli("db", "up", env=env).returncode == 0
        assert json.loads((data / "cluster.json").read_text())["port"] == state["port"]
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('public.kept') IS NOT NULL").fetchone()[0]
    finally:
        cli("db", "down", env=env)
        if state:  # /var/lib/gis-patrimoine/<key>/data: the key's folder, with its run/ and log
            shutil.rmtree(Path(state["datadir"]).parent, True)


def test_api_tokens_from_the_command_line(db_url: str) -> None:
    """`users token` prints a token once (only its hash is stored), `users list` shows it, `revoke` ends it."""
    from tests.servers import running_server

    made = run_cli("users", "token", "carole", "--role", "reader", url=db_url)
    assert made.returncode == 0, made.stderr
    token = next(w for w in made.stdout.split() if len(w) >= 32)
    with psycopg.connect(db_url) as conn:
        stored = conn.execute("SELECT string_agg(t::text, '|') FROM patrimoine_sys.api_token t").fetchone()[0]
    assert token not in stored  # the hash, never the token
    listed = run_cli("users", "list", url=db_url)
    assert "carole" in listed.stdout and "reader" in listed.stdout and token not in listed.stdout
    with running_server(db_url) as api:
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.post(f"{api}/analysis/grid", json={"size_m": 900}, headers={}).status_code == 401
        accepted = httpx.post(f"{api}/analysis/grid", json={"size_m": 900}, headers=auth, timeout=120)
        assert accepted.status_code == 201, accepted.text  # the printed token opens what needs one
        with psycopg.connect(db_url) as conn:
            token_id = conn.execute("SELECT id FROM patrimoine_sys.api_token WHERE username = 'carole'").fetchone()[0]
        assert run_cli("users", "revoke", str(token_id), url=db_url).returncode == 0
        assert httpx.post(f"{api}/analysis/grid", json={"size_m": 900}, headers=auth).status_code == 401
    after = json.loads(run_cli("--format", "json", "users", "list", url=db_url).stdout)
    assert [t["user"] for t in after if t.get("revoked")] == ["carole"]  # listed as revoked, with the date


def test_history_show_and_params(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO patrimoine.commune (insee, name, geom) VALUES ('53130', 'Laval', ST_Multi("
            "ST_MakeEnvelope(420000, 6778000, 422000, 6780000, 2154)))"
        )
        fid = conn.execute(
            "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, power_w, geom) "
            "VALUES ('53130', 't', '1', 'led', 40, ST_SetSRID(ST_MakePoint(420500, 6779000), 2154)) RETURNING id"
        ).fetchone()[0]
        conn.commit()
        conn.execute("UPDATE patrimoine.street_light SET power_w = 55 WHERE id = %s", (fid,))
    shown = run_cli("--format", "json", "history", "show", "street_lights", str(fid), url=db_url)
    assert shown.returncode == 0, shown.stderr
    versions = json.loads(shown.stdout)
    assert [v["operation"] for v in versions] == ["INSERT", "UPDATE"]
    assert versions[-1]["changed"] == "power_w" and versions[-1]["login"] == "postgres"

    defaults = json.loads(run_cli("--format", "json", "analyse", "params", url=db_url).stdout)
    as_dict = {p["parameter"]: p["value"] for p in defaults} if isinstance(defaults, list) else defaults
    assert (float(as_dict["shift_hours"]), int(as_dict["working_days_per_year"])) == (7.0, 205)
    assert float(as_dict["solver_seconds"]) == 10.0
    changed = run_cli("analyse", "params", "--set", "shift_hours=6.5", "--set", "crew_size=3", url=db_url)
    assert changed.returncode == 0, changed.stderr
    from gis_patrimoine.analysis.params import load

    with psycopg.connect(db_url) as conn:
        stored = load(conn)
    assert (stored.shift_hours, stored.crew_size) == (6.5, 3)
    refused = run_cli("analyse", "params", "--set", "shift_hours=40", url=db_url)
    assert refused.returncode != 0 and "shift_hours" in refused.stdout + refused.stderr


def test_export_in_another_crs_and_import_under_another_source(laval_url: str, tmp_path) -> None:
    import pyogrio

    from tests.importing import road, write_layer

    db_url = laval_url
    path = write_layer(
        tmp_path / "voirie.gpkg",
        [road(300 * i) for i in range(3)],
        {"rid": ["1", "2", "3"], "road_class": ["street"] * 3},
    )
    first = run_cli("import", "roads", str(path), "--id-field", "rid", "--source", "voirie-2025", url=db_url)
    assert first.returncode == 0, first.stderr
    again = run_cli("import", "roads", str(path), "--id-field", "rid", "--source", "voirie-2026", url=db_url)
    assert again.returncode == 0, again.stderr
    with psycopg.connect(db_url) as conn:  # the natural key is (source, id): another source, other features
        sources = dict(conn.execute("SELECT source, count(*) FROM patrimoine.road GROUP BY 1"))
    assert sources == {"voirie-2025": 3, "voirie-2026": 3}
    out = tmp_path / "roads-3857.gpkg"
    done = run_cli("export", "roads", str(out), "--srs", "EPSG:3857", url=db_url)
    assert done.returncode == 0, done.stderr
    info = pyogrio.read_info(out)
    assert info["crs"] == "EPSG:3857" and info["features"] == 6
    xmin = pyogrio.read_bounds(out)[1][0].min()
    assert -90_000 < xmin < -80_000  # Laval at about −0.77° east: −85 km in Web Mercator metres


def test_analyses_from_the_command_line(demo_rw: str, tmp_path: Path) -> None:
    """The analyses that the API tests reach over HTTP, here as a planner runs them from a terminal."""
    url = demo_rw
    with psycopg.connect(url) as conn:
        small = conn.execute("SELECT insee FROM patrimoine.commune ORDER BY population LIMIT 1").fetchone()[0]
    files = {s: tmp_path / f"rounds.{s}" for s in ("geojson", "gpx", "html")}
    rounds = run_cli(
        "analyse", "rounds", "lighting", "--activity", "inspection", "--commune", small, "--seconds", "1",
        "--geojson", str(files["geojson"]), "--gpx", str(files["gpx"]), "--sheet", str(files["html"]), url=url,
    )  # fmt: skip
    assert rounds.returncode == 0, rounds.stderr
    geo = json.loads(files["geojson"].read_text())
    lines = [f for f in geo["features"] if f["properties"]["kind"] == "round"]
    assert lines and all(f["geometry"]["type"] in ("LineString", "MultiLineString") for f in lines)
    assert files["gpx"].read_text().count("<trk>") == len(lines)  # a track per round
    assert "<table" in files["html"].read_text()
    with psycopg.connect(url) as conn:
        light = conn.execute(
            "SELECT min(id) FROM patrimoine.street_light WHERE commune_insee = %s", (small,)
        ).fetchone()[0]
    looked = run_cli(
        "--format", "json", "analyse", "lookup", "--collection", "street_lights", "--id", str(light), url=url
    )  # fmt: skip
    assert looked.returncode == 0, looked.stderr
    answer = json.loads(looked.stdout)
    assert [a["service"] for a in answer] == ["lighting"] and answer[0]["round"] >= 1  # the plan just stored
    grid = run_cli("analyse", "grid", "--size", "900", url=url)
    areas = run_cli("analyse", "areas", "--minutes", "5", url=url)
    equipment = run_cli("--format", "json", "analyse", "equipment", url=url)
    for done in (grid, areas, equipment):
        assert done.returncode == 0, done.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM analysis.workload_hex WHERE size_m = 900").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM analysis.depot_area WHERE minutes = 5").fetchone()[0] > 0
    assert any(e["equipment"] == "van" and e["units"] > 0 for e in json.loads(equipment.stdout))
    picture = tmp_path / "zones.png"
    zoned = run_cli("analyse", "zones", "roads", "--size", "1500", "--tolerance", "0.6", "--picture", str(picture),
                    url=url)  # fmt: skip
    assert zoned.returncode == 0, zoned.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 20_000
    ranked = run_cli("--format", "json", "analyse", "opportunities", "lighting", "--top", "2", url=url)
    assert ranked.returncode == 0, ranked.stderr
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM analysis.service_zone WHERE service = 'roads'").fetchone()[0] > 0
        stored = conn.execute("SELECT count(*) FROM analysis.opportunity WHERE service = 'lighting'").fetchone()[0]
    assert stored == len(json.loads(ranked.stdout))
    report = tmp_path / "compare"
    compared = run_cli("analyse", "compare", "buildings", "--iterations", "30", "--report", str(report), url=url)
    assert compared.returncode == 0, compared.stderr
    page = next(report.glob("*.html")).read_text()
    assert "<svg" in page and "Laval" in page
    with psycopg.connect(url) as conn:  # a light put 400 m from any road: listed beyond 150 m, not beyond 1 km
        lost = conn.execute(
            "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, geom) "
            "SELECT %s, 'test', 'lost', 'led', ST_PointOnSurface(ST_Difference(c.geom, "
            "(SELECT ST_Union(ST_Buffer(geom, 400)) FROM patrimoine.road))) FROM patrimoine.commune c "
            "WHERE insee = %s RETURNING id",
            (small, small),
        ).fetchone()[0]
    near = json.loads(run_cli("--format", "json", "analyse", "network", "--far", "150", url=url).stdout)
    lights = next(r for r in near["Far assets"] if r["layer"] == "street_lights")
    assert f"{lost} (" in lights["farthest (id, m)"]
    beyond = json.loads(run_cli("--format", "json", "analyse", "network", "--far", "1000", url=url).stdout)
    assert f"{lost} (" not in json.dumps(beyond["Far assets"])
