"""Multicast planning: one source, many destinations, each byte crossing an overlay edge once.

The data is split into partitions; each partition travels down one distribution tree (a Steiner
arborescence rooted at the source that spans every destination), so every destination receives
every partition, i.e. all the data, and an edge shared by several destinations carries a
partition once. An edge's load is the sum of the rates of the trees that use it; gateway limits
(connections, NICs, VMs per region) are those of :mod:`.network`.

Solvers, all producing trees:

* ``relaxation`` + ``decompose``: every destination gets its own flow of the goal and an edge
  carries the largest (a lower bound on any tree packing); its loads are peeled into trees. When
  that succeeds the plan is within the solver gap of the bound, i.e. proven optimal.
* ``exact_trees``: a MILP. Binary ``y[p, e]`` says tree ``p`` uses edge ``e``; a unit flow per
  (tree, destination) that may only use edges with ``y = 1`` makes each tree reach each
  destination (the strong multi-commodity form); each tree's share of the goal is a variable.
  Used when the peeling fails, on the relaxation's support.
* ``heuristic_trees``: for many destinations or ``method="heuristic"``. Trees grow one region
  at a time along the cheapest path from the tree so far (Takahashi-Matsuyama), an edge priced
  by its egress plus the VM time it adds, edges that would break a limit skipped; packings of 1
  to 4 equal-rate trees, multi-started from every region as the first branch.

``auto`` runs what applies and keeps the cheapest plan, reporting the lower bound and the gap.
Every candidate plan is checked by :func:`check_delivery` before it counts.
"""

from __future__ import annotations

import heapq
import math
import time
import warnings
from collections.abc import Sequence

import cvxpy as cp
import numpy as np

from airflow_provider_sky.errors import SkyError, SkyUserError
from airflow_provider_sky.planner.candidates import pick_relays
from airflow_provider_sky.planner.data import RegionGrid
from airflow_provider_sky.planner.network import HIGHS_OPTIONS, Overlay
from airflow_provider_sky.planner.plan import PlanTree, TransferPlan
from airflow_provider_sky.planner.regions import RegionRules
from airflow_provider_sky.planner.unicast import Solution, to_plan

MAX_PARTITIONS = 4
EXACT_MAX_DESTINATIONS = 8  # auto mode: beyond this the heuristic answers alone
EXACT_TIME_LIMIT_S = 10.0  # total for the exact models of one plan
PER_MODEL_TIME_S = 4.0  # per tree-count model (its best incumbent is kept when time runs out)

Tree = list[tuple[int, int]]  # edges as (from, to) overlay positions


def _overlay(grid: RegionGrid, src: int, dsts: list[int], rules: RegionRules, relay_limit: int) -> Overlay:
    ends = [grid.regions[i] for i in (src, *dsts)]
    relays = [grid.index(r) for r in rules.relays(grid.regions, ends)]
    picked = pick_relays(grid, src, dsts, relays, relay_limit)
    return Overlay.build(grid, [src, *dsts, *picked], no_in=[src])


def _edge_load(ov: Overlay, trees: Sequence[tuple[float, Tree]]) -> np.ndarray:
    index = {e: i for i, e in enumerate(ov.edges)}
    flow = np.zeros(len(ov.edges))
    for rate, tree in trees:
        for e in tree:
            flow[index[e]] += rate
    return flow


def _prune(tree_edges: Sequence[tuple[int, int]], root: int, targets: set[int]) -> Tree:
    """Keep only edges on root->target paths (drops dangling branches a solver may leave)."""
    children: dict[int, list[int]] = {}
    for a, b in tree_edges:
        children.setdefault(a, []).append(b)
    parent: dict[int, int] = {root: -1}
    stack = [root]
    while stack:
        a = stack.pop()
        for b in children.get(a, []):
            if b not in parent:
                parent[b] = a
                stack.append(b)
    keep: set[tuple[int, int]] = set()
    for t in targets:
        v = t
        while v != root and v in parent:
            keep.add((parent[v], v))
            v = parent[v]
    return sorted(keep)


