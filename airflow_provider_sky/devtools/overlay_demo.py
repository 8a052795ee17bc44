"""The overlay half of `make demo`: the example overlay DAG on the triangle testbed, against the
direct link.

Builds the *triangle* (direct link 20 Mbit/s, via the relay 200 Mbit/s per hop), runs
`example_dags/example_sky_overlay.py` with `dag.test()` (the task plans, starts gateways inside
the namespaces and defers), then moves the same data over the direct link alone (the one-hop
plan, gateways in the source and destination namespaces only) and prints both times and the
route. Needs root for the namespaces; without it the demo says so and skips this part.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = REPO_ROOT / "example_dags" / "example_sky_overlay.py"
SRC, RELAY, DST = "local:tb-src", "local:tb-relay", "local:tb-dst"
DATASET_MB = 24


def _dataset(root: Path) -> int:
    rng = random.Random(11)
    root.mkdir(parents=True, exist_ok=True)
    total = 0
    for i in range(3):
        data = rng.randbytes(DATASET_MB * 1024 * 1024 // 3)
        (root / f"shard-{i}.bin").write_bytes(data)
        total += len(data)
    return total


def _direct_seconds(testbed: Any, source: Path, target: Path) -> float:
    """The same copy over the direct link: the one-hop plan through gateways in src and dst."""
    from airflow_provider_sky.overlay import runner
    from airflow_provider_sky.overlay.watch import watch
    from airflow_provider_sky.planner.plan import PlanEdge, TransferPlan
    from airflow_provider_sky.testbed.placement import TestbedPlacement
    from airflow_provider_sky.transfer.request import CopyRequest

    rate = testbed.rate(SRC, DST)
    plan = TransferPlan(SRC, [DST], "cost", rate, 0.0, 0.0, [PlanEdge(SRC, DST, rate, 8, 0.0, rate)], {SRC: 1, DST: 1})
    request = CopyRequest.build(f"file://{source}/", f"file://{target}/", chunk_size=8 << 20,
                                multipart_threshold=8 << 20)  # fmt: skip
    handle = runner.start(request, plan, {f"file://{target}/": DST}, TestbedPlacement(testbed.layout()))
    try:
        outcome = asyncio.run(watch(handle, timeout_s=300))
    except BaseException:
        runner.teardown(handle)
        raise
    runner.finish(handle, outcome)
    return outcome.seconds


def run(work: Path) -> bool:
    """Print the comparison; False when the overlay part failed (True when skipped for want of root)."""
    from airflow_provider_sky.errors import SkyUserError
    from airflow_provider_sky.testbed import Testbed

    try:
        testbed = Testbed.build("triangle")
    except SkyUserError as exc:
        print(f"\nOverlay demo skipped: {exc}")
        return True
    with testbed:
        source, through, direct = work / "raw", work / "train", work / "direct"
        size = _dataset(source)
        os.environ["SKY_OVERLAY_SOURCE"] = f"file://{source}/"
        os.environ["SKY_OVERLAY_DESTINATION"] = f"file://{through}/"
        from airflow_provider_sky.devtools.dag_runner import run_dag_file
        from airflow_provider_sky.devtools.demo import task_results

        started = time.monotonic()
        dag_run = run_dag_file(DAG_FILE, "example_sky_overlay")
        dag_seconds = time.monotonic() - started
        result = task_results(dag_run).get("copy_shards") or {}
        overlay = result.get("overlay", {})
        direct_s = _direct_seconds(testbed, source, direct)
        same = all((through / p.name).read_bytes() == p.read_bytes() for p in source.iterdir())
        shutil.rmtree(direct, ignore_errors=True)
    measured = overlay.get("measured", {})
    print(f"\nDAG example_sky_overlay: {dag_run.state} ({dag_seconds:.1f} s with gateway start-up, deferred)")
    print(f"  testbed triangle: {SRC} -> {DST} direct 20 Mbit/s, via {RELAY} 200 Mbit/s per hop")
    print(f"  route ({overlay.get('reason', '?')}):")
    for edge, stats in sorted(overlay.get("edges", {}).items()):
        print(f"    {edge:<34} {stats['bytes'] / 1e6:8.1f} MB  {stats['mbit_per_s']:7.1f} Mbit/s")
    seconds = measured.get("seconds", float("nan"))
    print(f"  {size / 1e6:.1f} MB: overlay {seconds:.1f} s, direct link {direct_s:.1f} s "
          f"({direct_s / seconds:.1f}x faster through the relay); bytes identical: {same}")  # fmt: skip
    return str(dag_run.state) in ("success", "DagRunState.SUCCESS") and same
