"""The round solver against optima found by brute force on small instances."""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pytest

from gis_patrimoine.analysis.vrp import Problem, RoundsDoNotFit, solve


def random_problem(
    seed: int, n: int, vehicles: int, capacity: int | None = None, max_duration: int | None = None
) -> Problem:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1000, (n + 1, 2))
    dist = np.rint(np.hypot(*(xy[:, None] - xy[None, :]).transpose(2, 0, 1))).astype(int)
    demand = np.concatenate([[0], rng.integers(1, 5, n)])
    service = np.concatenate([[0], rng.integers(30, 120, n)])
    return Problem(
        distance=dist, demand=demand, service=service, vehicles=vehicles, capacity=capacity, max_duration=max_duration
    )


def brute_force(p: Problem) -> int:
    """Optimal total distance: best tour of every subset (exhaustive), then the best split into routes."""
    n = len(p.distance) - 1
    clients = range(1, n + 1)
    duration = p.distance  # duration = distance here

    @cache
    def tour(subset: frozenset) -> float:
        best = float("inf")
        for order in itertools.permutations(subset):
            path = [0, *order, 0]
            d = sum(p.distance[a, b] for a, b in itertools.pairwise(path))
            t = sum(duration[a, b] for a, b in itertools.pairwise(path)) + sum(p.service[c] for c in order)
            load = sum(p.demand[c] for c in order)
            if (p.capacity is None or load <= p.capacity) and (p.max_duration is None or t <= p.max_duration):
                best = min(best, d)
        return best

    @cache
    def split(remaining: frozenset, vehicles: int) -> float:
        if not remaining:
            return 0
        if vehicles == 0:
            return float("inf")
        first = min(remaining)
        rest = remaining - {first}
        best = float("inf")
        for k in range(len(rest) + 1):
            for others in itertools.combinations(sorted(rest), k):
                route = frozenset({first, *others})
                best = min(best, tour(route) + split(remaining - route, vehicles - 1))
        return best

    return split(frozenset(clients), p.vehicles)


@pytest.mark.parametrize(
    ("seed", "n", "vehicles", "capacity", "max_duration"),
    [
        (1, 8, 1, None, None),  # a travelling-salesman round of 8 stops
        (2, 7, 2, 10, None),  # capacity forces two rounds
        (3, 7, 3, None, 2200),  # the shift length forces several rounds
        (5, 6, 2, 8, 3000),  # both: capacity and shift length bind
    ],
)
def test_optimal_on_small_instances(seed: int, n: int, vehicles: int, capacity, max_duration) -> None:
    p = random_problem(seed, n, vehicles, capacity, max_duration)
    optimum = brute_force(p)
    assert optimum < float("inf")

    solution = solve(p, seconds=1.0, workers=2)
    assert solution.feasible
    visited = sorted(c for route in solution.routes for c in route)
    assert visited == list(range(1, n + 1))  # every stop served exactly once
    assert len(solution.routes) <= vehicles
    for route in solution.routes:
        path = [0, *route, 0]
        travel = sum(p.distance[a, b] for a, b in itertools.pairwise(path))
        if capacity is not None:
            assert sum(p.demand[c] for c in route) <= capacity
        if max_duration is not None:
            assert travel + sum(p.service[c] for c in route) <= max_duration
    assert solution.distance <= optimum * 1.01
    assert solution.distance == sum(
        sum(p.distance[a, b] for a, b in itertools.pairwise([0, *r, 0])) for r in solution.routes
    )


def test_rounds_that_cannot_fit_say_what_to_change() -> None:
    p = random_problem(4, 6, 2, 8, 3000)  # brute force: no feasible plan with 2 crews
    with pytest.raises(RoundsDoNotFit) as info:
        solve(p, seconds=0.5, workers=1)
    message = str(info.value)
    assert "2 round(s)" in message and ("shift" in message or "capacity" in message)


def test_two_depots_and_exclusive_groups_reach_the_brute_force_optimum() -> None:
    """Arc routing's encoding: a group of clients of which exactly one is served (one per direction of a
    segment), and rounds that start from either of two depots."""
    rng = np.random.default_rng(7)
    xy = rng.uniform(0, 1000, (8, 2))  # nodes 0, 1 depots; 2..7 clients; (2, 3) and (4, 5) are groups
    dist = np.rint(np.hypot(*(xy[:, None] - xy[None, :]).transpose(2, 0, 1))).astype(int)
    groups = ((2, 3), (4, 5))
    p = Problem(distance=dist, depots=2, depot_vehicles=(1, 1), groups=groups)
    solution = solve(p, seconds=1, workers=1)

    def cost(depot: int, route: tuple[int, ...]) -> int:
        return sum(dist[a, b] for a, b in itertools.pairwise([depot, *route, depot])) if route else 0

    best = float("inf")
    for a in groups[0]:
        for b in groups[1]:
            visits = [a, b, 6, 7]
            for mask in itertools.product((0, 1), repeat=4):  # which depot serves each visit
                split = [[v for v, m in zip(visits, mask, strict=True) if m == d] for d in (0, 1)]
                total = sum(min(cost(d, order) for order in itertools.permutations(split[d])) for d in (0, 1))
                best = min(best, total)
    served = sorted(c for r in solution.routes for c in r)
    assert len(served) == 4 and 6 in served and 7 in served
    assert sum(c in served for c in groups[0]) == 1 and sum(c in served for c in groups[1]) == 1
    assert solution.distance == sum(cost(d, tuple(r)) for d, r in zip(solution.depots, solution.routes, strict=True))
    assert solution.distance <= best * 1.01
