"""Re-planning with damping on the shaped triangle: a link slowed mid-transfer makes the route switch
once, through a relay started for it, and it does not flap back when the link recovers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from airflow_provider_sky.overlay import runner
from airflow_provider_sky.overlay.replan import PARTITION_STRIDE, ReplanPolicy, ReplanSpec
from airflow_provider_sky.overlay.watch import _replanner, watch
from airflow_provider_sky.planner.api import Planner
from airflow_provider_sky.testbed.placement import TestbedPlacement
from airflow_provider_sky.transfer.request import CopyRequest
from tests.overlay.conftest import read_tree, write_tree
from tests.overlay.test_overlay_failures import _wait_for_bytes

pytestmark = pytest.mark.netns
SRC, RELAY, DST = "local:tb-src", "local:tb-relay", "local:tb-dst"


def test_a_slowed_direct_link_switches_the_route_once_and_it_does_not_flap_back(make_testbed, tmp_path: Path) -> None:
    testbed = make_testbed("triangle")
    src, dst = tmp_path / "src", tmp_path / "dst"
    sent = write_tree(src, {f"part-{i:03d}.bin": 150_000 for i in range(300)})  # 45 MB in small frames
    grid = testbed.grid()
    plan = Planner(grid).plan_transfer(SRC, DST, throughput_goal_gbps=0.015)
    assert plan.relays == []  # the cheapest route at this goal is the direct link alone
    policy = ReplanPolicy(off_by=0.5, sustained_s=1.0, gain=0.25, max_switches=2, settle_s=1.0)
    spec = ReplanSpec(goal_gbps=0.015, policy=asdict(policy)).to_dict()
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/")
    prepared = runner.prepare(request, {f"file://{dst}/": DST})
    handle = runner.launch(prepared, plan, TestbedPlacement(testbed.layout()), replan=spec, grid=grid)
    lines: list[str] = []
    try:
        _wait_for_bytes(handle, "local-tb-src-0", DST, 1_000_000)
        testbed.set_rate(SRC, DST, 0.002)  # the direct link drops to a tenth
        restored = False

        def log_line(line: str) -> None:
            nonlocal restored
            lines.append(line)
            if "Re-plan switch 1" in line and not restored:
                testbed.set_rate(SRC, DST, 0.02)  # ...and recovers: the route must not flap back
                restored = True

        started = time.monotonic()
        outcome = asyncio.run(watch(handle, log_line=log_line, timeout_s=120))
        took = time.monotonic() - started
        resumed = _replanner(handle)  # what a restarted triggerer's watch would start from
    except BaseException:
        runner.teardown(handle)
        raise
    runner.finish(handle, outcome)
    assert outcome.status == "success", outcome.message
    assert resumed is not None and len(resumed.switches) == 1  # the limit counts across restarts
    assert resumed.switched(plan, "again", 0.5) == 2 * PARTITION_STRIDE  # new partition ids, no reuse
    assert read_tree(dst) == sent
    assert len(outcome.switches) == 1, lines
    assert RELAY in outcome.switches[0]["plan"]["vms"]
    relayed = outcome.edges[f"{SRC}->{RELAY}"]["bytes"]
    assert relayed == outcome.edges[f"{RELAY}->{DST}"]["bytes"] > 10_000_000  # most bytes took the new route
    assert took < 60  # at the slowed direct rate alone the rest would take minutes
