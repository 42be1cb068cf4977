"""/analysis: workload, rounds (compute, list, read, export), lookup.

An analysis that cannot be done as asked (errors.AnalysisRefused) is answered 422 by the app's handler.
Computing rounds writes a plan, so it needs a token (any role: route planners read the inventory but plan
rounds); it runs in a worker thread on a connection of its own, outside the read-only pool, and the solver
uses every core. Stored plans are also the `rounds` and `round_stops` collections and tiles.
"""

from __future__ import annotations

from typing import Annotated

import psycopg
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from gis_patrimoine.analysis import export
from gis_patrimoine.analysis.lookup import lookup as lookup_fn
from gis_patrimoine.analysis.rounds import RoundRequest, plan_rounds, store
from gis_patrimoine.analysis.workload import workload as workload_fn
from gis_patrimoine.api.auth import account
from gis_patrimoine.api.deps import Conn, Service, records
from gis_patrimoine.api.features import base_url
from gis_patrimoine.api.runtime import Rt, Runtime

router = APIRouter(prefix="/analysis")


class RoundsBody(BaseModel):
    """What to plan: a service (and activity), communes, depots, crews and days."""

    service: Service
    activity: str | None = Field(None, description="Default: the service's first activity (e.g. inspection)")
    communes: list[str] = Field(default_factory=list, description="INSEE codes; empty: all communes")
    depots: list[int] = Field(default_factory=list, description="Depot ids; empty: those serving the communes")
    crews: int | None = Field(None, ge=1, le=200, description="Crews per depot; default: each depot's own")
    days: int | None = Field(None, ge=1, le=366, description="Working days for the pass; default: as many as needed")
    label: str | None = None
    seconds: float | None = Field(None, gt=0, le=600, description="Solver time; default: the territory's")
    strict: bool = Field(
        False, description="Refuse the plan (422) if any asset cannot be reached; default: plan the rest, list them"
    )


def _run(url: str, body: RoundsBody, user: str) -> int:
    with psycopg.connect(url) as conn:
        plan = plan_rounds(conn, RoundRequest(**body.model_dump()))
        return store(conn, plan, user=user)


@router.post("/rounds", status_code=201, summary="Compute and store the rounds of one pass of an activity")
async def create_rounds(request: Request, rt: Rt, body: RoundsBody, conn: Conn) -> JSONResponse:
    acct = await account(request, conn)
    plan_id = await run_in_threadpool(_run, rt.database_url, body, acct.username)
    summary = await run_in_threadpool(rt.read, export.plan_summary, plan_id)
    url = f"{base_url(request)}/analysis/rounds/{plan_id}"
    summary["links"] = _links(url)
    return JSONResponse(summary, status_code=201, headers={"Location": url})


def _links(url: str) -> list[dict]:
    return [
        {"rel": "self", "href": url, "type": "application/json"},
        {"rel": "alternate", "href": f"{url}.geojson", "type": "application/geo+json"},
        {"rel": "alternate", "href": f"{url}.gpx", "type": "application/gpx+xml"},
        {"rel": "describedby", "href": f"{url}/sheet", "type": "text/html", "title": "round sheets"},
    ]


@router.get("/rounds", summary="Stored round plans, latest first")
async def list_rounds(request: Request, conn: Conn) -> JSONResponse:
    cur = await conn.execute(
        "SELECT id, service, activity, label, communes, summary, created_at FROM analysis.round_plan "
        "ORDER BY id DESC LIMIT 200"
    )
    plans = [
        {
            "id": r[0],
            "service": r[1],
            "activity": r[2],
            "label": r[3],
            "communes": r[4],
            "summary": {k: v for k, v in r[5].items() if k not in ("warnings", "solver")},
            "created_at": r[6].isoformat(),
            "links": _links(f"{base_url(request)}/analysis/rounds/{r[0]}"),
        }
        for r in await cur.fetchall()
    ]
    return JSONResponse({"plans": plans})


async def _plan_call(rt: Runtime, fn, *args):
    try:
        return await run_in_threadpool(rt.read, fn, *args)
    except export.NoSuchPlan as exc:
        raise HTTPException(404, str(exc)) from exc


@router.get("/rounds/{plan_id}.geojson", summary="A plan's rounds and stops as GeoJSON")
async def rounds_geojson(rt: Rt, plan_id: int) -> JSONResponse:
    return JSONResponse(await _plan_call(rt, export.geojson, plan_id), media_type="application/geo+json")


@router.get("/rounds/{plan_id}.gpx", summary="A plan's rounds as GPX tracks and waypoints")
async def rounds_gpx(rt: Rt, plan_id: int, round: Annotated[int | None, Query(ge=1, le=100_000)] = None) -> Response:
    text = await _plan_call(rt, export.gpx, plan_id, round)
    return Response(
        text,
        media_type="application/gpx+xml",
        headers={"Content-Disposition": f'attachment; filename="rounds-{plan_id}.gpx"'},
    )


