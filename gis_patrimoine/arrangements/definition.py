"""An arrangement as a user writes it: groups of communes (and the agglomération) sharing services and depots.

A group names its members (INSEE codes; `agglo` for the agglomération), the services it shares (all when
omitted), its depots (`own`: those its members own; `optimise`: chosen by fixed-charge facility location; or
ids) and whether it buys together. Every commune and service no group covers is done by the commune alone,
from its own depots: so the status quo is the arrangement without groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

AGGLO = "agglo"


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    members: list[str] = Field(min_length=1, description="INSEE codes; 'agglo' for the agglomération")
    services: list[str] | None = Field(None, description="services shared; all when omitted")
    depots: Literal["own", "optimise"] | list[int] = "own"
    joint_purchasing: bool = False


class Arrangement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    title: str = Field(min_length=1, max_length=120)
    description: str = ""
    groups: list[Group] = []
    max_travel_min: float = Field(30.0, gt=0, le=240, description="optimised depots: longest drive to a commune")

    @model_validator(mode="after")
    def _each_service_once(self) -> Arrangement:
        taken: dict[str, list[tuple[str, set[str] | None]]] = {}
        for group in self.groups:
            mine = None if group.services is None else set(group.services)  # None: every service
            for member in group.members:
                for other, theirs in taken.get(member, []):
                    if mine is None or theirs is None or mine & theirs:
                        raise ValueError(
                            f"arrangement {self.name}: {member} is in groups {other!r} and {group.name!r} for the "
                            "same service; a commune's service is done by one group"
                        )
                taken.setdefault(member, []).append((group.name, mine))
        buyers = [m for g in self.groups if g.joint_purchasing for m in set(g.members)]
        if twice := sorted({m for m in buyers if buyers.count(m) > 1}):
            raise ValueError(f"arrangement {self.name}: {', '.join(twice)} buy together in two groups; one only")
        return self


@dataclass(frozen=True)
class Unit:
    """Who does a set of services together: one group, or one commune alone."""

    name: str
    members: tuple[str, ...]  # communes, and AGGLO when the agglomération takes part
    services: tuple[str, ...]
    depots: tuple[int, ...] | Literal["optimise"]
    joint_purchasing: bool = False
    group: bool = False  # a group of the arrangement (pooling costs apply when it has two members or more)

    @property
    def communes(self) -> tuple[str, ...]:
        return tuple(m for m in self.members if m != AGGLO)

    @property
    def pooled(self) -> bool:
        return self.group and len(self.members) > 1


def units(
    arrangement: Arrangement, communes: list[str], services: list[str], owned: dict[str, list[int]]
) -> list[Unit]:
    """The arrangement's groups, then each commune alone for the services no group does for it."""
    unknown = sorted({m for g in arrangement.groups for m in g.members} - {*communes, AGGLO})
    if unknown:
        raise ValueError(f"arrangement {arrangement.name}: unknown communes {unknown}; use INSEE codes or 'agglo'")
    bad = sorted({s for g in arrangement.groups for s in g.services or []} - set(services))
    if bad:
        raise ValueError(f"arrangement {arrangement.name}: unknown services {bad}; services: {', '.join(services)}")
    out: list[Unit] = []
    covered: dict[str, set[str]] = {}
    for group in arrangement.groups:
        shared = tuple(services if group.services is None else group.services)  # []: buying together only
        members = tuple(sorted(set(group.members), key=lambda m: (m == AGGLO, m)))
        if isinstance(group.depots, list):
            depots: tuple[int, ...] | Literal["optimise"] = tuple(sorted(group.depots))
        elif group.depots == "optimise":
            depots = "optimise"
        else:
            depots = tuple(sorted({d for m in members for d in owned.get(m, [])}))
        out.append(Unit(group.name, members, shared, depots, group.joint_purchasing, group=True))
        for m in members:
            covered.setdefault(m, set()).update(shared)
    for code in [*communes, AGGLO]:
        left = tuple(s for s in services if s not in covered.get(code, set()))
        if left and (code != AGGLO or owned.get(AGGLO)):
            out.append(Unit(code, (code,), left, tuple(owned.get(code, []))))
    return out


def load_file(path: Path) -> list[Arrangement]:
    """Arrangements from a YAML file: a list, or {arrangements: [...]}; errors name the file and the entry."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    items = data.get("arrangements") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of arrangements (or 'arrangements:' with a list)")
    return parse(items, str(path))


def parse(items: list, where: str = "request") -> list[Arrangement]:
    out = []
    for k, item in enumerate(items):
        try:
            out.append(Arrangement.model_validate(item))
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"{where}: arrangement {k + 1}: {detail}") from exc
    names = [a.name for a in out]
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: arrangement names must be unique: {names}")
    return out
