"""`gis-patrimoine db …`: the local cluster, the schema, backups, status."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from psycopg import sql
from rich.table import Table

from gis_patrimoine.cli.common import console, fail, show
from gis_patrimoine.db import cluster
from gis_patrimoine.db.connection import connect, database_url, ensure_database
from gis_patrimoine.db.migrations import MigrationError, applied_ids, migrate, migration_ids, stored_srid
from gis_patrimoine.settings import get_settings

db_app = typer.Typer(help="The database: local cluster, schema, status.", no_args_is_help=True)


@db_app.command("up")
def db_up() -> None:
    """Create (first time) and start the local PostgreSQL cluster. Nothing to do with DATABASE_URL."""
    settings = get_settings()
    if settings.database_url:
        console.print("DATABASE_URL is set: using that server, the local cluster is not started.")
        return
    try:
        state = cluster.up(settings)
        ensure_database(database_url(settings))
    except cluster.ClusterError as exc:
        fail(str(exc))
    console.print(f"Local PostgreSQL running on 127.0.0.1:{state.port} (data in {state.datadir}).")


@db_app.command("down")
def db_down() -> None:
    """Stop the local cluster."""
    try:
        stopped = cluster.down(get_settings())
    except cluster.ClusterError as exc:
        fail(str(exc))
    console.print("Local PostgreSQL stopped." if stopped else "Local PostgreSQL was not running.")


@db_app.command("init")
def db_init(
    srid: Annotated[int | None, typer.Option(help="Storage SRID, a projected CRS in metres (default 2154)")] = None,
) -> None:
    """Create or upgrade the schema, then sync code lists from the catalogue. Safe to run again."""
    try:
        url = database_url()
        ensure_database(url)
        result = migrate(url, srid=srid)
    except (MigrationError, cluster.ClusterError) as exc:
        fail(str(exc))
    if result.applied:
        console.print(f"Applied migrations: {', '.join(result.applied)}", soft_wrap=True)
    for change in result.generated:
        console.print(f"  from the catalogue: {change}", soft_wrap=True)
    if result.functions_changed:
        console.print(
            f"Application functions rebuilt from sql/app/: {', '.join(result.functions_changed)}", soft_wrap=True
        )
    if result.codelist_changes:
        console.print(f"Code lists: {result.codelist_changes} value(s) written")
    if not result.changed:
        console.print(f"Database up to date (storage SRID EPSG:{result.srid}); nothing changed.")


@db_app.command("plan")
def db_plan() -> None:
    """The SQL `db init` would generate from the layer catalogue (new layers, new attributes), without applying it.

    Exits 1 when the catalogue asks for a change db init refuses (a column removed, a type changed), with what to
    do instead."""
    from gis_patrimoine.catalogue import get_catalogue
    from gis_patrimoine.db.layer_migrations import CatalogueChangeRefused, migration_text, next_id, plan

    with connect(database_url()) as conn:
        srid = stored_srid(conn)
        if srid is None or "0018_generated_migrations" not in applied_ids(conn):
            fail("the schema is not at the code's migrations yet: run `gis-patrimoine db init`")
        try:
            layer_plan = plan(conn, get_catalogue(), srid)
        except CatalogueChangeRefused as exc:
            fail(str(exc))
        if not layer_plan:
            console.print("The tables are at the catalogue: db init has nothing to generate.")
            return
        typer.echo(migration_text(next_id(conn), layer_plan))


@db_app.command("backup")
def db_backup(path: Annotated[Path, typer.Argument(help="Backup file to write (pg_dump custom format)")]) -> None:
    """Back up the whole database: inventory, history, journal, results, styles, QGIS project."""
    from gis_patrimoine.db.backup import BackupFailed, backup

    try:
        backup(database_url(), path)
    except BackupFailed as exc:
        fail(str(exc))
    console.print(f"Backed up to {path} ({path.stat().st_size / 1e6:.1f} MB).")


@db_app.command("restore")
def db_restore(path: Annotated[Path, typer.Argument(help="A backup made by `db backup`")]) -> None:
    """Restore a backup into the database (its objects replaced), in one transaction."""
    from gis_patrimoine.db.backup import BackupFailed, restore

    url = database_url()
    try:
        ensure_database(url)
        restore(url, path)
    except BackupFailed as exc:
        fail(str(exc))
    console.print(f"Restored {path}.")


@db_app.command("status")
def db_status() -> None:
    """Where the database is, which migrations are applied, and how many features each layer holds."""
    from gis_patrimoine.catalogue import get_catalogue

    settings = get_settings()
    try:
        url = database_url(settings)
    except cluster.ClusterError as exc:
        fail(str(exc))
    if not settings.database_url:
        state = cluster.load_state(settings)
        running = cluster.is_running(settings, state)
        console.print(f"Local cluster: {'running' if running else 'stopped'} on 127.0.0.1:{state.port}")
        if not running:
            raise typer.Exit(1)
    with connect(url) as conn:
        info = conn.info
        console.print(f"Database: {info.dbname} on {info.host}:{info.port} as {info.user}")
        applied = applied_ids(conn)
        pending = [m for m in migration_ids() if m not in applied]
        console.print(
            f"Migrations: {len(applied)} applied" + (f", pending: {', '.join(pending)}" if pending else ", up to date"),
            soft_wrap=True,
        )
        srid = stored_srid(conn)
        if srid is None:
            console.print("Schema not created yet: run `gis-patrimoine db init`.")
            raise typer.Exit(1)
        console.print(f"Storage SRID: EPSG:{srid}")
        generated = _catalogue_pending(conn, srid)
        table = Table("layer", "features", "data version")
        for layer in get_catalogue().layers.values():
            if conn.execute("SELECT to_regclass(%s) IS NULL", (f"{layer.schema}.{layer.table}",)).fetchone()[0]:
                table.add_row(layer.collection, "no table yet", "-")
                continue
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(layer.qualified)).fetchone()[0]
            version = conn.execute(
                "SELECT version FROM patrimoine_sys.data_version WHERE layer = %s", (layer.table,)
            ).fetchone()
            table.add_row(layer.collection, str(count), str(version[0] if version else "-"))
        show(table)
    if pending or generated:
        raise typer.Exit(1)


def _catalogue_pending(conn, srid: int) -> bool:
    """Say what `db init` would generate from the catalogue (or refuse); whether anything is pending."""
    from gis_patrimoine.catalogue import get_catalogue
    from gis_patrimoine.db.layer_migrations import CatalogueChangeRefused, plan

    if "0018_generated_migrations" not in applied_ids(conn):
        return False  # the numbered migrations are pending: said above
    try:
        changes = plan(conn, get_catalogue(), srid).changes
    except CatalogueChangeRefused as exc:
        console.print(f"Catalogue: {exc}", soft_wrap=True)
        return True
    if changes:
        console.print("Catalogue: db init would generate: " + "; ".join(changes), soft_wrap=True)
    return bool(changes)