def check_delivery(ov: Overlay, trees: Sequence[tuple[float, Tree]], root: int, targets: Sequence[int],
                   goal: float) -> None:  # fmt: skip
    """Prove the plan delivers everything: each tree reaches every target, rates add up to goal."""
    total = 0.0
    for rate, tree in trees:
        reach, frontier = {root}, [root]
        out: dict[int, list[int]] = {}
        for a, b in tree:
            out.setdefault(a, []).append(b)
        while frontier:
            for b in out.get(frontier.pop(), []):
                if b not in reach:
                    reach.add(b)
                    frontier.append(b)
        missing = [ov.regions[t] for t in targets if t not in reach]
        if missing:
            raise SkyError(f"internal: a distribution tree misses {missing}")
        total += rate
    if abs(total - goal) > 1e-6 * max(1.0, goal):
        raise SkyError(f"internal: trees carry {total} of the {goal} goal")


# ---------------------------------------------------------------- heuristic


def _grow_tree(ov: Overlay, root: int, targets: list[int], rate: float, conn: np.ndarray,
               nic_out: np.ndarray, nic_in: np.ndarray, limit: np.ndarray,
               first: int | None = None) -> Tree | None:  # fmt: skip
    """One tree carrying ``rate`` over the residual capacity, or None if a target is unreachable.

    ``conn`` is (2, k) VM-equivalents of connections used out/in per node, ``nic_out``/``nic_in``
    the Gbps already sent/received; all are updated in place when a tree is accepted.
    """
    tput, price = ov.tput.tolist(), ov.egress_price.tolist()
    vm = (ov.vm_price / 3600.0).tolist()
    e_nic = ov.node_array(ov.grid.nic_egress_gbps).tolist()
    i_nic = ov.node_array(ov.grid.nic_ingress_gbps).tolist()
    cap = limit.tolist()
    adj: dict[int, list[tuple[int, int]]] = {}
    for e, (a, b) in enumerate(ov.edges):
        adj.setdefault(a, []).append((b, e))
    c_out, c_in = conn[0].tolist(), conn[1].tolist()
    n_out, n_in = nic_out.tolist(), nic_in.tolist()

    def need(v: int) -> float:
        return float(max(c_out[v], c_in[v], n_out[v] / e_nic[v], n_in[v] / i_nic[v]))

    in_tree = {root}
    tree: Tree = []
    left = set(targets)
    while left:
        dist = {v: 0.0 for v in in_tree}
        prev: dict[int, tuple[int, int]] = {}
        heap = [(0.0, v) for v in in_tree]
        heapq.heapify(heap)
        done: set[int] = set()
        while heap:
            d, a = heapq.heappop(heap)
            if a in done:
                continue
            done.add(a)
            for b, e in adj.get(a, []):
                if b in in_tree or b in done:
                    continue
                load = rate / tput[e]
                na = max(c_out[a] + load, c_in[a], (n_out[a] + rate) / e_nic[a], n_in[a] / i_nic[a])
                nb = max(c_out[b], c_in[b] + load, n_out[b] / e_nic[b], (n_in[b] + rate) / i_nic[b])
                if math.ceil(na - 1e-9) > cap[a] or math.ceil(nb - 1e-9) > cap[b]:
                    continue
                w = price[e] * rate / 8.0 + vm[a] * (na - need(a)) + vm[b] * (nb - need(b))
                if d + w < dist.get(b, math.inf):
                    dist[b] = d + w
                    prev[b] = (a, e)
                    heapq.heappush(heap, (d + w, b))
        reachable = [t for t in left if t in dist]
        if not reachable:
            return None
        t = first if first in dist and first not in in_tree else min(reachable, key=lambda v: dist[v])
        first = None
        path = []
        v = t
        while v not in in_tree:
            a, e = prev[v]
            path.append((a, v, e))
            v = a
        for a, b, e in reversed(path):
            load = rate / tput[e]
            c_out[a] += load
            c_in[b] += load
            n_out[a] += rate
            n_in[b] += rate
            tree.append((a, b))
            in_tree.add(b)
        left -= in_tree
    conn[0], conn[1], nic_out[:], nic_in[:] = c_out, c_in, n_out, n_in  # commit the tree's load
    return tree


