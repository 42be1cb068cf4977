"""Analysis parameters: crews, shifts, costs, fuel, speeds — documented defaults, overridable per territory.

The defaults are those of a French intercommunal technical service (2025 orders of magnitude); a territory
changes any of them with `gis-patrimoine analyse params --set name=value` (stored in
patrimoine_sys.setting 'analysis_parameters'), and every plan records the parameters it was computed with.
Speeds per road class override the catalogue's class defaults (layers/codelists.yaml) when the network is built.
"""

from __future__ import annotations

import json

import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

KEY = "analysis_parameters"
NETWORK_PARAMETERS = {"speed_kmh", "node_tolerance_m", "near_miss_m"}  # read by refresh_network: rebuild it


class Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    crew_size: int = Field(2, ge=1, le=20, description="Agents per crew (hours are counted per agent for costs)")
    shift_hours: float = Field(7.0, gt=0, le=14, description="A crew's shift, depot to depot, travel and on site")
    working_days_per_year: int = Field(205, ge=1, le=366, description="Days a crew works in a year")
    cost_per_hour: float = Field(32.0, ge=0, description="€ per agent hour, fully loaded")
    cost_per_km: float = Field(0.45, ge=0, description="€ per vehicle km, fuel excluded (wear, insurance)")
    fuel_price: float = Field(1.75, ge=0, description="€ per litre of diesel")
    fuel_l_per_km: float = Field(0.11, ge=0, description="Litres of diesel per km (utility van)")
    co2_kg_per_l: float = Field(
        3.17, ge=0, description="kg CO2e per litre of diesel (arrêté du 26 avril 2017, Base Carbone)"
    )
    stop_spread_m: float = Field(
        60.0, ge=0, le=1000, description="Point assets of one road segment within this span are served from one stop"
    )
    snap_warn_m: float = Field(150.0, gt=0, description="Assets farther than this from any road are reported")
    node_tolerance_m: float = Field(
        1.0, ge=0, le=50, description="A dangling road end this close to a road of its level is joined to it"
    )
    near_miss_m: float = Field(
        10.0, ge=0, le=500, description="Dangling ends this close to a road but not joined are reported"
    )
    walk_speed_kmh: float = Field(
        4.5, gt=0, le=20, description="Walking pace from the vehicle to work off the driven network (paths, squares)"
    )
    walk_detour: float = Field(
        1.3, ge=1, le=3, description="Walked distance over straight-line distance from the vehicle to such work"
    )
    solver_seconds: float = Field(10.0, gt=0, le=600, description="Search time per round problem (on every core)")
    speed_kmh: dict[str, float] = Field(
        default_factory=dict, description="Speed per road class, overriding the catalogue's defaults"
    )

    @property
    def shift_seconds(self) -> int:
        return int(self.shift_hours * 3600)


def load(conn: psycopg.Connection, **overrides: object) -> Parameters:
    """The territory's parameters, then the call's overrides (None means: keep the territory's)."""
    row = conn.execute("SELECT value FROM patrimoine_sys.setting WHERE key = %s", (KEY,)).fetchone()
    stored = json.loads(row[0]) if row else {}
    return Parameters(**{**stored, **{k: v for k, v in overrides.items() if v is not None}})


def save(conn: psycopg.Connection, changes: dict[str, object]) -> Parameters:
    """Validate and store changed parameters; speeds make the network be rebuilt at its next use."""
    row = conn.execute("SELECT value FROM patrimoine_sys.setting WHERE key = %s", (KEY,)).fetchone()
    stored = json.loads(row[0]) if row else {}
    merged = {**stored, **changes}
    if isinstance(changes.get("speed_kmh"), dict):
        merged["speed_kmh"] = {**stored.get("speed_kmh", {}), **changes["speed_kmh"]}
    try:
        params = Parameters(**merged)
    except ValidationError as exc:
        raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from exc
    conn.execute(
        "INSERT INTO patrimoine_sys.setting (key, value) VALUES (%s, %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (KEY, json.dumps(params.model_dump(exclude_defaults=True))),
    )
    if changes.keys() & NETWORK_PARAMETERS:
        conn.execute("UPDATE patrimoine_sys.setting SET value = '-1' WHERE key = 'network_version'")
    conn.commit()
    return params


def parse_assignment(text: str) -> tuple[str, object]:
    """`name=value` from the command line; `speed_kmh.street=25` sets one class's speed."""
    name, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"{text!r}: expected name=value")
    name = name.strip()
    if name.startswith("speed_kmh."):
        return "speed_kmh", {name.removeprefix("speed_kmh."): float(value)}
    if name not in Parameters.model_fields:
        raise ValueError(f"unknown parameter {name!r}; parameters: {', '.join(Parameters.model_fields)}")
    return name, value
