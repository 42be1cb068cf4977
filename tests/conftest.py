"""Test harness: a real PostGIS, a migrated template database, and a throwaway clone per test.

The local cluster is started if needed (or the server of DATABASE_URL is used). The template is migrated
once and reused while `sql/` and `layers/` are unchanged; each test gets its own clone, so tests can
commit, fail halfway and run in any order.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from gis_patrimoine.analysis.network import ensure_network
from gis_patrimoine.db import cluster
from gis_patrimoine.db.connection import with_dbname
from gis_patrimoine.db.migrations import migrate
from gis_patrimoine.settings import PROJECT_ROOT, get_settings

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


# Names on a shared server: this checkout's databases and this run's logins, so that two checkouts (or two runs)
# never drop or reuse each other's.
CHECKOUT = hashlib.sha256(str(PROJECT_ROOT.resolve()).encode()).hexdigest()[:6]
RUN = f"{CHECKOUT}{os.getpid()}"  # this checkout's run, by its process: a run that died is recognised later
CLONE = re.compile(rf"_{CHECKOUT}_(\d+)_[0-9a-f]{{8}}$")  # the pid in this checkout's clone names (create_clone)
LOGIN = re.compile(rf"_{CHECKOUT}(\d+)$")  # … and in its login names (login)


def login(name: str) -> str:
    """A database login for this run only (roles are cluster-wide); dropped when the session ends."""
    return f"{name}_{RUN}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _schema_hash() -> str:
    h = hashlib.sha256()
    for folder in ("sql", "layers"):
        for path in sorted(p for p in (PROJECT_ROOT / folder).rglob("*") if p.is_file()):
            h.update(str(path.relative_to(PROJECT_ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:10]


@pytest.fixture(scope="session")
def server_url() -> str:
    """A superuser URL on the test server, ending in the maintenance database."""
    settings = get_settings()
    if settings.database_url:
        return with_dbname(settings.database_url, "postgres")
    state = cluster.up(settings)
    return with_dbname(state.url, "postgres")


def _admin(server_url: str) -> psycopg.Connection:
    return psycopg.connect(server_url, autocommit=True)


def create_clone(server_url: str, template: str | None, prefix: str = "gp_t") -> str:
    name = f"{prefix}_{CHECKOUT}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with _admin(server_url) as conn:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query += sql.SQL(" TEMPLATE {} STRATEGY FILE_COPY").format(sql.Identifier(template))
        conn.execute(query)
    return name


def drop_database(server_url: str, name: str) -> None:
    with _admin(server_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def template_db(server_url: str) -> str:
    """The migrated template, rebuilt only when the schema or the catalogue changed."""
    prefix = f"gp_tpl_{CHECKOUT}_"
    name = prefix + _schema_hash()
    with _admin(server_url) as conn:
        ready = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') = 'ready' FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
        stale = conn.execute(  # this checkout's older templates only: another checkout may share the server
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s) AND datname <> %s", (prefix, name)
        ).fetchall()
    for (old,) in stale:
        drop_database(server_url, old)
    if ready and ready[0]:
        return name
    drop_database(server_url, name)
    with _admin(server_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate(with_dbname(server_url, name))
    with _admin(server_url) as conn:
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS 'ready'").format(sql.Identifier(name)))
    return name


@pytest.fixture
def db_url(server_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for this test alone."""
    name = create_clone(server_url, template_db)
    yield with_dbname(server_url, name)
    drop_database(server_url, name)


@pytest.fixture(scope="session")
def laval_template(server_url: str, template_db: str) -> Iterator[str]:
    """The schema with the 20 Laval communes imported once per run (tests/test_import_real.py imports them
    itself): cloned by the tests that need a real territory."""
    from gis_patrimoine.importer import CommuneOptions, import_communes

    name = create_clone(server_url, template_db, prefix="gp_laval")
    import_communes(with_dbname(server_url, name), CommuneOptions(SHARED_DATA / "laval-agglo" / "COMMUNE.shp"))
    yield name
    drop_database(server_url, name)


