"""The SVG pictures, drawn from real plans of the packaged grids and testbed profiles."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import cache

import pytest

from airflow_provider_sky.launch.optimizer import optimize
from airflow_provider_sky.launch.task import TaskSpec
from airflow_provider_sky.planner.api import Planner
from airflow_provider_sky.planner.plan import PlanEdge, TransferPlan
from airflow_provider_sky.render.candidates import candidates_svg
from airflow_provider_sky.render.pareto import pareto_svg
from airflow_provider_sky.render.route import route_svg

NS = {"s": "http://www.w3.org/2000/svg"}


@cache
def _relayed() -> TransferPlan:
    """Tokyo to Sao Paulo at most throughput within $0.5/GB: relays in several clouds."""
    return Planner(max_instances_per_region=4).plan_transfer("azure:japaneast", "aws:sa-east-1",
                                                             budget_usd_per_gb=0.5)  # fmt: skip


def _svg(text: str) -> ET.Element:
    return ET.fromstring(text)


def _groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return root.findall(f".//s:g[@class='{cls}']", NS)


def test_the_route_has_one_marker_per_region_and_one_arrow_per_edge() -> None:
    plan = _relayed()
    root = _svg(route_svg(plan))
    assert root.get("data-sky-picture") == "route"
    regions = {g.get("data-region"): g for g in _groups(root, "region")}
    assert set(regions) == set(plan.vms) and len(plan.relays) >= 2
    assert {r for r, g in regions.items() if g.get("data-role") == "relay"} == set(plan.relays)
    for region, count in plan.vms.items():
        assert len(regions[region].findall("s:rect[@class='gateway']", NS)) == min(count, 8)
        assert regions[region].get("data-gateways") == str(count)
    edges = [(g.get("data-src"), g.get("data-dst")) for g in _groups(root, "edge")]
    assert edges == [(e.src, e.dst) for e in plan.edges]


def test_edge_labels_carry_the_planned_and_measured_rates() -> None:
    plan = _relayed()
    last = plan.edges[-1]
    measured = {f"{last.src}->{last.dst}": {"bytes": 10**9, "connections": 8, "mbit_per_s": 1500.0}}
    root = _svg(route_svg(plan, measured))
    labels = [t.text for t in root.findall(".//s:text[@class='edge-label']", NS)]
    assert len(labels) == len(plan.edges)
    for label, edge in zip(labels, plan.edges, strict=True):
        assert float(label.split()[0]) == pytest.approx(edge.gbps, rel=0.01) and label.split()[1] == "Gbit/s"
    assert labels[-1].endswith("· measured 1.5")


def test_cloud_regions_are_placed_like_a_map() -> None:
    root = _svg(route_svg(_relayed()))
    assert _groups(root, "regions")[0].get("data-layout") == "map"
    x = {g.get("data-region"): float(g.find("s:circle", NS).get("cx")) for g in _groups(root, "region")}
    assert x["azure:japaneast"] > x["gcp:europe-central2-a"] > x["aws:sa-east-1"]


def test_a_multicast_draws_each_distribution_tree_over_its_edges() -> None:
    plan = Planner("multicast").plan_transfer("local:tb-src", ["local:tb-d1", "local:tb-d2", "local:tb-d3"],
                                              throughput_goal_gbps=0.1)  # fmt: skip
    root = _svg(route_svg(plan))
    assert _groups(root, "regions")[0].get("data-layout") == "hops"  # testbed regions have no place
    trees = _groups(root, "tree")
    assert len(trees) == len(plan.trees) >= 1
    for tree, planned in zip(trees, plan.trees, strict=True):
        drawn = [(p.get("data-src"), p.get("data-dst")) for p in tree.findall("s:path[@class='tree-edge']", NS)]
        assert drawn == [tuple(e) for e in planned.edges]
    x = {g.get("data-region"): float(g.find("s:circle", NS).get("cx")) for g in _groups(root, "region")}
    assert x["local:tb-src"] < x["local:tb-relay"] < min(x["local:tb-d1"], x["local:tb-d2"], x["local:tb-d3"])


def test_a_direct_edge_beside_its_relayed_path_is_bowed_clear_of_the_relay() -> None:
    plan = Planner("triangle").plan_transfer("local:tb-src", "local:tb-dst", budget_usd_per_gb=1.0)
    root = _svg(route_svg(plan))
    y = {g.get("data-region"): float(g.find("s:circle", NS).get("cy")) for g in _groups(root, "region")}
    assert y["local:tb-src"] == y["local:tb-relay"] == y["local:tb-dst"]  # one row: src, relay, dst
    direct = next(g for g in _groups(root, "edge") if g.get("data-dst") == "local:tb-dst" and g.get("data-src") ==
                  "local:tb-src")  # fmt: skip
    control_y = float(direct.find("s:path", NS).get("d").split("Q")[1].split(",")[1].split()[0])
    assert abs(control_y - y["local:tb-relay"]) > 100


def test_names_from_xcom_are_text_never_markup() -> None:
    odd = "local:<script>alert(1)</script>&"
    plan = TransferPlan("local:a", [odd], "cost", 1.0, 0.0, 0.0, [PlanEdge("local:a", odd, 1.0, 2, 0.0, 1.0)],
                        {"local:a": 1, odd: 1})  # fmt: skip
    text = route_svg(plan)
    root = _svg(text)
    assert root.find(".//s:script", NS) is None and "<script>" not in text
    assert odd in [t.text for t in root.findall(".//s:text[@class='region-label']", NS)]


def test_the_pareto_picture_has_a_point_per_solved_goal_and_marks_the_plan() -> None:
    planner = Planner(max_instances_per_region=4)
    frontier = planner.pareto("azure:japaneast", "aws:sa-east-1", points=6)
    plan = _relayed()
    root = _svg(pareto_svg(frontier, ("azure:japaneast", "aws:sa-east-1"), chosen=(plan.throughput_gbps,
                                                                                    plan.cost_usd_per_gb)))  # fmt: skip
    points = root.findall(".//s:circle[@class='pareto-point']", NS)
    assert len(points) == len(frontier) == 6
    assert [p.get("data-dominated") == "true" for p in points] == [p.dominated for p in frontier]
    front = root.find(".//s:polyline[@class='pareto-front']", NS)
    assert front is not None and len(front.get("points", "").split()) == sum(not p.dominated for p in frontier)
    assert len(_groups(root, "pareto-chosen")) == 1


@pytest.mark.parametrize("limit", [3, 12])
def test_candidates_are_ranked_bars_coloured_by_what_trying_them_did(limit: int) -> None:
    spec = TaskSpec.from_dict({"name": "x", "resources": {"cpus": "4+"}, "run": "true"}, {}, {})
    plan = optimize(spec)
    first, second = plan.candidates[0], plan.candidates[1]
    attempts = [{"candidate": first.describe(), "outcome": "capacity"},
                {"candidate": second.describe(), "outcome": "launched"}]  # fmt: skip
    root = _svg(candidates_svg(plan.candidates, attempts, limit=limit))
    rows = _groups(root, "candidate")
    assert [int(r.get("data-rank", 0)) for r in rows] == list(range(1, min(limit, len(plan.candidates)) + 1))
    assert [r.get("data-outcome") for r in rows[:3]] == ["capacity", "launched", "not tried"][: len(rows)]
    assert rows[0].get("data-location") == first.location
