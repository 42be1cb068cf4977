"""Schema migrations with yoyo, from the versioned SQL files under `sql/`, then the application schema.

Tables, columns and data change through numbered migrations, applied once each. The application schema
(`patrimoine_app`: functions and trigger functions, no data) is rebuilt from `sql/app/`, one file per
function, at every `db init`, as TEKSI does: a function is changed by editing its file, never by a later
migration, and a function whose file is removed is dropped.

The migration files are templates: `{{srid}}` is replaced by the storage SRID chosen at the first `db init` and
recorded in `patrimoine_sys.setting`. yoyo identifies migrations by file name, so rendering does not change
their identity. yoyo's own bookkeeping tables live in `patrimoine_sys`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from pyproj import CRS
from pyproj.exceptions import CRSError

from gis_patrimoine.catalogue import Catalogue, get_catalogue
from gis_patrimoine.db import layer_migrations
from gis_patrimoine.db.codelists import sync_codelists
from gis_patrimoine.settings import DEFAULT_SRID, get_settings

SYS_SCHEMA = "patrimoine_sys"
APP_SCHEMA = "patrimoine_app"
FUNCTIONS = """
    SELECT p.oid::regprocedure::text, p.proname, pg_get_functiondef(p.oid)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'patrimoine_app'
"""


class MigrationError(RuntimeError):
    """The database cannot be brought to the current schema; the message says why and what to do."""


@dataclass
class InitResult:
    srid: int
    applied: list[str] = field(default_factory=list)
    codelist_changes: int = 0
    functions_changed: list[str] = field(default_factory=list)  # created, replaced or dropped
    generated: list[str] = field(default_factory=list)  # what the catalogue's generated migration did

    @property
    def changed(self) -> bool:
        return bool(self.applied or self.codelist_changes or self.functions_changed)


def check_storage_srid(srid: int) -> CRS:
    """Storage must be a projected CRS in metres: lengths and areas are computed in it."""
    try:
        crs = CRS.from_epsg(srid)
    except CRSError as exc:
        raise MigrationError(f"EPSG:{srid} is not a known coordinate reference system") from exc
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    if not crs.is_projected or unit not in ("metre", "meter"):
        raise MigrationError(
            f"EPSG:{srid} ({crs.name}) cannot be the storage SRID: gis-patrimoine stores lengths and "
            "areas in metres and needs a projected CRS in metres, such as EPSG:2154 (Lambert-93, the default) or a "
            "CC zone (EPSG:3942-3950). Data in any CRS can still be imported: it is reprojected."
        )
    return crs


def _yoyo_url(url: str) -> str:
    """yoyo wants its driver in the scheme and takes `schema` as a query parameter."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("schema", f"{SYS_SCHEMA},public")]
    return urlunsplit(parts._replace(scheme="postgresql+psycopg", query=urlencode(query)))


