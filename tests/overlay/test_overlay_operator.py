"""The operator's overlay paths outside a DAG run: strict parsing, on_kill, timeouts, the budget."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.overlay import runner
from airflow_provider_sky.overlay.fleet import LoopbackPlacement
from airflow_provider_sky.planner.plan import PlanEdge, TransferPlan
from airflow_provider_sky.transfer.request import CopyRequest
from tests.overlay.conftest import gateway_processes, triangle_plan, write_tree


def _operator(**kwargs):
    from airflow_provider_sky.operators.transfer import SkyTransferOperator

    return SkyTransferOperator(task_id="t", source="file:///tmp/a/", destination="file:///tmp/b/", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delete": "False", "mode": "sync"}, None),  # a rendered "False" is false, not true
        ({"delete": "maybe"}, "delete='maybe' is not a boolean"),
        ({"chunk_size_mb": "0"}, "chunk_size_mb='0' is out of range"),
        ({"concurrency": "8.5"}, "concurrency='8.5' is not an integer"),
        ({"mode": "copy"}, "mode='copy' is not one of cp, sync"),
    ],
)
def test_rendered_arguments_are_parsed_strictly(kwargs: dict, message: str | None) -> None:
    op = _operator(**kwargs)
    if message is None:
        assert op.build_request().delete is False
        return
    with pytest.raises(SkyUserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        op.build_request()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"objective": "speed"}, "objective='speed' is not one of cost, throughput"),
        ({"objective": "throughput"}, "objective='throughput' needs a cost budget"),
        ({"throughput_goal_gbps": "inf"}, "throughput_goal_gbps='inf' is not finite"),
        ({"throughput_goal_gbps": "0"}, "throughput_goal_gbps='0' is out of range"),
    ],
)
def test_bad_planner_arguments_name_the_argument(kwargs: dict, message: str) -> None:
    with pytest.raises(SkyUserError, match=message):
        _operator(**kwargs)._goal()


def test_on_kill_before_deferral_stops_the_gateways_this_try_started(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, {"x": 100})
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/")
    handle = runner.start(request, triangle_plan(), {f"file://{dst}/": "local:tb-dst"}, LoopbackPlacement())
    op = _operator()
    op._handle = handle
    op.on_kill()
    assert not [p for p in gateway_processes() if handle.job_id in " ".join(p.cmdline())]
    assert not handle.path.exists()


def test_a_transfer_past_its_deadline_fails_and_leaves_nothing(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, {f"f{i}": 200_000 for i in range(50)})
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/")
    with pytest.raises(runner.OverlayFailed, match="did not finish within 0 s"):
        runner.run_overlay(request, triangle_plan(), {f"file://{dst}/": "local:tb-dst"}, LoopbackPlacement(),
                           timeout_s=0.0)  # fmt: skip
    assert not [p.name for p in dst.rglob("*") if p.name.startswith(".")]  # no hidden partial files


@pytest.mark.parametrize("compression", ["off", "zstd"])
def test_bytes_in_flight_stay_within_each_gateways_budget(tmp_path: Path, compression: str) -> None:
    """With zstd the chunks are compressible, so the compressor's output and the destination's
    decompression room are charged too, and the copy must still finish within the budget."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    if compression == "off":
        data = write_tree(src, {"big.bin": 60 * 1024 * 1024})["big.bin"]
    else:
        src.mkdir()
        data = b"".join(b"line %08d of a compressible log\n" % i for i in range(1_900_000))
        (src / "big.bin").write_bytes(data)
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/", chunk_size=5 * 1024 * 1024,
                                multipart_threshold=5 * 1024 * 1024)  # fmt: skip
    options = runner.OverlayOptions(memory_mb=16, compression=compression)
    _, _, outcome = runner.run_overlay(request, triangle_plan(), {f"file://{dst}/": "local:tb-dst"},
                                       LoopbackPlacement(), options=options, timeout_s=60)  # fmt: skip
    assert (dst / "big.bin").read_bytes() == data
    wire = sum(edge["bytes"] for edge in outcome.edges.values())
    assert wire < len(data) / 2 if compression == "zstd" else wire >= len(data)
    for gateway in outcome.gateways.values():
        assert gateway["budget_peak"] <= gateway["budget_limit"] == 16 * 1024 * 1024
    ends = [g for g in outcome.gateways.values() if g["region"] != "local:tb-relay"]
    assert all(g["budget_peak"] > 0 for g in ends)  # the relay streams chunks through and holds none