@router.get("/rounds/{plan_id}/sheet", summary="Printable round sheets (map and ordered stops)")
async def rounds_sheet(
    rt: Rt, plan_id: int, round: Annotated[int | None, Query(ge=1, le=100_000)] = None
) -> HTMLResponse:
    return HTMLResponse(await _plan_call(rt, export.sheet, plan_id, round))


@router.get("/rounds/{plan_id}", summary="A plan: parameters, totals and its rounds")
async def rounds_plan(request: Request, rt: Rt, plan_id: int) -> JSONResponse:
    summary = await _plan_call(rt, export.plan_summary, plan_id)
    summary["links"] = _links(f"{base_url(request)}/analysis/rounds/{plan_id}")
    return JSONResponse(summary)


@router.get("/lookup", summary="Which depot and round serve a place or an asset")
async def lookup(
    request: Request,
    rt: Rt,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    collection: str | None = None,
    id: int | None = None,
    service: Service | None = None,
    plan: int | None = None,
) -> JSONResponse:
    from gis_patrimoine.analysis.lookup import target, zone_lookup

    try:
        where = target(lon, lat, collection, id)
        answers = await run_in_threadpool(rt.read, lookup_fn, where, service, plan)
        zones = await run_in_threadpool(rt.read, zone_lookup, where, service)
    except (ValueError, KeyError) as exc:
        raise HTTPException(400, str(exc)) from exc
    except psycopg.errors.InternalError_ as exc:  # PostGIS cannot project the point: far off the territory
        raise HTTPException(400, "this point cannot be placed in the territory's coordinate system") from exc
    if not answers and not zones:
        raise HTTPException(
            404, "no stored round or zone serves this; compute them first (POST /analysis/rounds or /analysis/zones)"
        )
    return JSONResponse({"answers": answers, "zones": zones})


@router.get("/network", summary="The network repair report: parts, roads not driven, dangles, near misses")
async def network(
    request: Request,
    rt: Rt,
    far: Annotated[float, Query(gt=0, le=100_000, description="Report assets farther than this from roads (m)")] = 150,
    issues: Annotated[int, Query(ge=0, le=100_000, description="Issues listed (all: collection network_issues)")] = 200,
) -> JSONResponse:
    from gis_patrimoine.analysis.network import network_report

    url = rt.database_url
    report = await run_in_threadpool(_write, url, network_report, far, issues)  # may (re)build the network first
    report["links"] = [
        {"rel": "related", "href": f"{base_url(request)}/collections/network_issues", "type": "application/json"}
    ]
    return JSONResponse(report)


@router.get("/workload", summary="Annual on-site hours per commune, service and activity")
async def workload(
    request: Request, rt: Rt, commune: Annotated[list[str] | None, Query()] = None, service: Service | None = None
) -> JSONResponse:
    rows = await run_in_threadpool(rt.read, workload_fn, communes=commune or None, service=service)
    return JSONResponse({"workload": [r.__dict__ for r in rows]})


class CompareBody(BaseModel):
    """A pooling scenario: one service (and activity) over all communes."""

    service: Service
    activity: str | None = None
    communes: list[str] = Field(default_factory=list, description="INSEE codes; empty: all communes")
    iterations: int = Field(300, ge=10, le=20_000, description="Solver iterations per round problem")


def _compare(url: str, body: CompareBody) -> int:
    from gis_patrimoine.analysis.scenarios import compare, store

    with psycopg.connect(url) as conn:
        comparison = compare(conn, body.service, body.activity, body.communes or None, iterations=body.iterations)
        return store(conn, comparison)


@router.post("/scenarios", status_code=201, summary='"Each commune alone" vs "pooled" for a service')
async def create_scenario(request: Request, rt: Rt, body: CompareBody, conn: Conn) -> JSONResponse:
    await account(request, conn)
    sid = await run_in_threadpool(_compare, rt.database_url, body)
    cur = await conn.execute("SELECT result FROM analysis.scenario WHERE id = %s", (sid,))
    result = (await cur.fetchone())[0]
    url = f"{base_url(request)}/analysis/scenarios/{sid}"
    return JSONResponse({"id": sid, **result}, status_code=201, headers={"Location": url})


@router.get("/scenarios", summary="Stored scenarios, latest first")
async def list_scenarios(conn: Conn) -> JSONResponse:
    query = (
        "SELECT id, service, activity, result -> 'saving_pct', created_at FROM analysis.scenario ORDER BY id DESC "
        "LIMIT 200"
    )
    keys = ("id", "service", "activity", "saving_pct", "created_at")
    return JSONResponse({"scenarios": await records(conn, query, keys)})


