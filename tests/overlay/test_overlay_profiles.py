"""The other testbed profiles through gateways: a multicast tree sends each byte out of the source
once; a deny rule keeps every byte out of the denied region; restarts and kills of the trigger."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from airflow_provider_sky.overlay import runner
from airflow_provider_sky.planner.api import Planner
from airflow_provider_sky.testbed.placement import TestbedPlacement
from airflow_provider_sky.transfer.request import CopyRequest
from tests.overlay.conftest import gateway_processes, read_tree, triangle_plan, write_tree

pytestmark = pytest.mark.netns
MiB = 1024 * 1024


def test_a_multicast_tree_sends_each_byte_out_of_the_source_once(make_testbed, tmp_path: Path) -> None:
    testbed = make_testbed("multicast")
    src = tmp_path / "src"
    sent = write_tree(src, {"shard.bin": 6 * MiB + 1, "labels.csv": 20_000})
    regions = ["local:tb-d1", "local:tb-d2", "local:tb-d3"]
    dsts = {f"file://{tmp_path / r.split('-')[-1]}/": r for r in regions}
    plan = Planner(testbed.grid()).plan_multicast("local:tb-src", regions, throughput_goal_gbps=0.05)
    assert plan.relays == ["local:tb-relay"]
    request = CopyRequest.build(f"file://{src}/", list(dsts), chunk_size=5 * MiB, multipart_threshold=5 * MiB)
    summary, _, outcome = runner.run_overlay(request, plan, dsts, TestbedPlacement(testbed.layout()), timeout_s=90)
    volume = sum(map(len, sent.values()))
    for uri in dsts:
        assert read_tree(Path(uri.removeprefix("file://"))) == sent
    out_of_source = sum(e["bytes"] for name, e in outcome.edges.items() if name.startswith("local:tb-src->"))
    assert out_of_source == volume  # once, not three times
    assert all(outcome.edges[f"local:tb-relay->{r}"]["bytes"] == volume for r in regions)
    assert [d.objects_copied for d in summary.destinations] == [2, 2, 2]


def test_the_route_obeys_a_deny_rule_and_no_byte_enters_the_denied_region(make_testbed, tmp_path: Path) -> None:
    testbed = make_testbed("five_regions")
    src, dst = tmp_path / "src", tmp_path / "dst"
    sent = write_tree(src, {"a.bin": 2 * MiB, "b.bin": 300_000})
    grid = testbed.grid()
    free = Planner(grid).plan_transfer("local:tb-a", "local:tb-e", throughput_goal_gbps=0.05)
    ruled = Planner(grid).plan_transfer("local:tb-a", "local:tb-e", throughput_goal_gbps=0.05,
                                        deny_regions=["local:tb-c"])  # fmt: skip
    assert free.relays == ["local:tb-c"] and ruled.relays == ["local:tb-b"]
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/")
    _, handle, outcome = runner.run_overlay(request, ruled, {f"file://{dst}/": "local:tb-e"},
                                            TestbedPlacement(testbed.layout()), timeout_s=90)  # fmt: skip
    assert read_tree(dst) == sent
    assert {g["region"] for g in handle.gateways} == {"local:tb-a", "local:tb-b", "local:tb-e"}
    assert not any("local:tb-c" in name for name in outcome.edges)


def test_a_triggerer_restart_mid_transfer_still_ends_in_a_complete_verified_copy(make_testbed, tmp_path: Path):
    from airflow_provider_sky.triggers.transfer import SkyTransferTrigger

    testbed = make_testbed("triangle")
    src, dst = tmp_path / "src", tmp_path / "dst"
    sent = write_tree(src, {f"f{i}.bin": 400_000 for i in range(40)})
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/")
    handle = runner.start(request, triangle_plan(), {f"file://{dst}/": "local:tb-dst"},
                          TestbedPlacement(testbed.layout()))  # fmt: skip
    classpath, kwargs = SkyTransferTrigger(handle=handle.to_dict()).serialize()
    assert classpath == "airflow_provider_sky.triggers.transfer.SkyTransferTrigger"

    async def first_life() -> None:  # the triggerer dies a second into the transfer
        trigger = SkyTransferTrigger(**kwargs)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(trigger.run()), timeout=1.0)

    async def second_life() -> dict:
        trigger = SkyTransferTrigger(**kwargs)  # re-created from its serialized kwargs
        return (await anext(trigger.run())).payload

    try:
        asyncio.run(first_life())
        event = asyncio.run(second_life())
    except BaseException:
        runner.teardown(handle)
        raise
    assert event["status"] == "success"
    summary = runner.finish(runner.OverlayHandle.from_dict(event["handle"]),
                            runner.OverlayOutcome.from_dict(event["outcome"]))  # fmt: skip
    assert read_tree(dst) == sent and summary.destinations[0].objects_copied == 40


def test_the_triggers_on_kill_stops_every_gateway(tmp_path: Path) -> None:
    from airflow_provider_sky.overlay.fleet import LoopbackPlacement
    from airflow_provider_sky.triggers.transfer import SkyTransferTrigger

    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, {"x.bin": 1000})
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/")
    handle = runner.start(request, triangle_plan(), {f"file://{dst}/": "local:tb-dst"}, LoopbackPlacement())
    assert len([p for p in gateway_processes() if handle.job_id in " ".join(p.cmdline())]) == 3
    asyncio.run(SkyTransferTrigger(handle=handle.to_dict(), cancel_on_kill=True).on_kill())
    assert not [p for p in gateway_processes() if handle.job_id in " ".join(p.cmdline())]
    assert not handle.path.exists()
