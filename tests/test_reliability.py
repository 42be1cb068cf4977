"""Reliability and security over real HTTP: health, backups, uploads (and at least 20 hostile ones, each refused
with a clear message and nothing written), body limits, token-only reads, CORS."""

from __future__ import annotations

import io
import json
import struct
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pyogrio
import pytest
from psycopg import sql

from gis_patrimoine.settings import Settings
from tests.conftest import create_clone, drop_database, with_dbname
from tests.importing import checksum, road, write_layer
from tests.servers import add_token, running_server, wait_for
from tests.test_migrations import run_cli

TOKENS = {"max": "manager", "alice": "editor", "rita": "reader"}


def auth(user: str) -> dict:
    return {"Authorization": f"Bearer token-{user}"}


@pytest.fixture(scope="module")
def territory(server_url: str, laval_template: str) -> Iterator[str]:
    """The Laval communes and the tokens, once for the module: each test works on a clone of it."""
    name = create_clone(server_url, laval_template, prefix="gp_upload_tpl")
    url = with_dbname(server_url, name)
    for user, role in TOKENS.items():
        add_token(url, user, role, ["53130"])
    yield name
    drop_database(server_url, name)


@pytest.fixture
def uploads(server_url: str, territory: str) -> Iterator[tuple[str, str]]:
    """A server (2 MB request bodies) over this test's own copy: no test sees what another wrote."""
    name = create_clone(server_url, territory, prefix="gp_upload")
    url = with_dbname(server_url, name)
    with running_server(url, settings=Settings(max_body_mb=2)) as base:
        yield base, url
    drop_database(server_url, name)


