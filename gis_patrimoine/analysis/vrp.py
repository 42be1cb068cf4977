"""The vehicle-routing solver behind maintenance rounds: PyVRP (MIT), chosen by measurement.

`bench/routing_bench.py` runs this exact entry point on the CVRPLIB X instances next to OR-Tools; PyVRP's
hybrid genetic search reaches best-known solutions within about a percent in seconds where OR-Tools' guided
local search stays several percent away (figures in the README). pyvroom was left out: its wheel bundles GPL
code. PyVRP is single-threaded, so `solve` runs independent searches with different seeds on every core and
keeps the best.

The problem is given as integer matrices (metres, seconds) over node 0 = the depot: visits with a service
time and a demand, vehicles with a capacity and a maximum shift duration.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np


class RoundsDoNotFit(ValueError):
    """No plan serves every stop within the vehicles, capacities and shifts given; the message says what to change."""


@dataclass(frozen=True)
class Problem:
    distance: np.ndarray  # (n, n) integers, node 0 is the depot
    duration: np.ndarray | None = None  # (n, n) integer seconds; defaults to distance
    service: np.ndarray | None = None  # (n,) integer seconds on site (0 for the depot)
    demand: np.ndarray | None = None  # (n,) integer load (0 for the depot)
    vehicles: int = 1
    capacity: int | None = None
    max_duration: int | None = None  # shift length in seconds, travel + service


@dataclass
class Solution:
    routes: list[list[int]]  # client node numbers (1..n-1), in visiting order, depot excluded
    distance: int
    duration: int
    feasible: bool
    seed: int = 0
    stats: dict = field(default_factory=dict)


def _model(problem: Problem):
    from pyvrp import Model

    n = len(problem.distance)
    duration = problem.duration if problem.duration is not None else problem.distance
    service = problem.service if problem.service is not None else np.zeros(n, dtype=int)
    demand = problem.demand if problem.demand is not None else np.zeros(n, dtype=int)
    m = Model()
    capacity = problem.capacity if problem.capacity is not None else int(demand.sum()) + 1
    kwargs = {"shift_duration": int(problem.max_duration)} if problem.max_duration is not None else {}
    m.add_vehicle_type(num_available=problem.vehicles, capacity=[int(capacity)], **kwargs)
    locations = [m.add_location(x=0, y=0) for _ in range(n)]  # geometry lives in the matrices
    m.add_depot(locations[0])
    for i in range(1, n):
        m.add_client(locations[i], delivery=[int(demand[i])], service_duration=int(service[i]))
    for i in range(n):
        for j in range(n):
            if i != j:
                m.add_edge(
                    locations[i], locations[j], distance=int(problem.distance[i, j]), duration=int(duration[i, j])
                )
    return m


def _is_client(activity: object) -> bool:
    flag = activity.is_client
    return bool(flag() if callable(flag) else flag)


def _solve_one(args: tuple[Problem, float, int]) -> Solution:

    from pyvrp.stop import MaxRuntime

    problem, seconds, seed = args
    with warnings.catch_warnings():  # infeasibility is reported by `solve`, in our words
        warnings.simplefilter("ignore")
        result = _model(problem).solve(stop=MaxRuntime(seconds), seed=seed, display=False)

    best = result.best
    # activities of a route: the depot, then clients (idx among clients: node idx + 1), then the depot
    routes = [[activity.idx + 1 for activity in route if _is_client(activity)] for route in best.routes()]
    return Solution(
        routes=routes,
        distance=int(best.distance()),
        duration=int(best.duration()),
        feasible=bool(best.is_feasible()),
        seed=seed,
        stats={"iterations": result.num_iterations, "runtime": result.runtime},
    )


def solve(problem: Problem, seconds: float = 10.0, workers: int | None = None, seed: int = 1) -> Solution:
    """Best of independent searches (different seeds) run in parallel, one per core, for `seconds` each."""
    workers = workers or max(1, min(os.cpu_count() or 1, 4))
    jobs = [(problem, seconds, seed + k) for k in range(workers)]
    if workers == 1:
        solutions = [_solve_one(jobs[0])]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            solutions = list(pool.map(_solve_one, jobs))
    feasible = [s for s in solutions if s.feasible]
    if not feasible:
        best = min(solutions, key=lambda s: s.distance)
        limits = [f"{problem.vehicles} vehicle(s)"]
        if problem.capacity is not None:
            limits.append(f"capacity {problem.capacity}")
        if problem.max_duration is not None:
            limits.append(f"a shift of {problem.max_duration / 3600:.1f} h")
        raise RoundsDoNotFit(
            f"{len(problem.distance) - 1} stops do not fit in {', '.join(limits)} (best attempt: "
            f"{len(best.routes)} rounds over the limits); add crews, "
            "lengthen the shift or split the work over more days"
        )
    return min(feasible, key=lambda s: (s.distance, s.seed))