@router.get("/scenarios/{scenario_id}", summary="A scenario: totals alone and pooled, per commune, assumptions")
async def get_scenario(scenario_id: int, conn: Conn) -> JSONResponse:
    cur = await conn.execute("SELECT result FROM analysis.scenario WHERE id = %s", (scenario_id,))
    row = await cur.fetchone()
    if row is None:
        raise HTTPException(404, f"no scenario {scenario_id}; list them at /analysis/scenarios")
    return JSONResponse({"id": scenario_id, **row[0]})


@router.get("/statistics", summary="Per commune and service: assets, size, annual hours, per 1,000 inhabitants")
async def statistics(request: Request, rt: Rt) -> JSONResponse:
    from gis_patrimoine.analysis.statistics import statistics as statistics_fn

    rows = await run_in_threadpool(rt.read, statistics_fn)
    return JSONResponse({"statistics": rows})


class GridBody(BaseModel):
    size_m: float = Field(500.0, ge=50, le=20_000, description="Hexagon side")
    service: Service | None = None


class AreasBody(BaseModel):
    minutes: list[float] = Field(default_factory=lambda: [5.0, 10.0, 15.0], max_length=10)
    service: Service | None = None


class ZonesBody(BaseModel):
    service: Service
    size_m: float = Field(1000.0, ge=100, le=20_000)
    tolerance: float = Field(0.10, gt=0, le=1)
    depots: list[int] = Field(default_factory=list, description="Candidate depots; empty: all serving")


class OpportunitiesBody(BaseModel):
    service: Service
    activity: str | None = None
    top: int = Field(6, ge=1, le=30)


def _write(url: str, fn, *args):
    with psycopg.connect(url) as conn:
        return fn(conn, *args)


@router.post("/grid", status_code=201, summary="Workload density on a hexagonal grid (collection workload_grid)")
async def create_grid(request: Request, rt: Rt, body: GridBody, conn: Conn) -> JSONResponse:
    from gis_patrimoine.analysis.grid import store_grid

    await account(request, conn)
    cells = await run_in_threadpool(_write, rt.database_url, store_grid, body.size_m, body.service)
    return JSONResponse({"cells": cells, "collection": "workload_grid"}, status_code=201)


@router.post("/areas", status_code=201, summary="Isochrones and catchments of the depots (collection depot_areas)")
async def create_areas(request: Request, rt: Rt, body: AreasBody, conn: Conn) -> JSONResponse:
    from gis_patrimoine.analysis.areas import store_areas

    await account(request, conn)
    made = await run_in_threadpool(_write, rt.database_url, store_areas, body.minutes, body.service)
    return JSONResponse({**made, "collection": "depot_areas"}, status_code=201)


@router.post("/zones", status_code=201, summary="Service zones balanced on workload, and the status quo")
async def create_zones(request: Request, rt: Rt, body: ZonesBody, conn: Conn) -> JSONResponse:
    from gis_patrimoine.analysis.zones import zones

    await account(request, conn)
    result = await run_in_threadpool(
        _write, rt.database_url, zones, body.service, body.size_m, body.tolerance, body.depots or None
    )
    return JSONResponse(result, status_code=201)


@router.post("/opportunities", status_code=201, summary="Pairs of communes ranked by what pooling them saves")
async def create_opportunities(request: Request, rt: Rt, body: OpportunitiesBody, conn: Conn) -> JSONResponse:
    from gis_patrimoine.analysis import opportunities

    def run(c: psycopg.Connection) -> list[dict]:
        ranked = opportunities.rank(c, body.service, body.activity, top=body.top)
        opportunities.store(c, ranked, body.service)
        return [{k: v for k, v in m.items() if k != "layer"} for m in ranked]

    await account(request, conn)
    ranked = await run_in_threadpool(_write, rt.database_url, run)
    return JSONResponse({"opportunities": ranked}, status_code=201)


@router.get("/equipment", summary="Equipment held vs machine-days needed, status quo vs pooled; renewals")
async def equipment(request: Request, rt: Rt, age: Annotated[int | None, Query(ge=1, le=100)] = None) -> JSONResponse:
    from gis_patrimoine.analysis.equipment import equipment as equipment_fn
    from gis_patrimoine.analysis.equipment import renewals

    url = rt.database_url
    eq = await run_in_threadpool(_write, url, equipment_fn)  # may (re)build the road network first
    due = await run_in_threadpool(rt.read, renewals, age)
    return JSONResponse({**eq, "renewals": due})


@router.get("/scenarios/{scenario_id}/report", summary="A scenario report for directors (printable HTML)")
async def scenario_report(request: Request, rt: Rt, scenario_id: int) -> HTMLResponse:
    from gis_patrimoine.analysis.report import scenario_report as report_fn

    try:
        return HTMLResponse(await run_in_threadpool(rt.read, report_fn, scenario_id))
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from exc