def _pack(ov: Overlay, root: int, targets: list[int], goal: float, parts: int,
          first: int | None) -> tuple[float, list[tuple[float, Tree]]] | None:  # fmt: skip
    """``parts`` equal-rate trees grown one after another over the residual capacity."""
    k = len(ov.nodes)
    limit = ov.node_array(ov.grid.vm_limit).astype(float)
    conn, n_out, n_in = np.zeros((2, k)), np.zeros(k), np.zeros(k)
    trees = []
    for _ in range(parts):
        tree = _grow_tree(ov, root, targets, goal / parts, conn, n_out, n_in, limit, first)
        if tree is None:
            return None
        trees.append((goal / parts, tree))
    flow = _edge_load(ov, trees)
    return float(ov.egress_price @ flow / 8.0 + ov.vm_price @ ov.min_vms(flow) / 3600.0), trees


def heuristic_trees(ov: Overlay, root: int, targets: list[int], goal: float) -> list[tuple[float, Tree]] | None:
    """Cheapest equal-split tree packing found by multi-start greedy growth (None: none fit).

    Greedy growth is blind to hubs: a region that is dear to reach but cheap to forward from
    (another cloud's region that then fans out at intra-cloud prices) loses to cheaper leaves.
    And when VM limits bind, one fat tree is pushed off the cheap links that several thinner
    trees can share. So every partition count is grown once plainly, and the cheapest count
    is grown again once per "first region" (every destination and candidate relay is tried as
    the first branch); the cheapest packing wins.
    """
    plain = {}
    for parts in range(1, MAX_PARTITIONS + 1):
        found = _pack(ov, root, targets, goal, parts, None)
        if found is not None:
            plain[parts] = found
    if not plain:
        return None
    options = list(plain.values())
    for parts in sorted(plain, key=lambda p: plain[p][0])[:1]:
        for first in (v for v in range(len(ov.nodes)) if v != root):
            found = _pack(ov, root, targets, goal, parts, first)
            if found is not None:
                options.append(found)
    return _merge(min(options, key=lambda o: (round(o[0], 10), len(o[1])))[1])


def _merge(trees: Sequence[tuple[float, Tree]]) -> list[tuple[float, Tree]]:
    """One tree per distinct edge set, carrying the rates of all its copies."""
    rates: dict[tuple[tuple[int, int], ...], float] = {}
    for rate, tree in trees:
        key = tuple(sorted(tree))
        rates[key] = rates.get(key, 0.0) + rate
    return [(rate, list(key)) for key, rate in rates.items()]


# ---------------------------------------------------------------- exact


def exact_trees(ov: Overlay, root: int, targets: list[int], goal: float, parts: int,
                time_limit: float) -> tuple[list[tuple[float, Tree]] | None, str]:  # fmt: skip
    """Cheapest packing of ``parts`` trees with free rates (multi-commodity Steiner MILP).

    ``use[p, e]`` picks tree edges; ``rate[p]`` is the tree's share of the goal; ``load[p, e]``
    is ``rate[p]`` on the tree's edges and 0 elsewhere, written linearly as
    ``load >= rate - goal * (1 - use)`` (costs and limits push it down to exactly that).
    """
    m, k = len(ov.edges), len(ov.nodes)
    use = cp.Variable((parts, m), boolean=True, name="tree_edge")
    vms = ov.vm_variable()
    cons: list[cp.Constraint] = []
    incidence = ov.out_inc - ov.in_inc  # (k, m): +1 leaving, -1 entering
    for t in targets:
        supply = np.zeros(k)
        supply[root], supply[t] = 1.0, -1.0
        x = cp.Variable((m, parts), nonneg=True)
        cons += [incidence @ x == np.tile(supply[:, None], (1, parts)), x <= use.T]
    if parts == 1:
        rate, flow = None, goal * cp.sum(use, axis=0)
    else:
        rate = cp.Variable(parts, nonneg=True, name="tree_rate")
        load = cp.Variable((parts, m), nonneg=True, name="tree_load")
        cons += [cp.sum(rate) == goal, load >= rate[:, None] @ np.ones((1, m)) - goal * (1 - use)]
        cons += [rate[p] >= rate[p + 1] for p in range(parts - 1)]  # trees are interchangeable
        flow = cp.sum(load, axis=0)
    cons += ov.gateway_constraints(flow, vms)
    prob = cp.Problem(cp.Minimize(ov.cost_rate(flow, vms)), cons)
    opts = dict(HIGHS_OPTIONS, time_limit=float(time_limit))
    try:
        with warnings.catch_warnings():  # a time-limited incumbent is expected, not news
            warnings.simplefilter("ignore", UserWarning)
            prob.solve(solver=cp.HIGHS, **opts)
    except cp.SolverError:
        return None, "solver_error"
    if use.value is None:
        return None, prob.status
    rates = np.array([goal]) if rate is None else np.maximum(np.asarray(rate.value, dtype=float), 0.0)
    trees = []
    for p in range(parts):
        if rates[p] > 1e-6 * goal:
            edges = [ov.edges[e] for e in range(m) if use.value[p, e] > 0.5]
            trees.append((float(rates[p]), _prune(edges, root, set(targets))))
    if sum(r for r, _ in trees) < goal * (1 - 1e-6):  # a time-limited solve without an incumbent
        return None, prob.status
    scale = goal / sum(r for r, _ in trees)  # remove solver round-off so rates add up exactly
    return [(r * scale, t) for r, t in trees], prob.status


