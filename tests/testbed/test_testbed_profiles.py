"""The packaged profiles load, mean to the planner what they say, and bound what the testbed can carry."""

from __future__ import annotations

import json

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.planner.api import Planner
from airflow_provider_sky.planner.data import grid_from_dict
from airflow_provider_sky.testbed import load_profile, max_flow, multicast_bound, profile_names

SRC, RELAY, DST = "local:tb-src", "local:tb-relay", "local:tb-dst"
DESTS = ["local:tb-d1", "local:tb-d2", "local:tb-d3"]


def edges(plan) -> set[tuple[str, str]]:
    return {(e.src, e.dst) for e in plan.edges}


def test_packaged_profiles_are_listed_and_load_by_name() -> None:
    assert profile_names() == ["five_regions", "multicast", "triangle"]
    for name in profile_names():
        doc = load_profile(name)
        assert doc["name"] == name and doc["format"] == "sky-grid/1" and doc["notes"]
        assert max(max(row) for row in doc["throughput_gbps"]) <= 0.2
        assert doc["vm_limit"] == 1


def test_profile_loads_from_a_path_and_returns_a_private_copy(tmp_path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(load_profile("triangle")))
    doc = load_profile(path)
    doc["throughput_gbps"][0][1] = 9.0
    assert load_profile(path)["throughput_gbps"][0][1] == 0.2
    assert load_profile("triangle")["throughput_gbps"][0][1] == 0.2


def test_unknown_profile_names_the_packaged_ones() -> None:
    with pytest.raises(SkyUserError, match="triangle"):
        load_profile("no-such-profile")


def test_profile_with_a_ragged_rate_matrix_is_refused() -> None:
    doc = load_profile("triangle")
    doc["throughput_gbps"][1] = [0.2, 0.0]
    with pytest.raises(SkyUserError, match="3x3"):
        load_profile(doc)


def test_planner_reads_profiles_and_ignores_the_notes() -> None:
    for name in profile_names():
        grid = grid_from_dict(load_profile(name))
        assert grid.name == name and grid.unit == "Gbit/s" and set(grid.vm_limit) == {1}
        assert grid.link_model == "independent"


def test_triangle_relays_for_speed_and_goes_direct_when_slow_is_enough() -> None:
    planner = Planner(grid=load_profile("triangle"))
    fastest = planner.plan_transfer(SRC, DST, budget_usd_per_gb=1.0)
    assert edges(fastest) == {(SRC, DST), (SRC, RELAY), (RELAY, DST)}  # both paths, each link full
    assert fastest.throughput_gbps == pytest.approx(0.22)
    mixed = planner.plan_transfer(SRC, DST, throughput_goal_gbps=0.1)
    assert edges(mixed) == {(SRC, DST), (SRC, RELAY), (RELAY, DST)}
    slow = planner.plan_transfer(SRC, DST, throughput_goal_gbps=0.01)
    assert edges(slow) == {(SRC, DST)}


def test_triangle_max_throughput_plan_fills_direct_and_relayed_paths() -> None:
    # link_model "independent": each veth is its own link, so one gateway's connections are not shared.
    plan = Planner(grid=load_profile("triangle")).plan_transfer(SRC, DST, budget_usd_per_gb=1.0)
    assert plan.throughput_gbps == pytest.approx(max_flow(load_profile("triangle"), SRC, DST))


def test_multicast_profile_plans_one_tree_through_the_relay() -> None:
    planner = Planner(grid=load_profile("multicast"))
    for goal in (0.005, 0.05):  # 0.005: three direct copies fit but cost more; 0.05: only the tree fits
        plan = planner.plan_multicast(SRC, DESTS, throughput_goal_gbps=goal)
        assert edges(plan) == {(SRC, RELAY), *((RELAY, d) for d in DESTS)}
        assert plan.egress_usd_per_gb == pytest.approx(0.09 + 3 * 0.01)


def test_five_regions_deny_rule_moves_the_relay() -> None:
    doc = load_profile("five_regions")
    planner = Planner(grid=doc)
    a, b, c, e = "local:tb-a", "local:tb-b", "local:tb-c", "local:tb-e"
    assert "deny_regions=['local:tb-c']" in doc["notes"]
    cheapest = {"throughput_goal_gbps": 0.05}
    assert edges(planner.plan_transfer(a, e, **cheapest)) == {(a, c), (c, e)}
    assert edges(planner.plan_transfer(a, e, deny_regions=[c], **cheapest)) == {(a, b), (b, e)}
    fastest, ruled = (planner.plan_transfer(a, e, budget_usd_per_gb=1.0, deny_regions=d) for d in (None, [c]))
    assert c in fastest.relays and c not in ruled.relays and b in ruled.relays  # every other path, never c
    assert fastest.throughput_gbps == pytest.approx(max_flow(doc, a, e))


def test_max_flow_of_the_packaged_profiles() -> None:
    assert max_flow(load_profile("triangle"), SRC, DST) == pytest.approx(0.22)
    assert max_flow(load_profile("five_regions"), "local:tb-a", "local:tb-e") == pytest.approx(0.36)
    assert multicast_bound(load_profile("multicast"), SRC, DESTS) == pytest.approx(0.22)


def _doc(regions: list[str], rates: list[list[float]]) -> dict:
    return {"regions": regions, "throughput_gbps": rates}


def test_max_flow_cancels_flow_on_a_badly_chosen_first_path() -> None:
    # s->a->b->t is the first shortest path found; max flow 2 needs pushing back over a->b.
    doc = _doc(
        ["s", "a", "b", "t"],
        [[0, 1, 1, 0],
         [0, 0, 1, 1],
         [0, 0, 0, 1],
         [0, 0, 0, 0]],
    )  # fmt: skip
    assert max_flow(doc, "s", "t") == pytest.approx(2.0)


def test_max_flow_is_limited_by_the_narrowest_cut_and_is_directional() -> None:
    doc = _doc(["s", "m", "t"], [[0, 5, 0], [0, 0, 0.5], [3, 3, 0]])
    assert max_flow(doc, "s", "t") == pytest.approx(0.5)
    assert max_flow(doc, "t", "s") == pytest.approx(3.0)  # t->m leads nowhere but back to t
    assert max_flow(_doc(["s", "t"], [[0, 0], [1, 0]]), "s", "t") == 0.0


def test_multicast_bound_is_the_worst_destination() -> None:
    doc = _doc(["s", "x", "y"], [[0, 0.1, 0.3], [0, 0, 0], [0, 0.05, 0]])
    assert multicast_bound(doc, "s", ["x", "y"]) == pytest.approx(0.15)
    with pytest.raises(SkyUserError, match="not in profile"):
        max_flow(doc, "s", "nowhere")


def test_a_users_vm_limit_cannot_raise_a_testbeds_one_gateway_per_namespace() -> None:
    plan = Planner(grid=load_profile("triangle"), max_instances_per_region=4).plan_transfer(
        SRC, DST, throughput_goal_gbps=0.15
    )
    assert set(plan.vms.values()) == {1}
