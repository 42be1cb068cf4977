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

import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from gis_patrimoine.analysis.errors import AnalysisRefused


class RoundsDoNotFit(AnalysisRefused):
    """No plan serves every stop within the vehicles, capacities and shifts given; the message says what to change."""


@dataclass(frozen=True)
class Problem:
    """Nodes 0..depots-1 are depots, the others clients. A group is a list of client nodes of which exactly one
    is visited: arc routing gives each required road segment one client per direction it may be worked in."""

    distance: np.ndarray  # (n, n) integers
    duration: np.ndarray | None = None  # (n, n) integer seconds; defaults to distance
    service: np.ndarray | None = None  # (n,) integer seconds on site (0 for depots)
    demand: np.ndarray | None = None  # (n,) integer load (0 for depots)
    vehicles: int = 1  # per depot unless depot_vehicles says otherwise
    capacity: int | None = None
    max_duration: int | None = None  # shift length in seconds, travel + service
    depots: int = 1
    depot_vehicles: tuple[int, ...] | None = None
    groups: tuple[tuple[int, ...], ...] = ()
    fixed_cost: int = 0  # per round used: makes fewer, fuller rounds win over equal distances
    seconds_per_unit: float = 1.0  # of durations, for messages


@dataclass
class Solution:
    routes: list[list[int]]  # client node numbers, in visiting order, depots excluded
    distance: int
    duration: int
    feasible: bool
    seed: int = 0
    stats: dict = field(default_factory=dict)
    depots: list[int] = field(default_factory=list)  # the depot node of each route


def _data(problem: Problem):
    """PyVRP's ProblemData straight from the matrices (no Python loop over the n² edges)."""
    from pyvrp import Client, ClientGroup, Depot, Location, ProblemData, VehicleType

    n = len(problem.distance)
    nd = problem.depots
    distance = np.ascontiguousarray(problem.distance, dtype=np.int64)
    duration = np.ascontiguousarray(problem.duration if problem.duration is not None else distance, dtype=np.int64)
    service = problem.service if problem.service is not None else np.zeros(n, dtype=int)
    demand = problem.demand if problem.demand is not None else np.zeros(n, dtype=int)
    capacity = problem.capacity if problem.capacity is not None else int(demand.sum()) + 1
    in_group = {node: g for g, members in enumerate(problem.groups) for node in members}
    clients = [
        Client(
            location=i,
            delivery=[int(demand[i])],
            service_duration=int(service[i]),
            required=i not in in_group,
            group=in_group.get(i),
        )
        for i in range(nd, n)
    ]
    groups = [ClientGroup([node - nd for node in members], required=True) for members in problem.groups]
    per_depot = problem.depot_vehicles or (problem.vehicles,) * nd
    kwargs = {"shift_duration": int(problem.max_duration)} if problem.max_duration is not None else {}
    vehicle_types = [
        VehicleType(
            num_available=int(k),
            capacity=[int(capacity)],
            start_depot=d,
            end_depot=d,
            fixed_cost=problem.fixed_cost,
            **kwargs,
        )
        for d, k in enumerate(per_depot)
        if k > 0
    ]
    return ProblemData(
        locations=[Location(0, 0) for _ in range(n)],  # geometry lives in the matrices
        clients=clients,
        depots=[Depot(location=d) for d in range(nd)],
        vehicle_types=vehicle_types,
        distance_matrices=[distance],
        duration_matrices=[duration],
        groups=groups,
    )


def _is_client(activity: object) -> bool:
    flag = activity.is_client
    return bool(flag() if callable(flag) else flag)


def _solve_one(args: tuple[Problem, float, int, int | None]) -> Solution:
    from pyvrp import solve as pyvrp_solve
    from pyvrp.stop import MaxIterations, MaxRuntime

    problem, seconds, seed, iterations = args
    # a number of iterations gives the same plan on any machine; a time limit, the best plan in that time
    stop = MaxIterations(iterations) if iterations else MaxRuntime(seconds)
    data = _data(problem)
    with warnings.catch_warnings():  # infeasibility is reported by `solve`, in our words
        warnings.simplefilter("ignore")
        result = pyvrp_solve(data, stop=stop, seed=seed, display=False)

    best = result.best
    nd = problem.depots
    # a route's activities: its depot, clients (idx among clients), its depot again
    routes = [[a.idx + nd for a in route if _is_client(a)] for route in best.routes()]
    return Solution(
        routes=routes,
        distance=int(best.distance()),
        duration=int(best.duration()),
        feasible=bool(best.is_feasible()),
        seed=seed,
        stats={"iterations": result.num_iterations, "runtime": result.runtime, "depots": nd},
        depots=[int(route.start_depot()) for route in best.routes()],
    )


def solve(
    problem: Problem, seconds: float = 10.0, workers: int | None = None, seed: int = 1, iterations: int | None = None
) -> Solution:
    """Best of independent searches (different seeds) run in parallel, one per core, for `seconds` each."""
    workers = workers or max(1, min(os.cpu_count() or 1, 4))
    jobs = [(problem, seconds, seed + k, iterations) for k in range(workers)]
    if workers == 1:
        solutions = [_solve_one(jobs[0])]
    else:
        # forkserver: the API calls this from a worker thread, and forking a threaded process is unsafe
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
            solutions = list(pool.map(_solve_one, jobs))
    feasible = [s for s in solutions if s.feasible]
    if not feasible:
        best = min(solutions, key=lambda s: s.distance)
        vehicles = sum(problem.depot_vehicles) if problem.depot_vehicles else problem.vehicles * problem.depots
        limits = [f"{vehicles} round(s)"]
        if problem.capacity is not None:
            limits.append(f"capacity {problem.capacity}")
        if problem.max_duration is not None:
            limits.append(f"a shift of {problem.max_duration * problem.seconds_per_unit / 3600:.1f} h")
        stops = len(problem.distance) - problem.depots - sum(len(g) - 1 for g in problem.groups)
        raise RoundsDoNotFit(
            f"{stops} stops do not fit in {', '.join(limits)} (best attempt: "
            f"{len(best.routes)} rounds over the limits); add crews, "
            "lengthen the shift or split the work over more days"
        )
    return min(feasible, key=lambda s: (s.distance + problem.fixed_cost * len(s.routes), s.seed))
