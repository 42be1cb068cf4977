"""Undo from the history: bring back a deleted feature, or a feature as it was at an earlier change.

The history keeps every row's exact values (geometry as hex EWKB): an update's old values and changes, a
deletion's row; an insertion's values are the row itself until its next change records them as old values
(`patrimoine_app.history_state`, sql/app/). A restore re-inserts (or re-writes) those values with the feature's
own id and uuid: it comes back identical, and the restore itself is recorded in the history like any other
change, under the login (and API user) who made it.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from gis_patrimoine.catalogue import Layer, get_catalogue


class NothingToRestore(LookupError):
    """No such feature or version in the history; the message says what exists."""


def _columns(layer: Layer) -> list[str]:
    return [a.name for a in layer.attributes if not a.generated] + ["geom"]


def _reinsert(conn: psycopg.Connection, layer: Layer, values: dict) -> None:
    """Insert a row with its stored values, its own id and uuid included."""
    cols = sql.SQL(", ").join(map(sql.Identifier, _columns(layer)))
    conn.execute(
        sql.SQL(
            "INSERT INTO {t} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM jsonb_populate_record(NULL::{t}, %s)"
        ).format(t=layer.qualified, c=cols),
        (Jsonb(values),),
    )


def versions(conn: psycopg.Connection, layer: Layer, feature_id: str) -> list[tuple]:
    """(history id, operation, when, login, API user, changed fields) of a feature, oldest first."""
    return conn.execute(
        "SELECT id, operation, changed_at, db_user, app_user, changed_fields FROM patrimoine_sys.history "
        "WHERE layer = %s AND feature_id = %s ORDER BY id",
        (layer.table, str(feature_id)),
    ).fetchall()


def restore(
    conn: psycopg.Connection,
    collection: str,
    feature_id: str,
    version: int | None = None,
    user: str | None = None,
    authorise: Callable[[list[str | None]], None] | None = None,
) -> str:
    """Restore a feature: deleted → re-inserted as it was; `version` (a history id) → its values then.
    Returns what was done. One transaction; rights are those of the login, and `authorise` (the API's account)
    is asked, inside it, about the commune the feature is in now and the one it goes back to: raising there
    leaves everything as it was."""
    layer = get_catalogue().layer(collection)
    if layer.kind != "asset":
        raise NothingToRestore(f"{layer.collection} have no history to restore from")
    cols = _columns(layer)
    with conn.transaction():
        if user:
            conn.execute("SELECT set_config('gis_patrimoine.user', %s, true)", (user,))
        exists = conn.execute(  # locked: the commune checked is the one the restore changes
            sql.SQL("SELECT commune_insee FROM {} WHERE {} = %s FOR UPDATE").format(
                layer.qualified, sql.Identifier(layer.key)
            ),
            (feature_id,),
        ).fetchone()
        if version is None:
            if exists:
                raise NothingToRestore(
                    f"{layer.collection} {feature_id} exists; give --version (a history id) to bring back an "
                    "earlier state"
                )
            row = conn.execute(
                "SELECT old_values FROM patrimoine_sys.history WHERE layer = %s AND feature_id = %s "
                "AND operation = 'DELETE' ORDER BY id DESC LIMIT 1",
                (layer.table, str(feature_id)),
            ).fetchone()
            if row is None:
                raise NothingToRestore(f"no deletion of {layer.collection} {feature_id} in the history")
            if authorise:
                authorise([row[0].get("commune_insee")])
            _reinsert(conn, layer, row[0])
            return f"{layer.collection} {feature_id} restored as it was when deleted"
        # the feature's whole state after that change (history_state: an insertion's values, an update's
        # changes over the row before it, a deletion's row)
        row = conn.execute(
            "SELECT patrimoine_app.history_state(id), operation FROM patrimoine_sys.history "
            "WHERE id = %s AND layer = %s AND feature_id = %s",
            (version, layer.table, str(feature_id)),
        ).fetchone()
        if row is None:
            known = ", ".join(str(v[0]) for v in versions(conn, layer, feature_id)) or "none"
            raise NothingToRestore(f"no version {version} of {layer.collection} {feature_id}; its versions: {known}")
        if row[0] is None:  # an insertion whose row went without a trace (its key changed, or triggers were off)
            raise NothingToRestore(f"version {version} of {layer.collection} {feature_id} has no values left")
        if authorise:
            authorise([exists[0] if exists else None, row[0].get("commune_insee")])
        settable = [c for c in cols if c != layer.key]
        if exists:
            conn.execute(
                sql.SQL(
                    "UPDATE {t} SET ({c}) = (SELECT {c} FROM jsonb_populate_record(NULL::{t}, %s)) WHERE {k} = %s"
                ).format(
                    t=layer.qualified, c=sql.SQL(", ").join(map(sql.Identifier, settable)), k=sql.Identifier(layer.key)
                ),
                (Jsonb(row[0]), feature_id),
            )
        else:
            _reinsert(conn, layer, row[0])
        return f"{layer.collection} {feature_id} brought back to version {version}"
