"""Properties of plans on random small grids: flows add up, limits hold, rules hold, trees reach all."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.planner.api import Planner
from airflow_provider_sky.planner.data import RegionGrid, grid_from_dict
from airflow_provider_sky.planner.plan import TransferPlan

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
N = 5
REGIONS = [f"local:n{i}" for i in range(N)]


@st.composite
def grids(draw) -> RegionGrid:
    """5 regions, random links (some missing), prices, NIC limits and VM limits."""
    tput = [[0.0 if i == j else draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0, 10.0])) for j in range(N)]
            for i in range(N)]  # fmt: skip
    cost = [[0.0 if i == j else draw(st.sampled_from([0.0, 0.01, 0.02, 0.05, 0.09])) for j in range(N)]
            for i in range(N)]  # fmt: skip
    return grid_from_dict(
        {
            "regions": REGIONS,
            "throughput_gbps": tput,
            "egress_usd_per_gb": cost,
            "vm_usd_per_hour": draw(st.sampled_from([0.0, 0.54, 5.0])),
            "nic_egress_gbps": [draw(st.sampled_from([2.0, 5.0, 16.0])) for _ in range(N)],
            "nic_ingress_gbps": [draw(st.sampled_from([4.0, 10.0, 16.0])) for _ in range(N)],
            "vm_limit": [draw(st.integers(1, 4)) for _ in range(N)],
        }
    )


def check_limits(grid: RegionGrid, plan: TransferPlan) -> None:
    """Per-region NIC, connection and VM limits hold for the plan's edges and VM counts."""
    out_gbps, in_gbps, out_conn, in_conn = (defaultdict(float) for _ in range(4))
    for e in plan.edges:
        assert e.gbps > 0
        out_gbps[e.src] += e.gbps
        in_gbps[e.dst] += e.gbps
        out_conn[e.src] += e.gbps / e.link_gbps_per_vm
        in_conn[e.dst] += e.gbps / e.link_gbps_per_vm
    for region in set(out_gbps) | set(in_gbps):
        i = grid.index(region)
        n = plan.vms.get(region, 0)
        assert 1 <= n <= grid.vm_limit[i]
        tol = 1e-6 * max(1.0, n)
        assert out_gbps[region] <= grid.nic_egress_gbps[i] * n + tol
        assert in_gbps[region] <= grid.nic_ingress_gbps[i] * n + tol
        assert out_conn[region] <= n + tol and in_conn[region] <= n + tol


@SETTINGS
@given(grid=grids(), goal=st.sampled_from([0.5, 1.0, 3.0, 8.0]))
def test_unicast_conserves_flow_and_respects_limits(grid, goal):
    try:
        plan = Planner(grid).plan_transfer(REGIONS[0], REGIONS[1], throughput_goal_gbps=goal)
    except SkyUserError:
        assume(False)
    net = defaultdict(float)
    for e in plan.edges:
        net[e.src] += e.gbps
        net[e.dst] -= e.gbps
    assert math.isclose(net.pop(REGIONS[0]), goal, rel_tol=1e-6)
    assert math.isclose(net.pop(REGIONS[1]), -goal, rel_tol=1e-6)
    assert all(abs(v) < 1e-6 for v in net.values())
    check_limits(grid, plan)


@SETTINGS
@given(grid=grids(), goal=st.sampled_from([0.5, 2.0, 6.0]), denied=st.sampled_from(REGIONS[2:]))
def test_denied_regions_carry_no_flow(grid, goal, denied):
    try:
        plan = Planner(grid).plan_transfer(REGIONS[0], REGIONS[1], throughput_goal_gbps=goal,
                                           deny_regions=[denied])  # fmt: skip
    except SkyUserError:
        assume(False)
    assert denied not in plan.vms
    assert all(denied not in (e.src, e.dst) for e in plan.edges)


@SETTINGS
@given(grid=grids(), low=st.sampled_from([0.5, 1.0, 2.0]), factor=st.sampled_from([1.5, 2.0, 4.0]))
def test_cost_never_decreases_as_the_goal_rises(grid, low, factor):
    planner = Planner(grid)
    try:
        high = planner.plan_transfer(REGIONS[0], REGIONS[1], throughput_goal_gbps=low * factor)
    except SkyUserError:
        assume(False)
    slow = planner.plan_transfer(REGIONS[0], REGIONS[1], throughput_goal_gbps=low)
    # Dollars per second of transfer (what the MILP minimises): a faster plan never costs less.
    rate = [p.cost_usd_per_gb * p.throughput_gbps / 8 for p in (slow, high)]
    assert rate[1] >= rate[0] - 1e-9


@SETTINGS
@given(grid=grids(), goal=st.sampled_from([0.5, 2.0, 5.0]), k=st.integers(2, 3),
       method=st.sampled_from(["exact", "heuristic"]))  # fmt: skip
def test_multicast_reaches_every_destination(grid, goal, k, method):
    dests = REGIONS[1 : 1 + k]
    try:
        plan = Planner(grid).plan_multicast(REGIONS[0], dests, throughput_goal_gbps=goal, method=method)
    except SkyUserError:
        assume(False)
    assert math.isclose(sum(t.gbps for t in plan.trees), goal, rel_tol=1e-6)
    load: dict[tuple[str, str], float] = defaultdict(float)
    for tree in plan.trees:
        reached, frontier = {REGIONS[0]}, [REGIONS[0]]
        while frontier:
            node = frontier.pop()
            for a, b in tree.edges:
                if a == node and b not in reached:
                    reached.add(b)
                    frontier.append(b)
        assert set(dests) <= reached
        for edge in tree.edges:
            load[edge] += tree.gbps
    assert {(e.src, e.dst): e.gbps for e in plan.edges} == {k: np.round(v, 6) for k, v in load.items()}
    check_limits(grid, plan)
