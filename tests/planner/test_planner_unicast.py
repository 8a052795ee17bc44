"""Unicast plans on grids small enough that the optimum is known by hand."""

from __future__ import annotations

import itertools
import json

import pytest
from planner_grids import make_grid

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.planner.api import Planner
from airflow_provider_sky.planner.plan import TransferPlan


def test_relay_beats_slow_direct_link(relay_grid):
    # 4 Gbps direct needs 4 VMs at each end (1 Gbps per VM pair); via r one VM per region does it.
    plan = Planner(relay_grid).plan_transfer("local:a", "local:b", throughput_goal_gbps=4)
    assert plan.relays == ["local:r"]
    assert plan.vms == {"local:a": 1, "local:b": 1, "local:r": 1}
    assert [(e.src, e.dst, e.gbps) for e in plan.edges] == [("local:a", "local:r", 4.0), ("local:r", "local:b", 4.0)]
    assert plan.egress_usd_per_gb == pytest.approx(0.02)


def test_nic_limit_forces_more_vms():
    grid = make_grid(["a", "b"], {("a", "b"): (10.0, 0.01)}, nic=(2.0, 100.0))
    plan = Planner(grid).plan_transfer("local:a", "local:b", throughput_goal_gbps=5)
    # 5 Gbps out of a 2 Gbps-per-VM NIC needs 3 sender VMs; one receiver takes 5 of its 10 Gbps link.
    assert plan.vms == {"local:a": 3, "local:b": 1}


def test_connection_limit_counts_per_vm():
    grid = make_grid(["a", "b"], {("a", "b"): (2.0, 0.01)})
    plan = Planner(grid).plan_transfer("local:a", "local:b", throughput_goal_gbps=5)
    assert plan.vms == {"local:a": 3, "local:b": 3}  # 2 Gbps per VM pair at 64 connections each
    assert plan.edges[0].connections == 160  # 64 connections per 2 Gbps


def test_budget_cuts_throughput():
    # a and b may run 2 VMs: the cheap direct link (10 Gbps per VM pair) tops out at 20 Gbps.
    # The dear relay path is 4x faster per connection, so money buys up to 40 Gbps more through r.
    links = {("a", "b"): (10.0, 0.01), ("a", "r"): (40.0, 0.05), ("r", "b"): (40.0, 0.05)}
    grid = make_grid(["a", "b", "r"], links, vm_limit={"a": 2, "b": 2, "r": 1})
    planner = Planner(grid)
    cheap = planner.plan_transfer("local:a", "local:b", budget_usd_per_gb=0.01)
    rich = planner.plan_transfer("local:a", "local:b", budget_usd_per_gb=1.0)
    assert cheap.throughput_gbps == pytest.approx(20.0, rel=1e-4)
    assert cheap.relays == []
    assert rich.throughput_gbps == pytest.approx(50.0, rel=1e-4)  # 10 direct (connections) + 40 via r
    assert rich.relays == ["local:r"]


def test_denied_region_forces_worse_route(relay_grid):
    planner = Planner(relay_grid)
    free = planner.plan_transfer("local:a", "local:b", throughput_goal_gbps=4)
    ruled = planner.plan_transfer("local:a", "local:b", throughput_goal_gbps=4, deny_regions=["local:r*"])
    assert "local:r" not in ruled.vms
    assert all("local:r" not in (e.src, e.dst) for e in ruled.edges)
    assert ruled.vms == {"local:a": 4, "local:b": 4}  # 1 Gbps per VM pair
    assert ruled.cost_usd_per_gb > free.cost_usd_per_gb


def test_allow_list_limits_relays(relay_grid):
    plan = Planner(relay_grid).plan_transfer(
        "local:a", "local:b", throughput_goal_gbps=4, allow_regions=["local:elsewhere-*"]
    )
    assert plan.relays == []


def test_denied_endpoint_is_refused(relay_grid):
    with pytest.raises(SkyUserError, match="deny_regions"):
        Planner(relay_grid).plan_transfer("local:a", "local:b", throughput_goal_gbps=1, deny_regions=["local:b"])


def test_unreachable_goal_names_the_maximum():
    grid = make_grid(["a", "b"], {("a", "b"): (3.0, 0.01)}, vm_limit=2)
    with pytest.raises(SkyUserError, match=r"most achievable is 6\.000 Gbit/s") as err:
        Planner(grid).plan_transfer("local:a", "local:b", throughput_goal_gbps=7)
    assert "Fix: lower the goal to at most 6.000" in str(err.value)


def test_budget_below_cheapest_names_the_cheapest():
    grid = make_grid(["a", "b"], {("a", "b"): (10.0, 0.03)}, vm_usd_per_hour=0.0)
    with pytest.raises(SkyUserError, match=r"cheapest costs \$0\.0300"):
        Planner(grid).plan_transfer("local:a", "local:b", budget_usd_per_gb=0.01)


def test_unknown_region_lists_known_ones(relay_grid):
    with pytest.raises(SkyUserError, match="local:a"):
        Planner(relay_grid).plan_transfer("local:a", "local:zz", throughput_goal_gbps=1)


def test_plan_round_trips_through_json(relay_grid):
    plan = Planner(relay_grid).plan_transfer("local:a", "local:b", throughput_goal_gbps=4)
    again = TransferPlan.from_dict(json.loads(plan.to_json()))
    assert again == plan
    assert "relays: local:r" in plan.explain(volume_gb=100)


def test_prediction_bills_vms_for_transfer_time(relay_grid):
    plan = Planner(relay_grid).plan_transfer("local:a", "local:b", throughput_goal_gbps=4)
    pred = plan.predict(volume_gb=100)
    assert pred["seconds"] == pytest.approx(200.0)  # 800 Gbit at 4 Gbit/s
    assert pred["vm_usd"] == pytest.approx(3 * 0.1 * 200)
    assert pred["egress_usd"] == pytest.approx(100 * 0.02)


def test_pareto_rate_cost_grows_with_throughput(relay_grid):
    points = Planner(relay_grid).pareto("local:a", "local:b", points=6)
    assert len(points) == 6
    rates = [p.gbps for p in points]
    assert rates == sorted(rates)
    dollars_per_s = [p.cost_usd_per_gb * p.gbps for p in points]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(dollars_per_s))
