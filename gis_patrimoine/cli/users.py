"""`gis-patrimoine users ...`: API accounts by token, and database logins (QGIS, psql) in the same four roles."""

from __future__ import annotations

from typing import Annotated

import psycopg
import typer
from rich.table import Table

from gis_patrimoine.cli.common import console, database_url_or_exit, show

users_app = typer.Typer(
    help="API accounts: tokens for readers, editors (per commune), managers, admins.", no_args_is_help=True
)


@users_app.command("token")
def token_cmd(
    username: Annotated[str, typer.Argument(help="Who the token is for (recorded in the history)")],
    role: Annotated[str, typer.Option(help="reader, editor, manager or admin")] = "editor",
    commune: Annotated[list[str], typer.Option(help="INSEE code of a commune an editor may edit")] = [],  # noqa: B006
) -> None:
    """Create a token; it is printed once and only its hash is kept."""
    from gis_patrimoine.api.auth import new_token  # FastAPI's import, for this command only

    if role not in ("reader", "editor", "manager", "admin"):
        raise typer.BadParameter("use reader, editor, manager or admin", param_hint="--role")
    if role == "editor" and not commune:
        raise typer.BadParameter("an editor needs at least one --commune", param_hint="--commune")
    token, digest = new_token()
    with psycopg.connect(database_url_or_exit()) as conn:
        known = {r[0] for r in conn.execute("SELECT insee FROM patrimoine.commune WHERE insee = ANY(%s)", (commune,))}
        if missing := sorted(set(commune) - known):
            raise typer.BadParameter(f"unknown commune(s) {', '.join(missing)}", param_hint="--commune")
        token_id = conn.execute(
            "INSERT INTO patrimoine_sys.api_token (token_sha256, username, role, communes) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            (digest, username, role, commune),
        ).fetchone()[0]
    console.print(f"Token {token_id} for {username} ({role}): {token}", highlight=False)


@users_app.command("revoke")
def revoke_cmd(token_id: Annotated[int, typer.Argument(help="The token's number (see `users list`)")]) -> None:
    """Revoke a token at once."""
    with psycopg.connect(database_url_or_exit()) as conn:
        done = conn.execute(
            "UPDATE patrimoine_sys.api_token SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", (token_id,)
        ).rowcount
    console.print(f"Token {token_id} revoked." if done else f"No active token {token_id}.")


@users_app.command("list")
def list_cmd() -> None:
    """The tokens (never the tokens themselves)."""
    table = Table("id", "user", "role", "communes", "created", "revoked")
    with psycopg.connect(database_url_or_exit()) as conn:
        for row in conn.execute(
            "SELECT id, username, role, array_to_string(communes, ' '), created_at::date, "
            "revoked_at::date FROM patrimoine_sys.api_token ORDER BY id"
        ):
            table.add_row(*(str(v) if v is not None else "" for v in row))
    show(table)


GROUPS = {"reader": "gp_reader", "editor": "gp_editor", "manager": "gp_manager", "admin": "gp_admin"}


@users_app.command("create")
def create_cmd(
    username: Annotated[str, typer.Argument(help="Database login for QGIS or psql")],
    role: Annotated[str, typer.Option(help="reader, editor, manager or admin")] = "editor",
    commune: Annotated[list[str], typer.Option(help="INSEE code an editor may edit (repeat)")] = [],  # noqa: B006
    password: Annotated[str | None, typer.Option(help="Password (else set one with ALTER ROLE)")] = None,
) -> None:
    """A database login in one of the four roles; an editor writes only the assets of its communes."""
    from psycopg import sql

    if role not in GROUPS:
        raise typer.BadParameter("use reader, editor, manager or admin", param_hint="--role")
    if role == "editor" and not commune:
        raise typer.BadParameter("an editor needs at least one --commune", param_hint="--commune")
    with psycopg.connect(database_url_or_exit()) as conn:
        known = {r[0] for r in conn.execute("SELECT insee FROM patrimoine.commune WHERE insee = ANY(%s)", (commune,))}
        if missing := sorted(set(commune) - known):
            raise typer.BadParameter(f"unknown commune(s) {', '.join(missing)}", param_hint="--commune")
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,)).fetchone()
        ident = sql.Identifier(username)
        if not exists:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
        if password:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, sql.Literal(password)))
        for other in GROUPS.values():
            conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(other), ident))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(GROUPS[role]), ident))
        conn.execute("DELETE FROM patrimoine_sys.user_commune WHERE username = %s", (username,))
        for code in commune:
            conn.execute("INSERT INTO patrimoine_sys.user_commune VALUES (%s, %s)", (username, code))
    where = f" for {', '.join(commune)}" if commune else ""
    console.print(f"Database login {username}: {role}{where}.", highlight=False)


@users_app.command("logins")
def logins_cmd() -> None:
    """Database logins in the four roles, with their communes."""
    table = Table("login", "role", "communes")
    with psycopg.connect(database_url_or_exit()) as conn:
        for login, group, communes in conn.execute(
            "SELECT m.rolname, g.rolname, (SELECT string_agg(commune_insee, ' ' ORDER BY commune_insee) "
            "FROM patrimoine_sys.user_commune u WHERE u.username = m.rolname) FROM pg_auth_members a "
            "JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member "
            "WHERE g.rolname = ANY(%s) AND m.rolcanlogin ORDER BY 1",
            (list(GROUPS.values()),),
        ):
            table.add_row(login, group.removeprefix("gp_"), communes or "")
    show(table)
