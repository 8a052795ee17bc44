"""Unicast planning: one source region, one destination region, over an overlay of relays.

The model is a mixed-integer linear program (cvxpy, solved by HiGHS):

* ``f[e] >= 0``: Gbps on each candidate overlay edge; ``n[v]``: integer gateway VMs per region;
* conservation: the source sends ``g``, the destination receives ``g``, relays forward what they
  receive (edges into the source and out of the destination are left out: they only form cycles);
* gateway limits (connections, NICs, VMs per region) from :mod:`.network`.

Two objectives over the same constraints:

* ``min_cost(g)``: minimise the cost rate ``egress $/GB * f / 8 + VM $/h * n / 3600`` at throughput
  ``g``. Dollars per GB at throughput g are ``8 * cost_rate / g``, a constant factor away, so this
  also minimises $/GB and the total for any volume;
* ``max_throughput(b)``: maximise ``g`` subject to ``8 * cost_rate <= b * g`` ($/GB budget b),
  which is linear because the budget is per GB.

Both are compiled once per (grid, pair, candidate set) with the goal/budget as a cvxpy Parameter,
so sweeps and repeated plans only re-solve.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import cvxpy as cp
import numpy as np

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.planner.candidates import DEFAULT_LIMIT, pick_relays
from airflow_provider_sky.planner.data import RegionGrid
from airflow_provider_sky.planner.network import HIGHS_OPTIONS, Overlay
from airflow_provider_sky.planner.plan import PlanEdge, TransferPlan
from airflow_provider_sky.planner.regions import RegionRules

FLOW_EPS = 1e-7  # Gbps below this is solver noise, not a planned edge
# Unicast models are small (about 20 regions): HiGHS's presolve costs more than it saves on them
# (bench, 99 cases: median 9 -> 6 ms, worst 72 -> 14 ms, same optima).
UNICAST_HIGHS_OPTIONS = {**HIGHS_OPTIONS, "presolve": "off"}


@dataclass
class Solution:
    """Raw optimum of one model solve, in overlay positions."""

    status: str
    throughput: float
    flow: np.ndarray
    vms: np.ndarray
    solve_s: float


@dataclass(eq=False)
class UnicastModel:
    """Compiled min-cost and max-throughput programs for one source/destination pair."""

    overlay: Overlay
    src: int  # overlay positions
    dst: int
    _cost: tuple[Any, ...] | None = field(default=None, repr=False)  # (problem, parameter, variables...)
    _tput: tuple[Any, ...] | None = field(default=None, repr=False)

    def _base(self, g: cp.Expression) -> tuple[cp.Variable, cp.Variable, list[cp.Constraint]]:
        ov = self.overlay
        flow = cp.Variable(len(ov.edges), nonneg=True, name="flow_gbps")
        vms = ov.vm_variable()
        supply = np.zeros(len(ov.nodes))
        supply[self.src], supply[self.dst] = 1.0, -1.0
        cons = [ov.out_inc @ flow - ov.in_inc @ flow == supply * g, *ov.gateway_constraints(flow, vms)]
        return flow, vms, cons

    def min_cost(self, goal_gbps: float) -> Solution:
        """Cheapest plan that carries ``goal_gbps``; status 'infeasible' when it cannot."""
        if self._cost is None:
            goal = cp.Parameter(nonneg=True, name="goal")
            flow, vms, cons = self._base(goal)
            prob = cp.Problem(cp.Minimize(self.overlay.cost_rate(flow, vms)), cons)
            self._cost = (prob, goal, flow, vms)
        prob, goal, flow, vms = self._cost
        goal.value = float(goal_gbps)
        return self._solve(prob, flow, vms, lambda: float(goal_gbps))

    def max_throughput(self, budget_usd_per_gb: float = float("inf")) -> Solution:
        """Most throughput whose $/GB stays within the budget (no budget: the pair's capacity)."""
        if self._tput is None:
            budget = cp.Parameter(nonneg=True, name="budget")
            g = cp.Variable(nonneg=True, name="throughput")
            flow, vms, cons = self._base(g)
            cons.append(8.0 * self.overlay.cost_rate(flow, vms) <= budget * g)
            # Tie-break towards cheaper plans among those with (nearly) the same throughput.
            prob = cp.Problem(cp.Maximize(g - 1e-3 * self.overlay.cost_rate(flow, vms)), cons)
            self._tput = (prob, budget, g, flow, vms)
        prob, budget, g, flow, vms = self._tput
        budget.value = min(float(budget_usd_per_gb), 1e6)
        return self._solve(prob, flow, vms, lambda: float(g.value))

    def _solve(self, prob: cp.Problem, flow: cp.Variable, vms: cp.Variable, tput: Callable[[], float]) -> Solution:
        t0 = time.perf_counter()
        prob.solve(solver=cp.HIGHS, **UNICAST_HIGHS_OPTIONS)
        dt = time.perf_counter() - t0
        if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            return Solution(prob.status, 0.0, np.zeros(len(self.overlay.edges)), np.zeros(0, int), dt)
        flows, counts = np.asarray(flow.value, dtype=float), np.asarray(vms.value, dtype=float)
        f = np.where(flows > FLOW_EPS, flows, 0.0)
        return Solution(prob.status, tput(), f, np.rint(counts).astype(int), dt)


@lru_cache(maxsize=64)
def compiled_model(grid: RegionGrid, src: int, dst: int, nodes: tuple[int, ...]) -> UnicastModel:
    """One compiled model per (grid, pair, candidate set); grids are immutable, so caching is safe."""
    ov = Overlay.build(grid, nodes, no_in=[src], no_out=[dst])
    return UnicastModel(ov, ov.pos(src), ov.pos(dst))


def candidate_nodes(
    grid: RegionGrid, src: int, dsts: list[int], rules: RegionRules, relay_limit: int | None = DEFAULT_LIMIT
) -> tuple[int, ...]:
    """Endpoints first, then the allowed relays worth modelling (all of them when limit is None)."""
    ends = [grid.regions[i] for i in (src, *dsts)]
    relays = [grid.index(r) for r in rules.relays(grid.regions, ends)]
    return tuple(dict.fromkeys([src, *dsts, *pick_relays(grid, src, dsts, relays, relay_limit)]))


def to_plan(
    model_overlay: Overlay,
    sol: Solution,
    source: str,
    destinations: list[str],
    objective: str,
    goal: float | None,
    budget: float | None,
) -> TransferPlan:
    """Turn a raw solution into a TransferPlan with $/GB split into egress and VM time."""
    ov = model_overlay
    grid = ov.grid
    g = sol.throughput
    vms = ov.min_vms(sol.flow)  # fewest VMs that carry the flow; never above the solver's count
    vms = np.minimum(vms, sol.vms) if len(sol.vms) else vms
    tput, price = ov.tput, ov.egress_price
    regions = ov.regions
    edges = [
        PlanEdge(
            src=regions[a],
            dst=regions[b],
            gbps=round(float(sol.flow[e]), 6),
            connections=max(1, int(np.ceil(grid.connections_per_vm * sol.flow[e] / tput[e] - 1e-6))),
            egress_usd_per_gb=float(price[e]),
            link_gbps_per_vm=float(tput[e]),
        )
        for e, (a, b) in enumerate(ov.edges)
        if sol.flow[e] > 0
    ]
    egress_rate = float(price @ sol.flow) / 8.0  # $/s
    vm_rate = float(ov.vm_price @ vms) / 3600.0  # $/s
    gb_per_s = g / 8.0 if g > 0 else float("inf")
    return TransferPlan(
        source=source,
        destinations=list(destinations),
        objective=objective,
        throughput_gbps=round(g, 9),
        egress_usd_per_gb=egress_rate / gb_per_s,
        vm_usd_per_gb=vm_rate / gb_per_s,
        edges=edges,
        vms={regions[v]: int(n) for v, n in enumerate(vms) if n > 0},
        unit=grid.unit,
        grid=grid.name,
        goal_gbps=goal,
        budget_usd_per_gb=budget,
        solver={"status": sol.status, "method": "milp", "solve_s": round(sol.solve_s, 6)},
    )


def prepare(
    grid: RegionGrid,
    source: str,
    destination: str,
    rules: RegionRules | None = None,
    relay_limit: int | None = DEFAULT_LIMIT,
) -> UnicastModel:
    """Validate the pair and return its compiled (cached) model."""
    rules = rules or RegionRules()
    if source == destination:
        raise SkyUserError(f"Source and destination are both '{source}'", "a transfer needs two regions")
    rules.check_endpoints([source, destination])
    s, d = grid.index(source), grid.index(destination)
    return compiled_model(grid, s, d, candidate_nodes(grid, s, [d], rules, relay_limit))


def max_throughput_gbps(
    grid: RegionGrid,
    source: str,
    destination: str,
    rules: RegionRules | None = None,
    relay_limit: int | None = DEFAULT_LIMIT,
) -> float:
    """The most the pair can carry under the grid's limits and the rules."""
    return prepare(grid, source, destination, rules, relay_limit).max_throughput().throughput


def plan_min_cost(
    grid: RegionGrid,
    source: str,
    destination: str,
    goal_gbps: float,
    rules: RegionRules | None = None,
    relay_limit: int | None = DEFAULT_LIMIT,
) -> TransferPlan:
    """Cheapest plan reaching ``goal_gbps``; raises with the reachable maximum when it cannot."""
    if not goal_gbps > 0:
        raise SkyUserError(f"Throughput goal {goal_gbps} is not positive", "pass a goal above 0")
    model = prepare(grid, source, destination, rules, relay_limit)
    sol = model.min_cost(goal_gbps)
    if sol.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and relay_limit is not None:
        # Pruning keeps the relays that make paths cheap or fast, but near the pair's capacity
        # every relay may count: retry with all of them before calling the goal unreachable.
        model = prepare(grid, source, destination, rules, None)
        sol = model.min_cost(goal_gbps)
    if sol.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        best = model.max_throughput().throughput
        raise SkyUserError(
            f"A throughput of {goal_gbps:g} {grid.unit} from {source} to {destination} is not reachable "
            f"under the VM, NIC and region limits; the most achievable is {best:.3f} {grid.unit}",
            f"lower the goal to at most {best:.3f}, raise the VM limit per region, or relax deny/allow rules",
        )
    return to_plan(model.overlay, sol, source, [destination], "cost", goal_gbps, None)


def min_cost_per_gb(model: UnicastModel, rel_tol: float = 1e-6) -> float:
    """Lowest $/GB at any throughput (VM time makes very slow transfers dear per GB).

    Whether some plan fits a $/GB budget is monotone in the budget, so bisect on it with the
    max-throughput model (a few dozen warm solves; used only to word an error).
    """
    top = model.max_throughput()
    if top.throughput <= 0:
        return float("inf")
    ov = model.overlay
    hi = float(ov.egress_price @ top.flow + 8.0 * ov.vm_price @ top.vms / 3600.0) / top.throughput
    lo = 0.0
    while hi - lo > rel_tol * hi:
        mid = (lo + hi) / 2
        if model.max_throughput(mid).throughput > 1e-9:
            hi = mid
        else:
            lo = mid
    return hi


def plan_max_throughput(
    grid: RegionGrid,
    source: str,
    destination: str,
    budget_usd_per_gb: float,
    rules: RegionRules | None = None,
    relay_limit: int | None = DEFAULT_LIMIT,
) -> TransferPlan:
    """Fastest plan whose predicted $/GB fits the budget; raises with the least $/GB when it cannot."""
    model = prepare(grid, source, destination, rules, relay_limit)
    sol = model.max_throughput(budget_usd_per_gb)
    if sol.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or sol.throughput <= 1e-9:
        least = min_cost_per_gb(model)
        raise SkyUserError(
            f"No plan from {source} to {destination} costs ${budget_usd_per_gb:g}/GB or less; "
            f"the cheapest costs ${least:.5f}/GB",
            f"raise the budget to at least {least:.5f} $/GB",
        )
    return to_plan(model.overlay, sol, source, [destination], "throughput", None, budget_usd_per_gb)
