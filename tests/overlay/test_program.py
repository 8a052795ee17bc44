"""The plan compiler on plans checked by hand: partitions, hops, weights and connections."""

from __future__ import annotations

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.gateway.program import Hop, compile_programs, partitions
from airflow_provider_sky.planner.plan import PlanEdge, PlanTree, TransferPlan


def _plan(edges: list[tuple[str, str, float, int]], vms: dict[str, int], dests=("c",), trees=()) -> TransferPlan:
    return TransferPlan(
        source="a", destinations=list(dests), objective="cost", throughput_gbps=1.0, egress_usd_per_gb=0.0,
        vm_usd_per_gb=0.0, edges=[PlanEdge(s, d, g, c, 0.0, g) for s, d, g, c in edges], vms=vms,
        trees=list(trees),
    )  # fmt: skip


def test_the_direct_path_is_one_partition_with_one_hop() -> None:
    programs = compile_programs(_plan([("a", "c", 1.0, 8)], {"a": 1, "c": 1}), "job")
    assert set(programs) == {"a-0", "c-0"}
    source, dest = programs["a-0"], programs["c-0"]
    assert source.reads and not source.writes
    assert source.hops == {0: Hop(("c",), False)} and source.weights == {0: 1.0}
    assert source.connections == {"c": 8}
    assert dest.writes and not dest.reads and dest.hops == {0: Hop((), True)} and dest.connections == {}


def test_a_triangle_splits_into_the_relayed_and_the_direct_path_weighted_by_flow() -> None:
    plan = _plan([("a", "b", 0.2, 6), ("b", "c", 0.2, 6), ("a", "c", 0.02, 1)], {"a": 1, "b": 1, "c": 1})
    parts = partitions(plan)
    assert [(p.weight, p.edges) for p in parts] == [(0.2, (("a", "b"), ("b", "c"))), (0.02, (("a", "c"),))]
    programs = compile_programs(plan, "job")
    assert programs["a-0"].hops == {0: Hop(("b",), False), 1: Hop(("c",), False)}
    assert programs["a-0"].weights == {0: 0.2, 1: 0.02}
    assert programs["a-0"].connections == {"b": 6, "c": 1}
    assert programs["b-0"].hops == {0: Hop(("c",), False)} and not programs["b-0"].reads
    assert programs["c-0"].hops == {0: Hop((), True), 1: Hop((), True)}


def test_unequal_paths_peel_the_widest_first_and_leave_no_flow_behind() -> None:
    # a->b carries 3, splitting at b into b->c (1) and b->d->c (2); plus a->c 0.5.
    plan = _plan(
        [("a", "b", 3.0, 4), ("b", "c", 1.0, 2), ("b", "d", 2.0, 2), ("d", "c", 2.0, 2), ("a", "c", 0.5, 1)],
        {"a": 1, "b": 1, "c": 1, "d": 1},
    )
    parts = partitions(plan)
    assert [(p.weight, p.edges) for p in parts] == [
        (2.0, (("a", "b"), ("b", "d"), ("d", "c"))),
        (1.0, (("a", "b"), ("b", "c"))),
        (0.5, (("a", "c"),)),
    ]
    assert sum(p.weight for p in parts) == pytest.approx(3.5)


def test_a_multicast_tree_forwards_from_a_destination_and_writes_at_every_destination() -> None:
    tree = PlanTree(1.0, [("a", "r"), ("r", "c"), ("r", "d"), ("d", "e")])
    plan = _plan(
        [("a", "r", 1.0, 4), ("r", "c", 1.0, 4), ("r", "d", 1.0, 4), ("d", "e", 1.0, 4)],
        {"a": 1, "r": 1, "c": 1, "d": 1, "e": 1}, dests=("c", "d", "e"), trees=[tree],
    )  # fmt: skip
    programs = compile_programs(plan, "job")
    assert programs["r-0"].hops == {0: Hop(("c", "d"), False)}
    assert programs["d-0"].hops == {0: Hop(("e",), True)} and programs["d-0"].writes
    assert programs["e-0"].hops == {0: Hop((), True)}


def test_connections_are_split_over_the_sending_regions_gateways() -> None:
    plan = _plan([("a", "c", 1.0, 10)], {"a": 3, "c": 2})
    programs = compile_programs(plan, "job")
    assert sorted(programs) == ["a-0", "a-1", "a-2", "c-0", "c-1"]
    assert {programs[g].connections["c"] for g in ("a-0", "a-1", "a-2")} == {4}


def test_region_ids_become_safe_gateway_ids_and_round_trip_through_json() -> None:
    plan = TransferPlan(
        source="aws:us-east-1", destinations=["gcp:europe-west4-a"], objective="cost", throughput_gbps=1.0,
        egress_usd_per_gb=0.09, vm_usd_per_gb=0.0,
        edges=[PlanEdge("aws:us-east-1", "gcp:europe-west4-a", 1.0, 16, 0.09, 1.0)],
        vms={"aws:us-east-1": 1, "gcp:europe-west4-a": 1},
    )  # fmt: skip
    programs = compile_programs(plan, "job")
    assert sorted(programs) == ["aws-us-east-1-0", "gcp-europe-west4-a-0"]
    from airflow_provider_sky.gateway.program import GatewayProgram

    program = programs["aws-us-east-1-0"]
    assert GatewayProgram.from_dict(program.to_dict()) == program


def test_a_plan_without_flow_or_without_a_relays_vm_is_refused() -> None:
    with pytest.raises(SkyUserError, match="carries no flow"):
        compile_programs(_plan([], {"a": 1, "c": 1}), "job")
    with pytest.raises(SkyUserError, match="starts no gateway there"):
        compile_programs(_plan([("a", "b", 1.0, 1), ("b", "c", 1.0, 1)], {"a": 1, "c": 1}), "job")