def relaxation(ov: Overlay, root: int, targets: list[int], goal: float, time_limit: float,
               integer: bool = True) -> tuple[np.ndarray | None, float, str]:  # fmt: skip
    """Lower bound: each destination gets its own flow of ``goal``, an edge carries the largest.

    Any tree packing is feasible here (a tree edge carries the same bytes for every destination
    below it), so the optimum is a lower bound on every plan's cost rate. Returns the edge loads
    (None if unsolved), the bound in $/s, and the solver status. The bound stays valid when HiGHS
    stops at its gap, within that gap.
    """
    m, k = len(ov.edges), len(ov.nodes)
    load = cp.Variable(m, nonneg=True)
    if integer:
        vms = ov.vm_variable()
    else:  # LP: a weaker bound, but quick when the integer model is too big for the time limit
        limit = ov.node_array(ov.grid.vm_limit).astype(float)
        vms = cp.Variable(len(ov.nodes), bounds=[np.zeros(len(ov.nodes)), limit])
    per_dst = cp.Variable((m, len(targets)), nonneg=True)
    supply = np.zeros((k, len(targets)))
    supply[root, :] = goal
    for j, t in enumerate(targets):
        supply[t, j] = -goal
    cons = [(ov.out_inc - ov.in_inc) @ per_dst == supply, per_dst <= load[:, None] @ np.ones((1, len(targets)))]
    cons += ov.gateway_constraints(load, vms)
    prob = cp.Problem(cp.Minimize(ov.cost_rate(load, vms)), cons)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            prob.solve(solver=cp.HIGHS, **dict(HIGHS_OPTIONS, time_limit=float(time_limit)))
    except cp.SolverError:
        return None, 0.0, "solver_error"
    if load.value is None or prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        return None, 0.0, prob.status
    bound = float(prob.value) * (1 - HIGHS_OPTIONS["mip_rel_gap"]) if prob.status == cp.OPTIMAL else 0.0
    return np.where(load.value > 1e-7, load.value, 0.0), bound, prob.status


