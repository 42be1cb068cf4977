"""Every error answer of the service, in one shape: `{"code": status, "description": …}`, and one map from
exceptions to statuses, used by the app's handlers and by the ASGI layers that answer before FastAPI (the
Guard, the tile fast path).
"""

from __future__ import annotations

import logging

import psycopg
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout

from gis_patrimoine.analysis.errors import AnalysisRefused
from gis_patrimoine.collection.errors import NotFound, QueryError
from gis_patrimoine.db.health import Unavailable

log = logging.getLogger("gis_patrimoine.api")
RETRY = {"Retry-After": "2"}


def problem(status: int, description: str, headers: dict[str, str] | None = None, **extra: object) -> JSONResponse:
    """The error answer: status, description (what to change), and any fields that help a client."""
    return JSONResponse({"code": status, "description": description, **extra}, status_code=status, headers=headers)


def _validation(exc: RequestValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())


def error_response(exc: Exception, where: str = "") -> JSONResponse:
    """The answer to an exception, by its kind (the first that matches):

    HTTPException → its status · request validation, QueryError → 400 · NotFound → 404 · AnalysisRefused
    (nothing to plan, zones that cannot be balanced…) → 422 · Unavailable, OperationalError, PoolTimeout →
    503 + Retry-After 2 · QueryCanceled (statement timeout) → 503 + Retry-After 5 · anything else → 500,
    logged here with its trace, never sent to the client."""
    if isinstance(exc, HTTPException):
        return problem(exc.status_code, str(exc.detail), exc.headers)
    if isinstance(exc, RequestValidationError):
        return problem(400, _validation(exc))
    if isinstance(exc, QueryError):
        return problem(400, str(exc))
    if isinstance(exc, NotFound):
        return problem(404, str(exc))
    if isinstance(exc, AnalysisRefused):
        return problem(422, str(exc))
    if isinstance(exc, Unavailable):
        return problem(503, str(exc), RETRY)
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return problem(503, "the request took too long; narrow it (bbox, limit, filter)", {"Retry-After": "5"})
    if isinstance(exc, psycopg.OperationalError | PoolTimeout):
        return problem(503, "the database is unavailable; retry shortly", RETRY)
    log.error("unexpected error on %s", where or "a request", exc_info=exc)
    return problem(500, "internal error; it has been logged")


HANDLED = (
    HTTPException,
    RequestValidationError,
    QueryError,
    NotFound,
    AnalysisRefused,
    Unavailable,
    psycopg.errors.QueryCanceled,
    psycopg.OperationalError,
    PoolTimeout,
    Exception,
)
