"""What the analyses select: the communes asked, a service's activity, the assets an activity applies to
(alone, or several activities done in one pass) — shared by rounds, scenarios, areas, the diagnostic and the
pooling arrangements."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from gis_patrimoine.analysis.errors import AnalysisRefused
from gis_patrimoine.analysis.workload import units_sql
from gis_patrimoine.catalogue import Activity, Catalogue, Layer, Title


class NothingToDo(AnalysisRefused):
    """The request selects no asset; the message says which service, activity and communes were asked."""


def pick_activity(catalogue: Catalogue, service: str, activity: str | None) -> tuple[Layer, Activity]:
    """The layer and activity a request is about; the first activity of the service when none is named."""
    options = [
        (layer, act)
        for layer in catalogue.asset_layers
        if layer.maintenance and layer.maintenance.service == service
        for act in layer.maintenance.activities
    ]
    if not options:
        services = sorted({la.maintenance.service for la in catalogue.asset_layers if la.maintenance})
        raise NothingToDo(f"unknown service {service!r}; services: {', '.join(services)}")
    for layer, act in options:
        if activity in (None, act.name):
            return layer, act
    names = ", ".join(a.name for _, a in options)
    raise NothingToDo(f"service {service} has no activity {activity!r}; its activities: {names}")


def _where(activity: Activity) -> sql.Composable:
    conditions = [
        sql.SQL("{} = ANY({})").format(sql.Identifier(f), sql.Literal(codes)) for f, codes in activity.where.items()
    ]
    return sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true")


@dataclass(frozen=True)
class Combined:
    """Activities of one layer done in the same pass, at the same stops, by the same crew with the same machine
    (the calendar allows it: a building's safety check with one of its upkeep visits). An asset's time is the sum
    of the activities that apply to it; `units` are minutes (so `minutes` is 1)."""

    parts: tuple[Activity, ...]
    per: str = "item"
    minutes: float = 1.0
    where: dict = field(default_factory=dict)
    quantity: None = None

    @property
    def name(self) -> str:
        return "+".join(p.name for p in self.parts)

    @property
    def title(self) -> Title:
        return Title(fr=" + ".join(p.title.fr for p in self.parts), en=" + ".join(p.title.en for p in self.parts))

    @property
    def routing(self) -> str:
        return self.parts[0].routing

    @property
    def equipment(self) -> str | None:
        return self.parts[0].equipment

    @property
    def visits(self) -> float:
        return min(p.visits for p in self.parts)

    def condition(self) -> sql.Composable:
        return sql.SQL("({})").format(sql.SQL(" OR ").join(sql.SQL("({})").format(_where(p)) for p in self.parts))

    def units(self) -> sql.Composable:
        return sql.SQL(" + ").join(
            sql.SQL("CASE WHEN {c} THEN {u} * {m} ELSE 0 END").format(
                c=_where(p), u=units_sql(p), m=sql.Literal(p.minutes)
            )
            for p in self.parts
        )


def asset_query(
    layer: Layer, activity: Activity | Combined, communes: list[str], assets: list[int] | None = None
) -> sql.Composable:
    conditions = [sql.SQL("commune_insee = ANY({})").format(sql.Literal(communes))]
    if assets is not None:
        conditions.append(sql.SQL("id = ANY({})").format(sql.Literal(assets)))
    if isinstance(activity, Combined):
        conditions.append(activity.condition())
        units = activity.units()
    else:
        conditions.append(_where(activity))
        units = units_sql(activity)
    return sql.SQL("SELECT id, geom, commune_insee, {units} AS units FROM {t} WHERE {w}").format(
        units=units, t=layer.qualified, w=sql.SQL(" AND ").join(conditions)
    )


def combine(catalogue: Catalogue, service: str, first: Activity, others: list[str]) -> Combined:
    """The activities done together in one pass: they must be of one layer, worked from points, with the same
    machine (the crew carries one set of tools)."""
    layer, _ = pick_activity(catalogue, service, first.name)
    parts = [first]
    for name in others:
        other_layer, act = pick_activity(catalogue, service, name)
        if other_layer.name != layer.name or act.routing != "node" or first.routing != "node":
            raise NothingToDo(f"{first.name} and {name} cannot be done in one pass: not points of one layer")
        if act.equipment != first.equipment:
            raise NothingToDo(f"{first.name} and {name} cannot be done in one pass: different machines")
        parts.append(act)
    return Combined(tuple(parts))


def select_communes(conn: psycopg.Connection, requested: list[str] | None = None) -> list[str]:
    """The INSEE codes an analysis covers: those requested (each must exist), or every commune."""
    known = [r[0] for r in conn.execute("SELECT insee FROM patrimoine.commune ORDER BY insee")]
    if unknown := sorted(set(requested or ()) - set(known)):
        raise NothingToDo(f"unknown commune(s) {', '.join(unknown)}; see /collections/communes/items")
    return list(requested) if requested else known
