"""Round-solver benchmark on the CVRPLIB X instances: the product's solver and OR-Tools, side by side.

    .venv/bin/python bench/routing_bench.py [--seconds 10] [--data ../shared/data/cvrplib-x]

For each instance: gap to the best-known solution and wall time for `gis_patrimoine.analysis.vrp.solve`
(PyVRP, one search per core) and for OR-Tools' routing solver (guided local search, same time limit).
Distances are Euclidean rounded to the nearest integer, as CVRPLIB does.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis_patrimoine.analysis.vrp import Problem, solve  # noqa: E402


def read_vrp(path: Path) -> tuple[Problem, int]:
    lines = path.read_text().splitlines()
    coords, demands, section, capacity = {}, {}, None, 0
    for line in lines:
        head = line.split(":")[0].strip()
        if head == "CAPACITY":
            capacity = int(line.split(":")[1])
        elif head in ("NODE_COORD_SECTION", "DEMAND_SECTION", "DEPOT_SECTION", "EOF"):
            section = head
        elif section == "NODE_COORD_SECTION" and line.strip():
            i, x, y = line.split()[:3]
            coords[int(i)] = (float(x), float(y))
        elif section == "DEMAND_SECTION" and line.strip():
            i, d = line.split()[:2]
            demands[int(i)] = int(d)
    ids = sorted(coords)
    xy = np.array([coords[i] for i in ids])
    dist = np.rint(np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))).astype(int)
    demand = np.array([demands[i] for i in ids])
    k = int(path.stem.split("-k")[1])
    return Problem(distance=dist, demand=demand, capacity=capacity, vehicles=len(ids)), k


def best_known(path: Path) -> int:
    return int(path.with_suffix(".sol").read_text().strip().splitlines()[-1].split()[-1])


def ortools(problem: Problem, seconds: float) -> int:
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = len(problem.distance)
    manager = pywrapcp.RoutingIndexManager(n, problem.vehicles, 0)
    routing = pywrapcp.RoutingModel(manager)
    dist = problem.distance.tolist()
    transit = routing.RegisterTransitCallback(lambda i, j: dist[manager.IndexToNode(i)][manager.IndexToNode(j)])
    routing.SetArcCostEvaluatorOfAllVehicles(transit)
    demand = problem.demand.tolist()
    load = routing.RegisterUnaryTransitCallback(lambda i: demand[manager.IndexToNode(i)])
    routing.AddDimensionWithVehicleCapacity(load, 0, [problem.capacity] * problem.vehicles, True, "load")
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.SAVINGS
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    solution = routing.SolveWithParameters(params)
    return int(solution.ObjectiveValue()) if solution else math.inf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "cvrplib-x")
    args = parser.parse_args()
    print(
        f"{'instance':<14} {'best known':>10} {'product':>9} {'gap %':>6} {'s':>5}   {'OR-Tools':>9} {'gap %':>6} "
        f"{'s':>5}"
    )
    gaps = {"product": [], "ortools": []}
    for path in sorted(args.data.glob("X-*.vrp")):
        problem, _ = read_vrp(path)
        bks = best_known(path)
        t0 = time.perf_counter()
        ours = solve(problem, seconds=args.seconds - 0.5)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        theirs = ortools(problem, args.seconds)
        t_theirs = time.perf_counter() - t0
        g_ours, g_theirs = 100 * (ours.distance - bks) / bks, 100 * (theirs - bks) / bks
        gaps["product"].append(g_ours)
        gaps["ortools"].append(g_theirs)
        print(
            f"{path.stem:<14} {bks:>10} {ours.distance:>9} {g_ours:>6.2f} {t_ours:>5.1f}   {theirs:>9} "
            f"{g_theirs:>6.2f} {t_theirs:>5.1f}",
            flush=True,
        )
    print(
        f"\nmean gap: product (PyVRP, both cores) {np.mean(gaps['product']):.2f} %, "
        f"OR-Tools {np.mean(gaps['ortools']):.2f} %"
    )


if __name__ == "__main__":
    main()