@pytest.fixture
def laval_url(server_url: str, laval_template: str) -> Iterator[str]:
    """A fresh database holding the Laval communes, for this test alone."""
    name = create_clone(server_url, laval_template)
    yield with_dbname(server_url, name)
    drop_database(server_url, name)


@pytest.fixture
def empty_db_url(server_url: str) -> Iterator[str]:
    """A fresh database with nothing in it (not even PostGIS)."""
    name = create_clone(server_url, None, prefix="gp_e")
    yield with_dbname(server_url, name)
    drop_database(server_url, name)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url) as connection:
        yield connection


@pytest.fixture(scope="session", autouse=True)
def _run_logins(server_url: str) -> Iterator[None]:
    """Clones and logins of this checkout's runs that died (killed, cancelled) are dropped first; this run's
    logins at the end, after every database that grants them anything is gone."""
    _drop_owned(server_url, lambda pid: not _alive(pid))
    yield
    _drop_owned(server_url, lambda pid: pid == os.getpid(), databases=False)


def _drop_owned(server_url: str, whose, databases: bool = True) -> None:
    with _admin(server_url) as conn:
        names = conn.execute("SELECT datname FROM pg_database").fetchall() if databases else []
        for (name,) in names:
            if (m := CLONE.search(name)) and whose(int(m[1])):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        for (role,) in conn.execute("SELECT rolname FROM pg_roles").fetchall():
            if (m := LOGIN.search(role)) and whose(int(m[1])):
                try:
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
                except psycopg.Error as exc:  # still granted something somewhere: say so, drop the others
                    warnings.warn(f"login {role} not dropped: {exc}", stacklevel=1)


@pytest.fixture(scope="session")
def demo_source(server_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo territory at a small scale, loaded once per run; tests read clones of it, never it."""
    from gis_patrimoine.demo.generate import generate
    from gis_patrimoine.demo.load import load

    name = create_clone(server_url, template_db, prefix="gp_demo_src")
    outdir = tmp_path_factory.mktemp("demo-api")
    generate(outdir, scale=0.3, seed=11)
    load(with_dbname(server_url, name), outdir)
    with psycopg.connect(with_dbname(server_url, name)) as conn:
        ensure_network(conn)  # the road graph is derived data: built here, the read-only clone never needs to
    yield name
    drop_database(server_url, name)


@pytest.fixture(scope="session")
def demo_db(server_url: str, demo_source: str) -> Iterator[str]:
    """The demo, shared by every test that only reads it: the database refuses writes, so a test that writes
    here fails at once instead of changing what the tests after it see (those use `demo_rw`)."""
    name = create_clone(server_url, demo_source, prefix="gp_demo")
    with _admin(server_url) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(sql.Identifier(name)))
    yield with_dbname(server_url, name)
    drop_database(server_url, name)


@pytest.fixture(scope="session")
def api(demo_db: str) -> Iterator[str]:
    """The base URL of a real server over the read-only demo database."""
    from tests.servers import running_server

    with running_server(demo_db) as base:
        yield base


@pytest.fixture(scope="module")
def demo_rw(server_url: str, demo_source: str) -> Iterator[str]:
    """A writable clone of the demo for one module's tests (tokens, stored analyses, edits)."""
    name = create_clone(server_url, demo_source, prefix="gp_demo_rw")
    yield with_dbname(server_url, name)
    drop_database(server_url, name)


@pytest.fixture(scope="module")
def api_rw(demo_rw: str) -> Iterator[str]:
    """A real server over this module's writable demo clone."""
    from tests.servers import running_server

    with running_server(demo_rw) as base:
        yield base


@pytest.fixture
def shared_data() -> Path:

    assert SHARED_DATA.exists(), f"the shared test data are expected at {SHARED_DATA}"
    return SHARED_DATA