def decompose(ov: Overlay, root: int, targets: list[int], load: np.ndarray, goal: float,
              max_trees: int = 8) -> list[tuple[float, Tree]] | None:  # fmt: skip
    """Peel distribution trees off edge loads: widest tree first, its bottleneck as its rate.

    Each tree joins one destination at a time by the widest (largest bottleneck) path from the
    tree so far. Trees only use what the loads carry, so their cost never exceeds the loads'.
    None when the loads do not split into at most ``max_trees`` trees delivering the goal.
    """
    left = load.copy()
    adj: dict[int, list[tuple[int, int]]] = {}
    for e, (a, b) in enumerate(ov.edges):
        adj.setdefault(a, []).append((b, e))
    trees: list[tuple[float, Tree]] = []
    sent = 0.0
    eps = 1e-6 * goal
    while sent < goal - eps and len(trees) < max_trees:
        in_tree, edges, width = {root}, [], math.inf
        while not set(targets) <= in_tree:
            best: dict[int, float] = {v: math.inf for v in in_tree}
            prev: dict[int, tuple[int, int]] = {}
            heap = [(-math.inf, v) for v in in_tree]
            done: set[int] = set()
            while heap:
                w, a = heapq.heappop(heap)
                if a in done:
                    continue
                done.add(a)
                for b, e in adj.get(a, []):
                    cap = min(-w, left[e])
                    if cap > eps and b not in in_tree and cap > best.get(b, 0.0):
                        best[b] = cap
                        prev[b] = (a, e)
                        heapq.heappush(heap, (-cap, b))
            reach = [t for t in targets if t not in in_tree and t in prev]
            if not reach:
                return None
            t = max(reach, key=lambda v: best[v])
            v = t
            while v not in in_tree:
                a, e = prev[v]
                edges.append((a, v, e))
                in_tree.add(v)
                v = a
            width = min(width, best[t])
        rate = min(width, goal - sent)
        for _, _, e in edges:
            left[e] -= rate
        trees.append((rate, [(a, b) for a, b, _ in edges]))
        sent += rate
    return trees if sent >= goal - eps else None


def sparse_edges(ov: Overlay, trees: Sequence[tuple[float, Tree]], per_node: int = 4) -> set[tuple[int, int]]:
    """Edges worth offering the exact model when the full graph is too big: the heuristic's trees
    plus, into every node, the ``per_node`` cheapest edges by egress price (ties: faster first)."""
    keep = {e for _, tree in trees for e in tree}
    price, tput = ov.egress_price, ov.tput
    into: dict[int, list[int]] = {}
    for i, (_, b) in enumerate(ov.edges):
        into.setdefault(b, []).append(i)
    for ids in into.values():
        ids.sort(key=lambda i: (price[i], -tput[i]))
        keep.update(ov.edges[i] for i in ids[:per_node])
    return keep


# ---------------------------------------------------------------- entry point


