"""Gateways killed mid-transfer on the shaped triangle: a relay is routed around; a lost destination
fails cleanly (no partial object, nothing left running) and a rerun completes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from airflow_provider_sky.overlay import runner
from airflow_provider_sky.overlay.client import ControlClient
from airflow_provider_sky.overlay.watch import watch
from airflow_provider_sky.testbed.placement import TestbedPlacement
from airflow_provider_sky.transfer.request import CopyRequest
from tests.overlay.conftest import read_tree, triangle_plan, write_tree

MiB = 1024 * 1024
pytestmark = pytest.mark.netns


def _request(src: Path, dst: Path) -> CopyRequest:
    return CopyRequest.build(f"file://{src}/", f"file://{dst}/", chunk_size=5 * MiB, multipart_threshold=5 * MiB)


def _gateway(handle: runner.OverlayHandle, region: str):
    return next(p for p in handle.processes() if p.region == region)


def _wait_for_bytes(handle: runner.OverlayHandle, gateway_id: str, edge: str, at_least: int, timeout: float = 30):
    """Poll one gateway until it has sent ``at_least`` bytes on ``edge`` (so the kill lands mid-transfer)."""
    process = next(p for p in handle.processes() if p.gateway_id == gateway_id)

    async def poll() -> int:
        async with ControlClient(handle.path) as client:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                doc = await client.progress(process.control_url)
                sent = doc["edges"].get(edge, {}).get("bytes", 0)
                if sent >= at_least:
                    return sent
                await asyncio.sleep(0.05)
        raise AssertionError(f"{gateway_id} never sent {at_least} bytes to {edge}")

    return asyncio.run(poll())


def test_a_relay_killed_mid_transfer_is_routed_around_and_the_copy_is_byte_identical(
    make_testbed, tmp_path: Path
) -> None:
    testbed = make_testbed("triangle")
    src, dst = tmp_path / "src", tmp_path / "dst"
    sent = write_tree(src, {"a.bin": 12 * MiB, "b.bin": 9 * MiB + 5, **{f"small/{i}": 3000 + i for i in range(20)}})
    placement = TestbedPlacement(testbed.layout())
    prepared = runner.prepare(_request(src, dst), {f"file://{dst}/": "local:tb-dst"})
    handle = runner.launch(prepared, triangle_plan(), placement)
    try:
        relay = _gateway(handle, "local:tb-relay")
        _wait_for_bytes(handle, relay.gateway_id, "local:tb-dst", 2 * MiB)
        os.kill(relay.pid, signal.SIGKILL)
        lines: list[str] = []
        outcome = asyncio.run(watch(handle, log_line=lines.append, timeout_s=90))
    except BaseException:
        runner.teardown(handle)
        raise
    summary = runner.finish(handle, outcome)
    assert outcome.status == "success", outcome.message
    assert read_tree(dst) == sent
    assert summary.destinations[0].objects_copied == len(sent)
    assert any("routing around local:tb-relay" in line for line in lines)
    direct = outcome.edges["local:tb-src->local:tb-dst"]["bytes"]
    assert direct > 0  # what the relay held came the other way


def test_a_destination_killed_mid_transfer_fails_clearly_leaves_no_partial_object_and_a_rerun_completes(
    make_testbed, tmp_path: Path
) -> None:
    testbed = make_testbed("triangle")
    src, dst = tmp_path / "src", tmp_path / "dst"
    sent = write_tree(src, {"big.bin": 20 * MiB, "small.txt": 4000})
    placement = TestbedPlacement(testbed.layout())
    request = _request(src, dst)
    handle = runner.launch(runner.prepare(request, {f"file://{dst}/": "local:tb-dst"}), triangle_plan(), placement)
    try:
        destination = _gateway(handle, "local:tb-dst")
        _wait_for_bytes(handle, _gateway(handle, "local:tb-src").gateway_id, "local:tb-relay", 3 * MiB)
        os.kill(destination.pid, signal.SIGKILL)
        outcome = asyncio.run(watch(handle, timeout_s=60))
    except BaseException:
        runner.teardown(handle)
        raise
    assert outcome.status == "failed"
    assert "local-tb-dst-0 in local:tb-dst stopped answering" in outcome.message
    with pytest.raises(runner.OverlayFailed, match=r"stopped answering.*no partial object was kept"):
        runner.finish(handle, outcome)
    # No partial object: the big file is absent (its hidden temp file gone too); what is there is whole.
    left = {str(p.relative_to(dst)) for p in dst.rglob("*")} if dst.exists() else set()
    assert "big.bin" not in left
    assert all(sent[name] == (dst / name).read_bytes() for name in left if (dst / name).is_file())
    assert not [name for name in left if name.startswith(".")]
    summary, _, _ = runner.run_overlay(request, triangle_plan(), {f"file://{dst}/": "local:tb-dst"}, placement,
                                       timeout_s=90)  # fmt: skip
    assert read_tree(dst) == sent
    assert summary.destinations[0].objects_copied + summary.destinations[0].objects_skipped == 2