def roads_zip(tmp_path: Path, n: int = 3) -> bytes:
    shp = write_layer(
        tmp_path / "roads.shp",
        [road(i * 200) for i in range(n)],
        {"rid": [str(i) for i in range(n)], "road_class": ["street"] * n},
        geometry_type="LineString",
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for part in shp.parent.glob("roads.*"):
            z.write(part, part.name)
    return buf.getvalue()


def wait(api: str, job: str) -> dict:
    for _ in range(300):
        body = httpx.get(f"{api}/imports/{job}").json()
        if body["status"] != "running":
            return body
        time.sleep(0.1)
    raise AssertionError("the import did not finish")


def test_health_and_ready(uploads) -> None:
    api, _ = uploads
    assert httpx.get(f"{api}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{api}/ready")
    assert ready.status_code == 200 and ready.json()["database"] == "reachable"


def test_upload_imports_in_the_background(uploads, tmp_path: Path) -> None:
    api, db = uploads
    body = roads_zip(tmp_path)
    assert httpx.post(f"{api}/imports", params={"layer": "roads"}, content=body).status_code == 401
    editor = httpx.post(f"{api}/imports", params={"layer": "roads"}, content=body, headers=auth("alice"))
    assert editor.status_code == 403
    r = httpx.post(f"{api}/imports", params={"layer": "roads"}, content=body, headers=auth("max"))
    assert r.status_code == 202, r.text
    # the job is the import journal's row: a second worker (here a second server) answers for it
    with running_server(db) as other:
        done = wait(other, r.json()["id"])
    assert done["status"] == "done" and done["counts"]["inserted"] == 3, done
    assert done["journal_id"] == r.json()["id"] and done["user"] == "max"
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM patrimoine.road").fetchone()[0] == 3
        assert conn.execute("SELECT count(*) FROM patrimoine_sys.import_job WHERE app_user = 'max'").fetchone()[0] == 1
    assert httpx.get(f"{api}/imports/999999").status_code == 404


def test_uploads_take_the_command_lines_options(uploads, tmp_path: Path) -> None:
    """--map, --id-field, --commune-field, --skip-refused over the API, and the refused features to download."""
    api, db = uploads
    shp = write_layer(
        tmp_path / "voirie.shp",
        [road(i * 200) for i in range(3)],
        {"IDENT": ["v1", "v2", "v3"], "KLASSE": ["street"] * 3, "COMM": ["Laval", "Laval", "Paris"]},
        geometry_type="LineString",
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for part in shp.parent.glob("voirie.*"):
            z.write(part, part.name)
    params = {"layer": "roads", "map": ["road_class=KLASSE"], "id_field": "IDENT", "commune_field": "COMM"}
    bad = httpx.post(f"{api}/imports", params={**params, "map": ["road_class"]}, content=buf.getvalue(),
                     headers=auth("max"))  # fmt: skip
    assert bad.status_code == 422 and "expected COLUMN=FIELD" in bad.text
    refused = wait(api, httpx.post(f"{api}/imports", params=params, content=buf.getvalue(), headers=auth("max"))
                   .json()["id"])  # fmt: skip
    assert refused["status"] == "failed" and refused["refusals"] == [
        {"feature": "feature 2 (id v3)", "reason": "unknown commune 'Paris' (field COMM)"}
    ], refused
    assert refused["refused_file"] in refused["error"]  # the way to the list, not a server path
    done = wait(api, httpx.post(f"{api}/imports", params={**params, "skip_refused": True}, content=buf.getvalue(),
                                headers=auth("max")).json()["id"])  # fmt: skip
    assert done["status"] == "done" and done["counts"]["inserted"] == 2 and done["counts"]["refused"] == 1
    gpkg = httpx.get(done["refused_file"])
    assert gpkg.status_code == 200 and gpkg.content.startswith(b"SQLite format 3")
    (tmp_path / "refused.gpkg").write_bytes(gpkg.content)
    meta, _, _, fields = pyogrio.raw.read(tmp_path / "refused.gpkg")
    assert list(fields[list(meta["fields"]).index("reason")]) == ["unknown commune 'Paris' (field COMM)"]
    with psycopg.connect(db) as conn:
        ids = [r[0] for r in conn.execute("SELECT source_id FROM patrimoine.road WHERE source_id LIKE 'v%' ORDER BY 1")]
    assert ids == ["v1", "v2"]
    assert httpx.get(f"{api}/imports/{done['id'] - 1}/refused").status_code == 200  # the failed one's list too
    assert httpx.get(f"{api}/imports/999999/refused").status_code == 404


def test_uploads_of_every_format_with_profile_srs_encoding_mode_and_dry_run(uploads, tmp_path: Path) -> None:
    """A GeoPackage, a GeoJSON and a bare OSM-style GeoJSON without CRS sent as they are (no zip), with the
    command line's profile, srs, encoding, mode and dry_run; each effect checked in the database."""
    api, db = uploads

    def send(path: Path, **params) -> dict:
        r = httpx.post(f"{api}/imports", params={"layer": "roads", **params}, content=path.read_bytes(),
                       headers=auth("max"))  # fmt: skip
        assert r.status_code == 202, r.text
        return wait(api, r.json()["id"])

    def roads() -> dict[str, str]:
        with psycopg.connect(db) as conn:
            return dict(conn.execute("SELECT source_id, road_class FROM patrimoine.road"))

    gpkg = write_layer(tmp_path / "r.gpkg", [road(0), road(300)], {"rid": ["g1", "g2"], "road_class": ["street"] * 2},
                       geometry_type="LineString")  # fmt: skip
    dry = send(gpkg, id_field="rid", source="r.gpkg", dry_run=True)
    assert dry["status"] == "done" and dry["counts"]["inserted"] == 2 and roads() == {}  # counted, not written
    assert send(gpkg, id_field="rid", source="r.gpkg")["counts"]["inserted"] == 2 and set(roads()) == {"g1", "g2"}
    one = write_layer(tmp_path / "r1.gpkg", [road(0)], {"rid": ["g1"], "road_class": ["street"]},
                      geometry_type="LineString")  # fmt: skip
    replaced = send(one, id_field="rid", mode="replace", source="r.gpkg")
    assert replaced["counts"]["retired"] == 1 and set(roads()) == {"g1"}  # g2 absent from the file: retired
    # OSM tags, no CRS in the file, Latin-1 names: profile, srs and encoding as on the command line
    osm = tmp_path / "osm.geojson"
    x, y = 420_500.0, 6_779_000.0
    osm.write_bytes(
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"osm_id": "w1", '
            '"highway": "residential", "name": "Allée des Éoliennes"}, "geometry": {"type": "LineString", '
            f'"coordinates": [[{x}, {y + 900}], [{x + 100}, {y + 900}]]}}}}]}}'
        ).encode("latin-1")
    )
    osm_done = send(osm, profile="osm", id_field="osm_id", srs="EPSG:2154", encoding="latin-1")
    assert osm_done["status"] == "done", osm_done
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT road_class, name FROM patrimoine.road WHERE source_id = 'w1'").fetchone() == (
            "street",
            "Allée des Éoliennes",
        )


