"""Multicast plans: shared edges carry data once, and every destination receives everything."""

from __future__ import annotations

import pytest
from planner_grids import make_grid

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.planner.api import Planner
from airflow_provider_sky.planner.data import load_grid


@pytest.fixture
def hub_grid():
    """s reaches d1/d2 directly at $0.05/GB each, or the hub h at $0.05 which forwards at $0.01."""
    links = {
        ("s", "d1"): (10.0, 0.05), ("s", "d2"): (10.0, 0.05), ("s", "h"): (10.0, 0.05),
        ("h", "d1"): (10.0, 0.01), ("h", "d2"): (10.0, 0.01), ("d1", "d2"): (10.0, 0.05),
        ("d2", "d1"): (10.0, 0.05),
    }  # fmt: skip
    return make_grid(["s", "d1", "d2", "h"], links)


@pytest.mark.parametrize("method", ["exact", "heuristic"])
def test_multicast_shares_the_edge_to_the_hub(hub_grid, method):
    plan = Planner(hub_grid).plan_multicast("local:s", ["local:d1", "local:d2"], throughput_goal_gbps=4,
                                            method=method)  # fmt: skip
    edges = {(e.src, e.dst): e.gbps for e in plan.edges}
    assert edges == {("local:s", "local:h"): 4.0, ("local:h", "local:d1"): 4.0, ("local:h", "local:d2"): 4.0}
    assert plan.egress_usd_per_gb == pytest.approx(0.07)  # not 2 x 0.06 for two separate copies
    assert plan.trees and all(t.gbps == pytest.approx(4.0) for t in plan.trees)


def test_multicast_respects_denied_hub(hub_grid):
    plan = Planner(hub_grid).plan_multicast(
        "local:s", ["local:d1", "local:d2"], throughput_goal_gbps=4, deny_regions=["local:h"]
    )
    assert "local:h" not in plan.vms
    assert plan.egress_usd_per_gb == pytest.approx(0.10)


def test_multicast_splits_into_trees_when_one_cannot_carry_the_goal():
    # d is reachable only through r1 or r2, each one VM on 5 Gbps links: 8 Gbps needs both routes.
    links = {
        ("s", "r1"): (5.0, 0.01), ("r1", "d"): (5.0, 0.01), ("s", "r2"): (5.0, 0.01),
        ("r2", "d"): (5.0, 0.01), ("s", "e"): (20.0, 0.01),
    }  # fmt: skip
    grid = make_grid(["s", "d", "e", "r1", "r2"], links, vm_limit={"r1": 1, "r2": 1})
    plan = Planner(grid).plan_multicast("local:s", ["local:d", "local:e"], throughput_goal_gbps=8)
    assert len(plan.trees) == 2
    assert sum(t.gbps for t in plan.trees) == pytest.approx(8.0)
    for tree in plan.trees:
        assert {b for _, b in tree.edges} >= {"local:d", "local:e"}
    into_d = {e.src: e.gbps for e in plan.edges if e.dst == "local:d"}
    assert set(into_d) == {"local:r1", "local:r2"} and max(into_d.values()) <= 5.0 + 1e-6


def test_multicast_beyond_limits_names_the_bottleneck(hub_grid):
    with pytest.raises(SkyUserError, match="at most"):
        Planner(hub_grid).plan_multicast("local:s", ["local:d1", "local:d2"], throughput_goal_gbps=10_000)


def test_multicast_on_cloud_grid_is_cheaper_than_separate_copies():
    planner = Planner(load_grid())
    dests = ["gcp:europe-west4-a", "gcp:europe-west1-b", "gcp:europe-west3-a", "azure:westeurope"]
    plan = planner.plan_multicast("aws:us-east-1", dests, throughput_goal_gbps=4)
    copies = sum(planner.plan_transfer("aws:us-east-1", d, throughput_goal_gbps=4).cost_usd_per_gb for d in dests)
    assert plan.cost_usd_per_gb < copies
    assert set(plan.destinations) == set(dests)


def test_multicast_reports_its_distance_from_the_lower_bound(hub_grid):
    plan = Planner(hub_grid).plan_multicast("local:s", ["local:d1", "local:d2"], throughput_goal_gbps=4)
    assert plan.solver["lower_bound_usd_per_gb"] <= plan.cost_usd_per_gb
    assert plan.solver["gap_pct"] <= 0.1  # the relaxation's loads peel into the hub tree