def stored_srid(conn: psycopg.Connection) -> int | None:
    exists = conn.execute("SELECT to_regclass('patrimoine_sys.setting') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    row = conn.execute("SELECT value FROM patrimoine_sys.setting WHERE key = 'srid'").fetchone()
    return int(row[0]) if row else None


def migration_ids(migrations_dir: Path | None = None) -> list[str]:
    """The migrations the code knows, in order."""
    return sorted(
        p.stem
        for p in (migrations_dir or get_settings().migrations_dir).glob("[0-9]*.sql")
        if not p.stem.endswith(".rollback")
    )


def applied_ids(conn: psycopg.Connection) -> list[str]:
    exists = conn.execute("SELECT to_regclass('patrimoine_sys._yoyo_migration') IS NOT NULL").fetchone()[0]
    if not exists:
        return []
    return [r[0] for r in conn.execute("SELECT migration_id FROM patrimoine_sys._yoyo_migration ORDER BY 1")]


def _render(migrations_dir: Path, srid: int, target_dir: Path, upto: str | None) -> None:
    for path in sorted(migrations_dir.glob("*.sql")):
        if upto is not None and path.stem.split(".")[0] > upto:
            continue
        (target_dir / path.name).write_text(path.read_text(encoding="utf-8").replace("{{srid}}", str(srid)))


@contextmanager
def _migration_lock(url: str) -> Iterator[None]:
    """One migration at a time, through a session advisory lock that dies with its holder.

    yoyo's own lock is a row in a table, which stays behind when a process is killed; while we hold the
    advisory lock no other migration can be running, so such a row is stale and is cleared.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('gis_patrimoine.migrate'))")
        if conn.execute("SELECT to_regclass('patrimoine_sys.yoyo_lock') IS NOT NULL").fetchone()[0]:
            conn.execute("DELETE FROM patrimoine_sys.yoyo_lock")
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('gis_patrimoine.migrate'))")


def app_files(migrations_dir: Path | None = None) -> list[Path]:
    """The application schema's files, one per function (its name), in `sql/app/`."""
    return sorted(((migrations_dir or get_settings().migrations_dir) / "app").glob("*.sql"))


def rebuild_application(conn: psycopg.Connection, migrations_dir: Path | None = None, drop: bool = True) -> list[str]:
    """Create or replace every function of `sql/app/` and, with `drop`, drop those no file defines, in the
    caller's transaction. Run before the migrations too (without `drop`): they use these functions (defaults,
    checks, triggers) and no longer define them.

    Returns the functions that changed. A function still used (by a trigger, say) cannot be dropped: the error
    names what uses it."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS patrimoine_app")
    conn.execute("GRANT USAGE ON SCHEMA patrimoine_app TO PUBLIC")
    rows = conn.execute(FUNCTIONS).fetchall()
    before = {sig: body for sig, _, body in rows}
    files = app_files(migrations_dir)
    # bodies are checked when they run: a function may name a table that a migration is about to create
    conn.execute("SET LOCAL check_function_bodies = off")
    current = {body.strip().rstrip(";") for _, _, body in rows}
    for path in files:
        text = path.read_text(encoding="utf-8")
        if text.strip().rstrip(";").strip() not in current:  # as the database already has it: left alone, so a
            conn.execute(text)  # no-op init needs no ownership of the functions (a gp_admin login)
    names = {path.stem for path in files}
    for sig, name, _ in conn.execute(FUNCTIONS).fetchall() if drop else []:
        if name not in names:
            try:
                with conn.transaction():
                    conn.execute(f"DROP FUNCTION {sig}")
            except psycopg.errors.DependentObjectsStillExist as exc:
                raise MigrationError(
                    f"{sig} has no file in sql/app/ any more but is still used: {exc.diag.message_detail}. "
                    "Drop what uses it in a migration first, or keep its file."
                ) from exc
    after = {sig: body for sig, _, body in conn.execute(FUNCTIONS)}
    return sorted(sig for sig in before.keys() | after.keys() if before.get(sig) != after.get(sig))


def apply_catalogue(url: str, catalogue: Catalogue, srid: int) -> tuple[str, list[str]] | None:
    """Generate and apply, through yoyo, the migration that brings the asset tables to the catalogue (new layers,
    new attributes; db/layer_migrations.py). Returns its id and its changes, or None when there was nothing to do."""
    with tempfile.TemporaryDirectory(prefix="gis-patrimoine-layers-") as tmp, _migration_lock(url):
        with psycopg.connect(url) as conn:
            try:
                layer_plan = layer_migrations.plan(conn, catalogue, srid)
            except layer_migrations.CatalogueChangeRefused as exc:
                raise MigrationError(str(exc)) from exc
            if not layer_plan:
                return None
            migration_id = layer_migrations.next_id(conn)
        (Path(tmp) / f"{migration_id}.sql").write_text(layer_migrations.migration_text(migration_id, layer_plan))
        from yoyo import get_backend, read_migrations  # here: an import or an export never loads yoyo

        backend = get_backend(_yoyo_url(url))
        try:
            with backend.lock():
                pending = backend.to_apply(read_migrations(tmp))
                if not pending:
                    raise MigrationError(
                        f"{migration_id} is already in yoyo's history but not in patrimoine_sys.generated_migration:"
                        " the two tables disagree (a partial restore?); restore them together, then run db init"
                    )
                backend.apply_migrations(pending)
        except psycopg.Error as exc:  # yoyo applies it in one transaction: nothing of it stays
            raise MigrationError(
                f"the migration generated from the catalogue ({migration_id}) failed and was rolled back: "
                f"{str(exc).strip()}. `gis-patrimoine db plan` shows its SQL."
            ) from exc
        finally:
            backend.connection.close()
    return migration_id, layer_plan.changes


def migrate(
    url: str, srid: int | None = None, upto: str | None = None, catalogue: Catalogue | None = None
) -> InitResult:
    """Bring the database at `url` to the current schema (or up to migration `upto`), then sync code lists.

    On an up-to-date database this changes nothing.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        current = stored_srid(conn)
        if current is not None and srid is not None and srid != current:
            raise MigrationError(
                f"this database stores geometries in EPSG:{current}; it cannot be re-initialised in "
                f"EPSG:{srid}. Export the data, create a new database with `db init --srid N` and import it there."
            )
        srid = current or srid or DEFAULT_SRID
        check_storage_srid(srid)
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SYS_SCHEMA}")

    settings = get_settings()
    with tempfile.TemporaryDirectory(prefix="gis-patrimoine-sql-") as tmp, _migration_lock(url):
        with psycopg.connect(url) as conn:  # the functions first: the migrations use them
            rebuilt = rebuild_application(conn, settings.migrations_dir, drop=False)
        _render(settings.migrations_dir, srid, Path(tmp), upto)
        from yoyo import get_backend, read_migrations

        migrations = read_migrations(tmp)
        backend = get_backend(_yoyo_url(url))
        try:
            with backend.lock():
                pending = backend.to_apply(migrations)
                applied = [m.id for m in pending]
                backend.apply_migrations(pending)
        finally:
            backend.connection.close()

    result = InitResult(srid=srid, applied=applied, functions_changed=rebuilt)
    if upto is None:
        from gis_patrimoine.qgis.styles import write_styles

        generated = apply_catalogue(url, catalogue or get_catalogue(), srid)
        if generated:
            result.applied.append(generated[0])
            result.generated = generated[1]
        with _migration_lock(url), psycopg.connect(url) as conn:
            dropped = rebuild_application(conn, settings.migrations_dir)
            result.functions_changed = sorted({*rebuilt, *dropped})
            result.codelist_changes = sync_codelists(conn, catalogue or get_catalogue())
            write_styles(conn, catalogue or get_catalogue())
    return result