def _zip(entries: dict[str, bytes], **kwargs) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, **kwargs) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _symlink_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("roads.shp")
        info.external_attr = 0o120777 << 16  # a symbolic link to /etc/passwd
        z.writestr(info, "/etc/passwd")
    return buf.getvalue()


def _nameless_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo(""), b"x")
    return buf.getvalue()


def _huge_dbf() -> bytes:
    # a DBF header claiming a billion records of 100 bytes, with almost nothing behind it
    header = struct.pack("<BBBBIHH20x", 3, 124, 1, 1, 1_000_000_000, 65, 100) + b"NAME" + b"\0" * 7 + b"C" + b"\0" * 4
    header += bytes([99]) + b"\0" * 15 + b"\r"
    return header + b" " * 200


HOSTILE = {
    "zip bomb": (lambda t: _zip({"roads.shp": b"\0" * (300 * 1024**2)}), {}, "zip bomb"),
    "path traversal": (lambda t: _zip({"../../etc/roads.shp": b"x"}), {}, "unsafe path"),
    "absolute path": (lambda t: _zip({"/tmp/roads.shp": b"x"}), {}, "unsafe path"),
    "windows drive": (lambda t: _zip({"C:/roads.shp": b"x"}), {}, "unsafe path"),
    "nameless entry": (lambda t: _nameless_zip(), {}, "no name"),
    "symlink": (lambda t: _symlink_zip(), {}, "links are not accepted"),
    "executable in zip": (lambda t: _zip({"roads.shp": b"x", "setup.exe": b"MZ"}), {}, "unexpected file"),
    "nested zip": (lambda t: _zip({"inner.zip": _zip({"roads.shp": b"x"})}), {}, "unexpected file"),
    "too many entries": (lambda t: _zip({f"r{i}.shp": b"x" for i in range(100)}), {}, "entries"),
    "no shp in zip": (lambda t: _zip({"roads.dbf": b"x", "roads.prj": b"x"}), {}, "no .shp"),
    "wrong magic bytes (PNG)": (lambda t: b"\x89PNG\r\n\x1a\n" + b"\0" * 100, {}, "first bytes"),
    "PDF named .zip": (lambda t: b"%PDF-1.7\n" + b"x" * 100, {}, "first bytes"),
    "empty body": (lambda t: b"", {}, "empty upload"),
    "truncated zip": (lambda t: roads_zip(t)[:300], {}, "damaged zip"),
    "truncated shapefile in zip": (
        lambda t: _zip({"roads.shp": roads_zip(t)[40:400], "roads.shx": b"\0" * 10, "roads.dbf": b"\0"}),
        {},
        "roads.shp",
    ),
    "huge DBF header": (
        lambda t: _zip({"roads.shp": b"\0" * 100, "roads.shx": b"\0" * 100, "roads.dbf": _huge_dbf()}),
        {},
        "roads",
    ),
    "truncated GeoPackage": (lambda t: b"SQLite format 3\x00" + b"\x10\x00" + b"\0" * 500, {}, "upload.gpkg"),
    "GeoJSON that is not JSON": (lambda t: b"{ this is not json", {}, "upload.geojson"),
    "GeoJSON of another continent": (
        lambda t: json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"road_class": "street"},
                        "geometry": {"type": "LineString", "coordinates": [[150.0, -33.0], [150.1, -33.0]]},
                    }
                ],
            }
        ).encode(),
        {},
        "outside the area of use",
    ),
    "over the size limit": (lambda t: b"{" + b" " * (3 * 1024**2) + b"}", {}, "over 2 MB"),
    "unknown layer": (lambda t: b"{}", {"layer": "passwords"}, "layer"),
    "SQL in a parameter": (lambda t: b"{}", {"encoding": "utf8'; DROP TABLE patrimoine.road; --"}, "encoding"),
    "bad srs": (lambda t: b"{}", {"srs": "EPSG:4326; DELETE"}, "srs"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_uploads_are_refused_and_nothing_is_written(uploads, tmp_path: Path, case: str) -> None:
    api, db = uploads
    make, params, fragment = HOSTILE[case]
    before = checksum(db)
    r = httpx.post(
        f"{api}/imports", params={"layer": "roads", **params}, content=make(tmp_path), headers=auth("max"), timeout=120
    )
    if r.status_code == 202:  # accepted for reading, refused by the import itself
        done = wait(api, r.json()["id"])
        assert done["status"] == "failed", done
        message = done["error"]
    else:
        assert r.status_code in (400, 413, 422), r.text
        message = r.json()["description"]
    assert fragment.lower() in message.lower(), message
    assert "Traceback" not in message and "gp-upload-" not in message  # no stack, no server path
    assert checksum(db) == before


def test_chunked_body_over_the_limit_is_cut_off(uploads) -> None:
    api, db = uploads
    before = checksum(db)

    def chunks():
        for _ in range(40):
            yield b" " * (128 * 1024)

    r = httpx.post(f"{api}/imports", params={"layer": "roads"}, content=chunks(), headers=auth("max"), timeout=60)
    assert r.status_code == 413 and "over 2 MB" in r.json()["description"]
    assert checksum(db) == before


def test_backup_and_restore_round_trip(uploads, server_url: str, tmp_path: Path) -> None:
    _, db = uploads
    assert run_cli("import", "roads", str(write_layer(
        tmp_path / "roads.geojson", [road(0)], {"rid": ["1"], "road_class": ["street"]}, geometry_type="LineString"
    )), "--id-field", "rid", url=db).returncode == 0  # fmt: skip
    backup = tmp_path / "gp.dump"
    assert run_cli("db", "backup", str(backup), url=db).returncode == 0
    target = with_dbname(server_url, f"gp_restored_{int(time.time() * 1000) % 10**8}")
    try:
        result = run_cli("db", "restore", str(backup), url=target)
        assert result.returncode == 0, result.stderr
        assert checksum(target) == checksum(db)
        with psycopg.connect(db) as a, psycopg.connect(target) as b:
            for table in ("history", "import_job", "api_token"):  # the journal and the tokens come along
                q = f"SELECT count(*), md5(string_agg(h::text, '|' ORDER BY id)) FROM patrimoine_sys.{table} h"  # noqa: S608
                assert a.execute(q).fetchone() == b.execute(q).fetchone() and a.execute(q).fetchone()[0] > 0, table
    finally:
        drop_database(server_url, target.rsplit("/", 1)[1])
    refused = run_cli("db", "restore", str(tmp_path / "missing.dump"), url=db)
    assert refused.returncode != 0 and "no such backup" in refused.stdout + refused.stderr
    # a restore that fails halfway leaves nothing of itself (one transaction): here an event trigger of the target
    # refuses the history table, created after the schemas, the extensions and most tables
    blocked = with_dbname(server_url, f"gp_blocked_{int(time.time() * 1000) % 10**8}")
    name = blocked.rsplit("/", 1)[1]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(blocked) as conn:
            conn.execute(
                "CREATE FUNCTION public.refuse_history() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() WHERE object_identity = "
                "'patrimoine_sys.history') THEN RAISE EXCEPTION 'history refused here'; END IF; END $$; "
                "CREATE EVENT TRIGGER refuse_history ON ddl_command_end EXECUTE FUNCTION public.refuse_history()"
            )
        failed = run_cli("db", "restore", str(backup), url=blocked)
        assert failed.returncode != 0 and "history refused here" in failed.stdout + failed.stderr
        with psycopg.connect(blocked) as conn:
            left = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'patrimoine%%'").fetchone()[0]
        assert left == 0  # not one schema of the backup
    finally:
        drop_database(server_url, name)


def test_token_only_reads_and_cors(uploads) -> None:
    _, db = uploads
    settings = Settings(read_requires_token=True, cors_origins=["https://sig.example.org"])
    with running_server(db, settings=settings) as base:
        assert httpx.get(f"{base}/collections").status_code == 401
        assert httpx.get(f"{base}/collections", headers=auth("rita")).status_code == 200
        assert httpx.get(f"{base}/health").status_code == 200
        # plain tile URLs take the fast path (api/fastpath.py): the token and CORS rules hold there too
        tile = f"{base}/collections/roads/tiles/WebMercatorQuad/10/359/507"
        assert httpx.get(tile).status_code == 401
        origin = {"Origin": "https://sig.example.org"}
        served = httpx.get(tile, headers={**auth("rita"), **origin})
        assert served.status_code in (200, 204) and served.headers["x-cache"] == "miss"
        assert served.headers.get("access-control-allow-origin") == "https://sig.example.org"
        pre = httpx.options(
            f"{base}/collections",
            headers={
                "Origin": "https://sig.example.org",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "Authorization",
            },
        )
        assert pre.headers.get("access-control-allow-origin") == "https://sig.example.org"
        other = httpx.get(f"{base}/health", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers


MARK = 4242  # an advisory lock key: taking it is allowed even in the API's read-only sessions, and outlives them
PAYLOADS = [
    "'; DROP TABLE patrimoine.road; --",
    "1; DELETE FROM patrimoine.commune",
    "road_class = 'x' OR 1=1; UPDATE patrimoine.road SET name='pwned'",
    '" OR "1"="1',
    "name) FROM patrimoine.road; DROP TABLE patrimoine.depot; --",
    # each breaks out of a different quoting to run a function whose trace stays visible from outside
    f"x' || pg_advisory_lock({MARK})::text || '",
    f"x'); SELECT pg_advisory_lock({MARK}); --",
    f"1) OR pg_advisory_lock({MARK}) IS NULL OR (1 = 1",
    f"name = 'a' OR pg_advisory_lock({MARK}) IS NULL",
    f"$$ || pg_advisory_lock({MARK}) || $$",
    f"x\\'); SELECT pg_advisory_lock({MARK}); --",
    f'x"; SELECT pg_advisory_lock({MARK}); --',
    f"(SELECT pg_advisory_lock({MARK}))",
]


def marked(db: str) -> int:
    with psycopg.connect(db, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (MARK,),
        ).fetchone()[0]


def test_injection_attempts_never_reach_sql_as_code(api: str, demo_db: str) -> None:
    before = checksum(demo_db)
    with psycopg.connect(demo_db) as conn:  # the checksum covers tables that hold something to lose
        assert all(
            conn.execute(f"SELECT count(*) > 0 FROM patrimoine.{t}").fetchone()[0]  # noqa: S608
            for t in ("road", "commune", "depot", "street_light")
        )
    with psycopg.connect(demo_db, autocommit=True) as probe:  # the trace is seen when the function does run
        probe.execute(f"SELECT pg_advisory_lock({MARK})")
        assert marked(demo_db) == 1
    assert marked(demo_db) == 0
    for p in PAYLOADS:
        requests = [
            ("GET", f"/collections/{p}/items", {}),
            ("GET", "/collections/roads/items", {"filter": p}),
            ("GET", "/collections/roads/items", {"filter": f"name = '{p}'"}),
            ("GET", "/collections/roads/items", {"filter": p, "filter-lang": "cql2-json"}),
            ("GET", "/collections/roads/items", {"sortby": p}),
            ("GET", "/collections/roads/items", {"properties": p}),
            ("GET", "/collections/roads/items", {"bbox": p}),
            ("GET", "/collections/roads/items", {"name": p}),
            ("GET", "/collections/roads/items", {"crs": p}),
            ("GET", f"/collections/roads/items/{p}", {}),
            ("GET", "/tiles/WebMercatorQuad/14/5680/8100", {"collections": p}),
            ("GET", "/tiles/WebMercatorQuad/14/5680/8100", {"commune": p}),
            ("GET", "/collections/roads/tiles/WebMercatorQuad/14/5680/8100", {"filter": p}),
            ("GET", "/analysis/lookup", {"collection": p, "id": 1}),
            ("GET", "/analysis/workload", {"commune": p, "service": p}),
            ("GET", f"/collections/roads/items/{p}/history", {}),
        ]
        for method, path, params in requests:
            r = httpx.request(method, f"{api}{path}", params=params, timeout=30)
            assert r.status_code < 500, (path, params, r.status_code, r.text[:200])
    assert marked(demo_db) == 0  # no payload ran
    assert checksum(demo_db) == before


def _lights_file(tmp_path: Path, n: int, name: str = "lights.gpkg", lamp_type: str = "led") -> Path:
    import numpy as np
    import shapely

    from tests.importing import LAVAL_X, LAVAL_Y

    rng = np.random.default_rng(5)
    xy = np.column_stack([LAVAL_X + rng.uniform(-1500, 1500, n), LAVAL_Y + rng.uniform(-1500, 1500, n)])
    return write_layer(
        tmp_path / name,
        list(shapely.points(xy)),
        {"lid": [str(i) for i in range(n)], "lamp_type": [lamp_type] * n},
        geometry_type="Point",
    )


def _import_backend(db: str) -> int | None:
    """The server process of a running CLI import: it holds the layer's advisory lock (importer/run.py)."""
    with psycopg.connect(db, autocommit=True) as conn:
        row = conn.execute(
            "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' "
            "AND l.granted AND a.datname = current_database() AND a.application_name <> 'probe' LIMIT 1"
        ).fetchone()
    return row[0] if row else None


def test_an_import_killed_halfway_leaves_the_database_as_before(uploads, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess

    from tests.test_migrations import CLI

    _, db = uploads
    path = _lights_file(tmp_path, 150_000)
    before = checksum(db)
    env = {**os.environ, "DATABASE_URL": db}
    proc = subprocess.Popen(
        [*CLI, "import", "street_lights", str(path), "--id-field", "lid"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    copied = {}

    def writing() -> bool:  # rows already copied into the import's staging table, inside its transaction
        with psycopg.connect(db, autocommit=True, application_name="probe") as conn:
            row = conn.execute(
                "SELECT p.pid, p.tuples_processed FROM pg_stat_progress_copy p WHERE p.datname = current_database() "
                "AND p.tuples_processed > 0"
            ).fetchone()
        if row:
            copied.update(pid=row[0], rows=row[1])
        return row is not None

    wait_for(writing, "the import copying rows")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and copied["rows"] < 150_000  # killed in the middle of its writes

    def gone() -> bool:  # the server notices the dropped connection and rolls its transaction back
        with psycopg.connect(db, autocommit=True, application_name="probe") as conn:
            return not conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (copied["pid"],)).fetchone()

    wait_for(gone, "the killed import's server process ending")
    assert checksum(db) == before
    # and the layer is not left locked: the next import runs
    small = _lights_file(tmp_path, 50, "small.gpkg")
    again = run_cli("import", "street_lights", str(small), "--id-field", "lid", url=db)
    assert again.returncode == 0, again.stderr
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM patrimoine.street_light").fetchone()[0] == 50


def test_concurrent_imports_and_an_api_edit_end_consistent(uploads, tmp_path: Path) -> None:
    """Two re-imports of a changed file run while an agent edits a light over the API: the imports run one after
    the other (the second finds nothing to do), the edit is neither lost nor overwritten (the file has no
    power_w: an update changes only the columns the file provides), and the history holds each change once."""
    import os
    import subprocess

    from tests.test_migrations import CLI

    api, db = uploads
    n = 20_000
    first = run_cli("import", "street_lights", str(_lights_file(tmp_path, n)), "--id-field", "lid", url=db)
    assert first.returncode == 0, first.stderr
    changed = _lights_file(tmp_path, n, "relamped.gpkg", lamp_type="hps")  # the same lights, relamped
    with psycopg.connect(db) as conn:
        fid = conn.execute("SELECT id FROM patrimoine.street_light WHERE source_id = '7'").fetchone()[0]
        conn.execute("DELETE FROM patrimoine_sys.history")
    env = {**os.environ, "DATABASE_URL": db}
    procs = [
        subprocess.Popen(
            [*CLI, "import", "street_lights", str(changed), "--id-field", "lid", "--source", "lights.gpkg"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    wait_for(lambda: _import_backend(db) is not None, "an import holding the layer's lock")
    edit = httpx.patch(
        f"{api}/collections/street_lights/items/{fid}",
        json={"type": "Feature", "properties": {"power_w": 123}},
        headers=auth("max"),
        timeout=60,
    )
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert edit.status_code == 200, edit.text
    with psycopg.connect(db) as conn:
        count, distinct, sodium = conn.execute(
            "SELECT count(*), count(DISTINCT (source, source_id)), count(*) FILTER (WHERE lamp_type = 'hps') "
            "FROM patrimoine.street_light"
        ).fetchone()
        assert count == distinct == sodium == n
        assert conn.execute("SELECT power_w FROM patrimoine.street_light WHERE id = %s", (fid,)).fetchone()[0] == 123
        by_whom = dict(
            conn.execute(
                "SELECT coalesce(app_user, 'import'), count(*) FROM patrimoine_sys.history "
                "WHERE layer = 'street_light' AND operation = 'UPDATE' GROUP BY 1"
            ).fetchall()
        )
        assert by_whom == {"max": 1, "import": n}  # each light relamped once, not twice; the edit once


def test_bbox_limits(uploads) -> None:
    api, _ = uploads
    items = f"{api}/collections/roads/items"
    assert httpx.get(items, params={"bbox": "-180,-90,180,90"}).status_code == 400
    assert httpx.get(items, params={"bbox": "nan,48,0,49"}).status_code == 400
    assert httpx.get(items, params={"bbox": "-0.8,48.0,-0.7,48.1"}).status_code == 200
    capped = httpx.get(items, params={"limit": 10**9})  # OGC API: the server caps the limit
    assert capped.status_code == 200 and len(capped.json()["features"]) <= Settings().max_limit


def test_no_password_in_arguments_output_or_journal(uploads, tmp_path: Path) -> None:
    """A password in DATABASE_URL reaches libpq and pg_dump's environment, and nothing else: not a command line
    (where ps shows it), not the CLI's output, not the import journal."""
    from psycopg.conninfo import make_conninfo

    from gis_patrimoine.db.backup import _env_args

    _, db = uploads
    secret = f"Pw-{time.time_ns()}-never-shown"
    url = make_conninfo(db, password=secret)  # the local cluster trusts 127.0.0.1: the password is carried, unused
    args, env = _env_args(url)
    assert secret not in " ".join(args) and env["PGPASSWORD"] == secret
    outputs = [run_cli("db", "backup", str(tmp_path / "gp.dump"), url=url)]
    assert outputs[0].returncode == 0, outputs[0].stderr
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null,')
    outputs.append(run_cli("import", "roads", str(broken), url=url))
    assert outputs[-1].returncode != 0
    outputs.append(run_cli("db", "restore", str(tmp_path / "missing.dump"), url=url))
    for result in outputs:
        assert secret not in result.stdout + result.stderr
    with psycopg.connect(db) as conn:
        journal = conn.execute("SELECT string_agg(j::text, '|') FROM patrimoine_sys.import_job j").fetchone()[0]
    assert "broken.geojson" in journal and secret not in journal
    # the server's log, on a request that makes it log: tests/test_service_strain.py