def test_each_gateways_peak_rss_stays_within_its_budget_plus_100_mib(tmp_path: Path) -> None:
    """512 MiB through a relay in 16 MiB chunks over 8 connections a hop, at the default 256 MiB
    budget: the end gateways' heaps used to reach 113-129 MiB past the budget (freed chunks kept
    in a second malloc arena, landing-buffer holes too small for the next chunk)."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    sizes = {f"part-{i}.bin": 128 * 1024 * 1024 for i in range(4)}
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in write_tree(src, sizes, seed=7).items()}
    a, relay, b = "local:lb-src", "local:lb-relay", "local:lb-dst"
    plan = TransferPlan(a, [b], "throughput", 1.0, 0.0, 0.0, [PlanEdge(a, relay, 1.0, 8, 0.0, 1.0),
                        PlanEdge(relay, b, 1.0, 8, 0.0, 1.0)], {a: 1, relay: 1, b: 1})  # fmt: skip
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/")
    _, _, outcome = runner.run_overlay(request, plan, {f"file://{dst}/": b}, LoopbackPlacement(),
                                       options=runner.OverlayOptions(memory_mb=256), timeout_s=120)  # fmt: skip
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in dst.iterdir()} == digests
    mib = 1024 * 1024
    peaks = {g["region"]: g["rss_peak_bytes"] // mib for g in outcome.gateways.values()}
    assert all(g["budget_limit"] == 256 * mib for g in outcome.gateways.values())
    assert max(peaks.values()) <= 256 + 100, f"peak RSS MiB per gateway: {peaks}"


def test_a_trigger_that_loses_track_of_its_job_still_ends_in_teardown(tmp_path: Path, monkeypatch) -> None:
    """An error inside the trigger becomes a failed event, so execute_complete runs and removes the gateways."""
    import asyncio

    from airflow_provider_sky.triggers import transfer as trigger_module
    from airflow_provider_sky.triggers.transfer import SkyTransferTrigger

    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, {"x": 100})
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/")
    handle = runner.start(request, triangle_plan(), {f"file://{dst}/": "local:tb-dst"}, LoopbackPlacement())

    async def broken_watch(*args, **kwargs):
        raise ConnectionResetError("control connection reset")

    monkeypatch.setattr(trigger_module, "watch", broken_watch)

    async def first_event():
        async for event in SkyTransferTrigger(handle=handle.to_dict()).run():
            return event.payload

    event = asyncio.run(first_event())
    assert event["status"] == "failed"
    assert "ConnectionResetError: control connection reset" in event["outcome"]["message"]
    with pytest.raises(runner.OverlayFailed, match="lost track of the job"):
        _operator().execute_complete({}, event)
    assert not [p for p in gateway_processes() if handle.job_id in " ".join(p.cmdline())]
    assert not handle.path.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gateway_memory_mb": "8"}, "gateway_memory_mb='8' is out of range"),
        ({"max_instances_per_region": "0"}, "max_instances_per_region='0' is out of range"),
        ({"backend_options": '{"lambda": {}}'}, "unknown cloud"),
        ({"gateway_cloud": "moon"}, "gateway_cloud='moon' is not one of"),
        ({"objective": "throughput"}, "needs a cost budget"),
    ],
)
def test_overlay_arguments_are_checked_even_when_the_direct_path_runs(kwargs: dict, message: str, tmp_path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, {"x": 10})
    from airflow_provider_sky.operators.transfer import SkyTransferOperator

    op = SkyTransferOperator(task_id="t", source=f"file://{src}/", destination=f"file://{dst}/", overlay="never",
                             **kwargs)  # fmt: skip
    with pytest.raises(SkyUserError, match=re.escape(message)):
        op.execute({})
    assert not dst.exists()  # nothing written
