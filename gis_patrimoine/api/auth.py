"""Who is calling: a bearer token, looked up by its SHA-256 (tokens themselves are never stored)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import psycopg
from fastapi import HTTPException, Request


@dataclass(frozen=True)
class Account:
    username: str
    role: str
    communes: tuple[str, ...]

    def may_edit(self, commune: str) -> bool:
        return self.role in ("manager", "admin") or (self.role == "editor" and commune in self.communes)

    def authorise(self, *communes: str | None) -> None:
        """403 unless this account may write the assets of every commune named (None: no commune to check)."""
        if self.role == "reader":
            raise HTTPException(403, f"{self.username} may only read")
        for commune in communes:
            if commune is not None and not self.may_edit(commune):
                raise HTTPException(403, f"{self.username} may not edit the assets of commune {commune}")


def new_token() -> tuple[str, str]:
    """A fresh token and the hash to store."""
    token = "gp_" + secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()


async def account(request: Request, conn: psycopg.AsyncConnection) -> Account:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            401, "this operation needs a token: Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
        )
    digest = hashlib.sha256(token.strip().encode()).hexdigest()
    cur = await conn.execute(
        "SELECT username, role, communes FROM patrimoine_sys.api_token WHERE token_sha256 = %s AND revoked_at IS NULL",
        (digest,),
    )
    row = await cur.fetchone()
    if row is None:
        raise HTTPException(401, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"})
    return Account(row[0], row[1], tuple(row[2]))
