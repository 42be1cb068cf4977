"""Which database to use, and connections to it.

`DATABASE_URL` wins; otherwise the local cluster's database. Both are libpq URLs.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from gis_patrimoine.db import cluster
from gis_patrimoine.settings import Settings, get_settings


def database_url(settings: Settings | None = None) -> str:
    """The URL of the gis-patrimoine database (no server is started here)."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    state = cluster.load_state(settings)
    if state is None:
        raise cluster.ClusterError(
            "no database configured: run `gis-patrimoine db up` to start the local cluster, "
            "or set DATABASE_URL to an existing PostGIS"
        )
    return state.url + settings.local_db_name


def with_dbname(url: str, dbname: str) -> str:
    """The same server, another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def dbname_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or psycopg.conninfo.conninfo_to_dict(url).get("dbname", "")


def connection_params(url: str) -> dict[str, str]:
    """host, port, user and dbname (the local defaults filled in), password when given: for the tools that take
    a URL apart (pg_dump, QGIS data sources, pg_service.conf)."""
    given = {k: str(v) for k, v in psycopg.conninfo.conninfo_to_dict(url).items() if v is not None}
    return {"host": "localhost", "port": "5432", "user": "postgres", "dbname": "postgres", **given}


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    return psycopg.connect(url or database_url(), **kwargs)


def ensure_database(url: str) -> bool:
    """Create the database if it does not exist (through the server's `postgres` database).

    Returns whether it was created.
    """
    try:
        psycopg.connect(url, connect_timeout=10).close()
        return False
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    name = dbname_of(url)
    with psycopg.connect(with_dbname(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True