def plan_multicast(
    grid: RegionGrid,
    source: str,
    destinations: Sequence[str],
    goal_gbps: float,
    rules: RegionRules | None = None,
    method: str = "auto",
    relay_limit: int = 16,
    time_limit_s: float = EXACT_TIME_LIMIT_S,
) -> TransferPlan:
    """Cheapest distribution-tree plan that delivers ``goal_gbps`` to every destination."""
    rules = rules or RegionRules()
    dests = list(dict.fromkeys(destinations))
    if not dests:
        raise SkyUserError("No destination given", "name at least one destination region")
    if source in dests:
        raise SkyUserError(f"Source '{source}' is also a destination", "remove it from the destinations")
    if not goal_gbps > 0:
        raise SkyUserError(f"Throughput goal {goal_gbps} is not positive", "pass a goal above 0")
    if method not in ("auto", "exact", "heuristic"):
        raise SkyUserError(f"Unknown multicast method '{method}'", "use 'auto', 'exact' or 'heuristic'")
    rules.check_endpoints([source, *dests])
    src = grid.index(source)
    dst_idx = [grid.index(d) for d in dests]
    ov = _overlay(grid, src, dst_idx, rules, relay_limit)
    root, targets = ov.pos(src), [ov.pos(d) for d in dst_idx]

    t0 = time.perf_counter()
    found: list[tuple[float, str, str, list[tuple[float, Tree]]]] = []

    def consider(trees: list[tuple[float, Tree]] | None, how: str, status: str) -> None:
        if trees:
            try:  # a time-limited solver incumbent must still deliver everything to count
                check_delivery(ov, trees, root, targets, goal_gbps)
            except SkyError:
                return
            flow = _edge_load(ov, trees)
            cost = float(ov.egress_price @ flow / 8.0 + ov.vm_price @ ov.min_vms(flow) / 3600.0)
            if (ov.min_vms(flow) <= ov.node_array(grid.vm_limit)).all():
                found.append((cost, how, status, trees))

    deadline = time.perf_counter() + time_limit_s
    bound, loads = 0.0, None
    if method != "heuristic":
        # The per-destination relaxation is a lower bound; when its loads peel into trees, the
        # plan is optimal within the solver gap and nothing else needs to run.
        loads, bound, status = None, 0.0, "skipped"
        if len(dests) <= EXACT_MAX_DESTINATIONS:  # the integer relaxation grows fast with destinations
            loads, bound, status = relaxation(ov, root, targets, goal_gbps, time_limit_s / 2)
        if loads is None or bound == 0.0:
            loads, bound, status = relaxation(ov, root, targets, goal_gbps, time_limit_s, integer=False)
        if loads is not None:
            consider(decompose(ov, root, targets, loads, goal_gbps), "flow-decomposition", status)

    def proven() -> bool:
        best = min((f[0] for f in found), default=math.inf)
        return best <= bound * (1 + 2 * HIGHS_OPTIONS["mip_rel_gap"]) + 1e-15

    heuristic = heuristic_trees(ov, root, targets, goal_gbps) if method != "exact" and not proven() else None
    consider(heuristic, "heuristic", "feasible")
    if method == "heuristic" or proven():
        exact_on = None
    elif loads is not None:  # trees over what the relaxation (and the greedy trees) use
        keep = {e for e, x in zip(ov.edges, loads, strict=True) if x > 0}
        exact_on = ov.restrict(keep | {e for _, tree in heuristic or [] for e in tree})
    elif method == "exact" or len(dests) <= EXACT_MAX_DESTINATIONS:
        exact_on = ov
    else:
        exact_on = ov.restrict(sparse_edges(ov, heuristic)) if heuristic else None
    if exact_on is not None:
        if len(dests) > EXACT_MAX_DESTINATIONS:  # many destinations: a short polish, not a proof
            deadline = min(deadline, time.perf_counter() + PER_MODEL_TIME_S)
        how = "exact" if exact_on is ov else "exact-sparse"
        for parts in range(1, 5):  # more trees with free rates: cheaper when limits bind, but slower
            left = deadline - time.perf_counter()
            if left < 0.2 or proven():
                break
            trees, status = exact_trees(exact_on, root, targets, goal_gbps, parts, min(left, PER_MODEL_TIME_S))
            consider(trees, how, status)
    solve_s = time.perf_counter() - t0
    if not found:
        raise _unreachable(grid, source, dests, goal_gbps, rules)
    cost, how, status, trees = min(found, key=lambda f: (round(f[0], 10), f[1] == "heuristic", len(f[3])))
    trees = _merge(trees)
    check_delivery(ov, trees, root, targets, goal_gbps)
    flow = _edge_load(ov, trees)
    sol = Solution(status, goal_gbps, flow, ov.min_vms(flow), solve_s)
    plan = to_plan(ov, sol, source, dests, "cost", goal_gbps, None)
    plan.solver["method"] = how
    plan.solver["partitions"] = len(trees)
    if bound > 0:  # $/s -> $/GB at the goal, and how far the plan can be from the optimum
        plan.solver["lower_bound_usd_per_gb"] = bound * 8.0 / goal_gbps
        plan.solver["gap_pct"] = round(100.0 * max(0.0, cost - bound) / cost, 4)
    plan.trees = [PlanTree(round(r, 9), [(ov.regions[a], ov.regions[b]) for a, b in t]) for r, t in trees]
    return plan


def _unreachable(grid: RegionGrid, source: str, dests: list[str], goal: float, rules: RegionRules) -> SkyUserError:
    """Name the destination(s) that bound the goal, with what each can get on its own."""
    from airflow_provider_sky.planner.unicast import max_throughput_gbps

    caps = {d: max_throughput_gbps(grid, source, d, rules) for d in dests}
    worst = min(caps, key=lambda d: caps[d])
    return SkyUserError(
        f"A multicast of {goal:g} {grid.unit} from {source} to {len(dests)} destinations does not fit "
        f"the VM, NIC and region limits; {worst} alone can receive at most {caps[worst]:.3f} {grid.unit}, and the "
        f"source's gateways are shared by all destinations",
        "lower the goal, raise the VM limit per region, or split the destinations into groups",
    )
