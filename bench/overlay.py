"""The gateway overlay against the direct path and rclone, on the shaped testbed and on loopback.

Four sections, one run (`make bench BENCH=overlay`, about 10 minutes on two cores):

1. **Triangle** (profile ``triangle``: src<->dst 20 Mbit/s, src->relay->dst 200 Mbit/s a hop).
   The source is a fake-gcs-server *inside* the src namespace; the destination is a ``file://``
   directory. Why a directory: namespaces share the filesystem, so a writer costs no emulator
   CPU on a 2-core machine and the shaped links, not a second emulator, decide; checking it is a
   walk plus SHA-256. Compared, interleaved round by round: the overlay with the planner's
   max-throughput plan, the overlay with a hand plan using the relayed path *and* the direct
   link, ``airflow-sky cp`` run in the dst namespace over the direct link, and rclone the same
   way. The direct tools copy a smaller set of the same kind (a 20 Mbit/s copy of the overlay's
   set would take minutes per run); rates, not times, are compared.
2. **Multicast** (profile ``multicast``): one source, three destinations; one overlay run with
   the planner's tree against three ``airflow-sky cp`` run at once, one in each destination's
   namespace over its direct link (what a user without gateways runs). Bytes leaving the source
   are counted twice: from the gateways' edge reports and from the kernel's counters on the
   source namespace's shaped links (wire bytes, both methods metered alike).
3. **Planning truth**: for every overlay run, the plan's throughput and cost against what was
   measured (edge bytes x the plan edge's $/GB, plus the grid's VM $/h x each gateway's uptime;
   the same arithmetic as ``overlay.report.overlay_report``, which is what users see).
4. **Gateway efficiency on loopback** (``LoopbackPlacement``, TLS on as always): 1 GiB in 4
   objects file -> file through a relay, compression off and zstd, on incompressible and on
   compressible data. CPU is sampled from outside (psutil) when the objects are handed out and
   when the last one is written, so start-up (imports, TLS set-up) is left out and reported
   apart. Compared with rclone (local -> local) and ``airflow-sky cp`` (file -> file) on the
   same files, whose CPU is the whole process under /usr/bin/time.

Writes bench/results/overlay.json and prints markdown tables. ``python -m bench.overlay --only
loopback`` runs one section (no root needed for that one) and merges it into the JSON already
there, keeping the other sections' results; ``SKY_BENCH_OVERLAY_LB_REPEATS=1`` makes it quicker. Everything started here
(testbeds, emulators, gateways) is stopped in ``finally`` blocks; the JSON records what
``ip netns list`` showed at the end and the load average at start and end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from airflow_provider_sky.credentials import GcpCredentials, StoreCredentials
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.overlay.fleet import LoopbackPlacement, Placement
from airflow_provider_sky.overlay.report import overlay_report
from airflow_provider_sky.overlay.runner import (
    OverlayOptions,
    OverlayOutcome,
    finish,
    launch,
    prepare,
    teardown,
)
from airflow_provider_sky.overlay.watch import watch
from airflow_provider_sky.planner.api import Planner
from airflow_provider_sky.planner.data import load_grid
from airflow_provider_sky.planner.plan import PlanEdge, TransferPlan
from airflow_provider_sky.testbed import Testbed, max_flow, multicast_bound
from airflow_provider_sky.testbed.placement import TestbedPlacement
from airflow_provider_sky.transfer.request import CopyRequest
from bench.overlay_stores import (
    MiB,
    NamespacedGcs,
    check_tree,
    compressible_files,
    create_bucket,
    empty_dir,
    incompressible_blobs,
    link_tx_bytes,
    load_objects,
    peak_rss,
    process_cpu,
    rclone_gcs_env,
    run_timed,
    start_gcs_in,
    write_files,
)

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
AIRFLOW_SKY = REPO / ".venv" / "bin" / "airflow-sky"
BUCKET = "bench-overlay"
SRC, RELAY, DST = "local:tb-src", "local:tb-relay", "local:tb-dst"
MC_DESTS = ["local:tb-d1", "local:tb-d2", "local:tb-d3"]
REPEATS = int(os.environ.get("SKY_BENCH_OVERLAY_REPEATS", "3"))
MC_REPEATS = int(os.environ.get("SKY_BENCH_OVERLAY_MC_REPEATS", "2"))
LB_REPEATS = int(os.environ.get("SKY_BENCH_OVERLAY_LB_REPEATS", "2"))
TRI_OBJECTS, TRI_SIZE = 4, 64 * MiB  # overlay: ~11 s at 0.2 Gbit/s
DIRECT_OBJECTS, DIRECT_SIZE = 4, 16 * MiB  # direct tools: ~27 s at 20 Mbit/s
MC_OBJECTS, MC_SIZE = 3, 32 * MiB  # multicast: ~40 s for the three direct copies
LB_OBJECTS, LB_SIZE = 4, 256 * MiB  # loopback: 1 GiB
TESTBED_CHUNK = 8 * MiB  # 32 chunks for the triangle set: fine enough to split 10:1 over two paths
RUN_TIMEOUT_S = 240.0
MEMORY_MB = 256  # the gateways' default chunk budget
BUDGET_USD_PER_GB = 1.0  # far above any plan's cost here: "max throughput"
MC_GOAL_SHARE = 0.98  # plan the tree just below the highest goal the planner accepts (see _multicast_limit)

OUR_TESTBEDS: list[str] = []  # ids of the testbeds this run built: only their namespaces are checked at the end

TARGETS = {
    "overlay_over_max_flow": 0.9,
    "overlay_over_rclone_direct": 3.0,
    "planning_error": 0.15,
    "relay_mb_per_cpu_s": 400.0,
    "src_dst_cpu_over_rclone": 1.5,
    "rss_over_budget_mib": 100.0,
}


# -- one overlay run, with the meters around its transfer phase ---------------------------------
@dataclass
class OverlayRun:
    """One overlay transfer as measured: the runner's outcome plus CPU and peak RSS per gateway."""

    label: str
    volume_bytes: int  # per destination
    seconds: float  # outcome.seconds: objects handed out -> last one written
    wall_seconds: float  # outcome.wall_seconds: first gateway started -> last one written
    end_to_end_s: float  # prepare (listing) to finish (verification and teardown) in this process
    edges: dict[str, dict[str, Any]]
    gateways: dict[str, dict[str, Any]]  # id -> region, startup_cpu_s, transfer_cpu_s, peak_rss, budget
    predicted: dict[str, float]
    measured: dict[str, float]
    plan_edges: list[dict[str, Any]]
    error: str = ""

    @property
    def mb_per_s(self) -> float:
        return self.volume_bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0

    @property
    def wall_mb_per_s(self) -> float:
        return self.volume_bytes / self.wall_seconds / 1e6 if self.wall_seconds > 0 else 0.0


def _gateway_pids(handle_gateways: list[dict[str, Any]]) -> dict[str, int]:
    return {g["gateway_id"]: int(g["pid"]) for g in handle_gateways}


def run_overlay_measured(
    label: str,
    request: CopyRequest,
    plan: TransferPlan,
    destination_regions: dict[str, str],
    placement: Placement,
    credentials: StoreCredentials,
    options: OverlayOptions,
    grid: dict[str, Any] | None,
) -> OverlayRun:
    """prepare -> launch -> watch -> finish, as ``run_overlay`` chains them, with meters in between.

    The split is the runner's own public API; it lets CPU be sampled from outside when the
    sources get their objects and when the last object is written, and VmHWM be read before
    teardown kills the gateways.
    """
    started = time.monotonic()
    prepared = prepare(request, destination_regions, credentials)
    handle = launch(prepared, plan, placement, credentials, options)
    try:
        pids = _gateway_pids(handle.gateways)
        cpu_start = {g: process_cpu(pid) for g, pid in pids.items()}
        outcome: OverlayOutcome = asyncio.run(watch(handle, timeout_s=RUN_TIMEOUT_S))
        cpu_end = {g: process_cpu(pid) for g, pid in pids.items()}
        hwm = {g: peak_rss(pid) for g, pid in pids.items()}
    except BaseException:
        teardown(handle, credentials=credentials)
        raise
    error = ""
    try:
        finish(handle, outcome, credentials)
    except Exception as exc:  # a failed run is recorded, the benchmark goes on
        error = str(exc)
    report = overlay_report(plan, handle, outcome, load_grid(grid) if grid else None, "benchmark")
    gateways = {}
    for gateway_id, info in outcome.gateways.items():
        gateways[gateway_id] = {
            "region": info["region"], "startup_cpu_s": round(cpu_start.get(gateway_id, 0.0), 3),
            "transfer_cpu_s": round(cpu_end.get(gateway_id, 0.0) - cpu_start.get(gateway_id, 0.0), 3),
            "peak_rss_mib": round(hwm.get(gateway_id, 0) / MiB, 1), "budget_mib": info["budget_limit"] / MiB,
            "budget_peak_mib": round(info["budget_peak"] / MiB, 1), "uptime_s": round(info["uptime_s"], 2),
        }  # fmt: skip
    volume = sum(e["bytes"] for e in handle.expected.values()) // max(1, len(handle.expected))
    return OverlayRun(
        label, volume, round(outcome.seconds, 3), round(outcome.wall_seconds, 3),
        round(time.monotonic() - started, 3), outcome.edges, gateways,
        {k: float(v) for k, v in report["predicted"].items()}, {k: float(v) for k, v in report["measured"].items()},
        [asdict(e) for e in plan.edges], error or (outcome.message if outcome.status != "success" else ""),
    )  # fmt: skip


# -- plans ---------------------------------------------------------------------------------------
def _vm_usd_per_gb(grid: dict[str, Any], vms: dict[str, int], gbps: float) -> float:
    hourly = float(grid["vm_usd_per_hour"]) * sum(vms.values())
    return hourly / (gbps / 8 * 3600) if gbps > 0 else 0.0


def triangle_hand_plan(grid: dict[str, Any]) -> TransferPlan:
    """Relayed path and direct link at once (the max-flow), priced from the profile.

    The planner cannot give this plan (its per-VM connection model caps the triangle at 0.2;
    docs/testbed.md), so the benchmark builds it to see whether the gateways reach the
    network's own bound when asked.
    """
    regions = grid["regions"]
    price = {(a, b): float(grid["egress_usd_per_gb"][regions.index(a)][regions.index(b)])
             for a in regions for b in regions}  # fmt: skip
    relay, direct = 0.2, 0.02
    edges = [
        PlanEdge(SRC, RELAY, relay, 8, price[SRC, RELAY], relay),
        PlanEdge(RELAY, DST, relay, 8, price[RELAY, DST], relay),
        PlanEdge(SRC, DST, direct, 1, price[SRC, DST], direct),
    ]
    total = relay + direct
    egress = (relay * (price[SRC, RELAY] + price[RELAY, DST]) + direct * price[SRC, DST]) / total
    vms = {SRC: 1, RELAY: 1, DST: 1}
    return TransferPlan(SRC, [DST], "throughput", total, egress, _vm_usd_per_gb(grid, vms, total), edges, vms,
                        grid="triangle (hand plan)")  # fmt: skip


def loopback_relay_plan() -> TransferPlan:
    """Every byte through the relay, so its CPU per forwarded byte is measured on all of them."""
    a, r, b = "local:lb-src", "local:lb-relay", "local:lb-dst"
    edges = [PlanEdge(a, r, 1.0, 8, 0.0, 1.0), PlanEdge(r, b, 1.0, 8, 0.0, 1.0)]
    return TransferPlan(a, [b], "throughput", 1.0, 0.0, 0.0, edges, {a: 1, r: 1, b: 1}, grid="loopback")


def _multicast_limit(planner: Planner) -> float:
    """The highest multicast goal the planner accepts on the profile (bisection, 7 steps)."""
    lo, hi = 0.0, 0.22
    for _ in range(7):
        mid = (lo + hi) / 2
        try:
            planner.plan_multicast(SRC, MC_DESTS, throughput_goal_gbps=mid)
            lo = mid
        except SkyUserError:
            hi = mid
    return round(lo, 4)


# -- direct tools --------------------------------------------------------------------------------
@dataclass
class ToolRun:
    """One direct-path command: wall, peak RSS and CPU of the process, what it wrote."""

    label: str
    volume_bytes: int
    seconds: float
    cpu_s: float
    peak_rss_mib: float
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mb_per_s(self) -> float:
        return self.volume_bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0


def _clean_env() -> dict[str, str]:
    """The environment without emulator or proxy settings that would point a tool elsewhere."""
    drop = {"STORAGE_EMULATOR_HOST", "AWS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def sky_cp_gcs(endpoint: str, prefix: str, out: Path, chunk: int | None = None) -> list[str]:
    argv = [str(AIRFLOW_SKY), "cp", "--no-progress", "--gcs-endpoint-url", endpoint, "--gcp-project", "bench"]
    if chunk:
        argv += ["--chunk-size", str(chunk), "--multipart-threshold", str(chunk)]
    return [*argv, f"gs://{BUCKET}/{prefix}/", f"file://{out}/"]


def _in_region(testbed: Testbed, region: str) -> Callable[..., subprocess.CompletedProcess]:
    return lambda argv, **kw: testbed.run(region, argv, **kw)


def _tool_run(label: str, argv: list[str], env: dict[str, str], out: Path, expected: dict[str, tuple[int, str]],
              runner: Callable[..., subprocess.CompletedProcess] | None = None) -> ToolRun:  # fmt: skip
    empty_dir(out)
    timed = run_timed(argv, env, runner, timeout=RUN_TIMEOUT_S)
    problem = check_tree(out, expected)
    error = f"exit {timed.exit_code}: {timed.stderr_tail}" if timed.exit_code else (problem or "")
    volume = sum(size for size, _ in expected.values())
    shutil.rmtree(out, ignore_errors=True)
    return ToolRun(label, volume, round(timed.seconds, 3), round(timed.cpu_s, 3), round(timed.peak_rss_mib, 1), error)


# -- section 1: triangle ------------------------------------------------------------------------
def _gcs_credentials(gcs: NamespacedGcs) -> StoreCredentials:
    """What the runner (root namespace) uses to list and verify: the management address."""
    return StoreCredentials(gcp=GcpCredentials(project_id="bench", endpoint_url=gcs.mgmt_endpoint, anonymous=True))


def _overlay_on_testbed(label: str, tb: Testbed, gcs: NamespacedGcs, plan: TransferPlan, prefix: str,
                        outs: dict[str, Path], expected: dict[str, tuple[int, str]]) -> OverlayRun:  # fmt: skip
    """One overlay run from the namespaced fake-gcs to file:// directories, checked and cleared."""
    for out in outs.values():
        empty_dir(out)
    dests = {f"file://{out}/": region for region, out in outs.items()}
    request = CopyRequest.build(f"gs://{BUCKET}/{prefix}/", list(dests), chunk_size=TESTBED_CHUNK,
                                multipart_threshold=TESTBED_CHUNK)  # fmt: skip
    placement = TestbedPlacement(tb.layout(), endpoints={SRC: {"gs": gcs.endpoint_from(SRC)}})
    options = OverlayOptions(memory_mb=MEMORY_MB)
    run = run_overlay_measured(label, request, plan, dests, placement, _gcs_credentials(gcs), options, tb.grid())
    for out in outs.values():
        problem = check_tree(out, expected)
        if problem and not run.error:
            run.error = problem
        shutil.rmtree(out, ignore_errors=True)
    return run


def triangle(work: Path) -> dict[str, Any]:
    """Section 1: overlay (planner plan, hand plan) vs direct path (ours, rclone), interleaved."""
    runs: list[dict[str, Any]] = []
    with Testbed.build("triangle") as tb:
        OUR_TESTBEDS.append(tb.id)
        gcs = start_gcs_in(tb, SRC, external_from=DST)  # rclone in tb-dst follows the mediaLink
        try:
            create_bucket(gcs, BUCKET)
            big = load_objects(gcs, BUCKET, "big", incompressible_blobs(TRI_OBJECTS, TRI_SIZE))
            small = load_objects(gcs, BUCKET, "small", incompressible_blobs(DIRECT_OBJECTS, DIRECT_SIZE))
            grid = tb.grid()
            auto = Planner(grid=grid).plan_transfer(SRC, DST, budget_usd_per_gb=BUDGET_USD_PER_GB)
            hand = triangle_hand_plan(grid)
            bound = max_flow(grid, SRC, DST)
            direct_endpoint = gcs.endpoint_from(DST)
            out = work / "triangle-out"
            tools: dict[str, Callable[[], OverlayRun | ToolRun]] = {
                "overlay (planner plan)": lambda: _overlay_on_testbed(
                    "overlay (planner plan)", tb, gcs, auto, "big", {DST: out}, big),
                "overlay (hand plan: relay + direct)": lambda: _overlay_on_testbed(
                    "overlay (hand plan: relay + direct)", tb, gcs, hand, "big", {DST: out}, big),
                "airflow-sky cp (direct link)": lambda: _tool_run(
                    "airflow-sky cp (direct link)", sky_cp_gcs(direct_endpoint, "small", out), _clean_env(), out,
                    small, _in_region(tb, DST)),
                "rclone copy (direct link)": lambda: _tool_run(
                    "rclone copy (direct link)", ["rclone", "copy", f"gcs:{BUCKET}/small", str(out)],
                    rclone_gcs_env(direct_endpoint), out, small, _in_region(tb, DST)),
            }  # fmt: skip
            names = list(tools)
            for round_no in range(REPEATS):
                order = names[round_no % len(names):] + names[: round_no % len(names)]  # drift hits all alike
                for name in order:
                    cpu_before = gcs.cpu_seconds()
                    result = tools[name]()
                    record = {"round": round_no, "tool": name, **_as_record(result)}
                    record["fake_gcs_cpu_s"] = round(gcs.cpu_seconds() - cpu_before, 2)
                    record["load_1m"] = round(os.getloadavg()[0], 2)
                    runs.append(record)
                    wall = record.get("wall_seconds", record["seconds"])
                    print(f"  triangle r{round_no} {name:<38} {record['mb_per_s']:7.2f} MB/s"
                          f"  transfer {record['seconds']:6.2f} s  wall {wall:6.2f} s"
                          f"  {('ERROR ' + record['error'][:200]) if record['error'] else ''}", flush=True)  # fmt: skip
        finally:
            gcs.stop()
    return {
        "profile": "triangle", "max_flow_gbps": bound, "destination": "file:// directory (shared filesystem)",
        "overlay_dataset": f"{TRI_OBJECTS} x {TRI_SIZE // MiB} MiB incompressible",
        "direct_dataset": f"{DIRECT_OBJECTS} x {DIRECT_SIZE // MiB} MiB incompressible",
        "chunk_mib": TESTBED_CHUNK // MiB, "plans": {"planner": auto.to_dict(), "hand": hand.to_dict()},
        "runs": runs,
    }  # fmt: skip


def _as_record(result: OverlayRun | ToolRun) -> dict[str, Any]:
    doc = asdict(result)
    doc["mb_per_s"] = round(result.mb_per_s, 3)
    if isinstance(result, OverlayRun):
        doc["wall_mb_per_s"] = round(result.wall_mb_per_s, 3)
        doc["kind"] = "overlay"
    else:
        doc["kind"] = "direct"
    return doc


# -- section 2: multicast -----------------------------------------------------------------------
def multicast(work: Path) -> dict[str, Any]:
    """Section 2: one tree through gateways vs three direct copies run at once."""
    runs: list[dict[str, Any]] = []
    with Testbed.build("multicast") as tb:
        OUR_TESTBEDS.append(tb.id)
        gcs = start_gcs_in(tb, SRC)
        try:
            create_bucket(gcs, BUCKET)
            data = load_objects(gcs, BUCKET, "mc", incompressible_blobs(MC_OBJECTS, MC_SIZE))
            volume = sum(size for size, _ in data.values())
            grid = tb.grid()
            planner = Planner(grid=grid)
            limit = _multicast_limit(planner)
            goal = round(MC_GOAL_SHARE * limit, 4)  # gateways do not pace to a goal: plan what they can carry
            plan = planner.plan_multicast(SRC, MC_DESTS, throughput_goal_gbps=goal)
            bound = multicast_bound(grid, SRC, MC_DESTS)
            outs = {region: work / f"mc-{region.split('-')[-1]}" for region in MC_DESTS}
            for round_no in range(MC_REPEATS):
                before = link_tx_bytes(tb, SRC)
                tree = _overlay_on_testbed("overlay tree", tb, gcs, plan, "mc", outs, data)
                record = {"round": round_no, "tool": "overlay tree", **_as_record(tree)}
                record["source_edge_bytes"] = sum(e["bytes"] for k, e in tree.edges.items() if k.startswith(f"{SRC}->"))
                record["source_link_tx_bytes"] = link_tx_bytes(tb, SRC) - before
                runs.append(record)
                _print_mc(round_no, record)
                before = link_tx_bytes(tb, SRC)
                record = _three_direct(tb, gcs, outs, data)
                record.update(round=round_no, source_link_tx_bytes=link_tx_bytes(tb, SRC) - before,
                              source_edge_bytes=3 * volume)  # fmt: skip
                runs.append(record)
                _print_mc(round_no, record)
        finally:
            gcs.stop()
    return {
        "profile": "multicast", "volume_bytes": volume, "multicast_bound_gbps": bound,
        "planner_max_goal_gbps": limit, "goal_gbps": goal, "plan": plan.to_dict(),
        "separate_copies": "airflow-sky cp in each destination's namespace over its direct link, all three at once",
        "dataset": f"{MC_OBJECTS} x {MC_SIZE // MiB} MiB incompressible", "runs": runs,
    }  # fmt: skip


def _print_mc(round_no: int, r: dict[str, Any]) -> None:
    print(f"  multicast r{round_no} {r['tool']:<30} wall {r.get('wall_seconds', r['seconds']):6.2f} s"
          f"  source edge bytes {r['source_edge_bytes'] / 1e6:7.1f} MB"
          f"  source link tx {r['source_link_tx_bytes'] / 1e6:7.1f} MB"
          f"  {('ERROR ' + r['error'][:200]) if r['error'] else ''}", flush=True)  # fmt: skip


def _three_direct(tb: Testbed, gcs: NamespacedGcs, outs: dict[str, Path],
                  expected: dict[str, tuple[int, str]]) -> dict[str, Any]:  # fmt: skip
    """`airflow-sky cp` in each destination's namespace, all started together; wall = the slowest."""
    from bench.overlay_stores import read_timed, timed_argv

    procs = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sky-bench-mc-") as tmp:
        for region, out in outs.items():
            empty_dir(out)
            rss = str(Path(tmp) / f"{region.split('-')[-1]}.time")
            argv = timed_argv(rss, sky_cp_gcs(gcs.endpoint_from(region), "mc", out))
            procs.append((region, rss, tb.spawn(region, argv, env=_clean_env(), stdout=subprocess.DEVNULL,
                                                stderr=subprocess.PIPE)))  # fmt: skip
        per: dict[str, dict[str, Any]] = {}
        for region, rss, proc in procs:
            try:
                _, err = proc.communicate(timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            timed = read_timed(rss, time.monotonic() - started, proc.returncode, err.decode(errors="replace"))
            error = f"exit {timed.exit_code}: {timed.stderr_tail}" if timed.exit_code else ""
            per[region] = {"seconds": round(timed.seconds, 3), "cpu_s": round(timed.cpu_s, 3),
                           "peak_rss_mib": round(timed.peak_rss_mib, 1), "error": error}  # fmt: skip
    seconds = time.monotonic() - started
    errors = [f"{r}: {p['error']}" for r, p in per.items() if p["error"]]
    for out in outs.values():
        problem = check_tree(out, expected)
        if problem:
            errors.append(problem)
        shutil.rmtree(out, ignore_errors=True)
    volume = sum(size for size, _ in expected.values())
    return {"tool": "3 x airflow-sky cp (direct links, at once)", "kind": "direct", "volume_bytes": volume,
            "seconds": round(seconds, 3), "wall_seconds": round(seconds, 3),
            "mb_per_s": round(volume / seconds / 1e6, 3), "per_destination": per,
            "error": "; ".join(errors)}  # fmt: skip


# -- section 4: loopback efficiency -------------------------------------------------------------
def loopback(work: Path) -> dict[str, Any]:
    """Section 4: CPU per byte of relay and end gateways, peak RSS vs budget, rclone and cp alongside."""
    sets = {
        "incompressible": write_files(work / "lb-rand", incompressible_blobs(LB_OBJECTS, LB_SIZE)),
        "compressible": compressible_files(work / "lb-text", LB_OBJECTS, LB_SIZE, seed=32),
    }
    roots = {"incompressible": work / "lb-rand", "compressible": work / "lb-text"}
    out = work / "lb-out"
    plan = loopback_relay_plan()

    def overlay(dataset: str, compression: str) -> OverlayRun:
        empty_dir(out)
        request = CopyRequest.build(f"file://{roots[dataset]}/", f"file://{out}/")
        options = OverlayOptions(compression=compression, memory_mb=MEMORY_MB)
        run = run_overlay_measured(f"overlay {dataset} {compression}", request, plan,
                                   {f"file://{out}/": "local:lb-dst"}, LoopbackPlacement(), StoreCredentials(),
                                   options, None)  # fmt: skip
        problem = check_tree(out, sets[dataset])
        run.error = run.error or (problem or "")
        shutil.rmtree(out, ignore_errors=True)
        return run

    src = roots["incompressible"]
    cases: dict[str, Callable[[], OverlayRun | ToolRun]] = {
        "overlay incompressible off": lambda: overlay("incompressible", "off"),
        "overlay incompressible zstd": lambda: overlay("incompressible", "zstd"),
        "overlay compressible off": lambda: overlay("compressible", "off"),
        "overlay compressible zstd": lambda: overlay("compressible", "zstd"),
        "rclone copy (local -> local)": lambda: _tool_run(
            "rclone copy (local -> local)", ["rclone", "copy", str(src), str(out)], _clean_env(), out,
            sets["incompressible"]),
        "airflow-sky cp (file -> file)": lambda: _tool_run(
            "airflow-sky cp (file -> file)",
            [str(AIRFLOW_SKY), "cp", "--no-progress", f"file://{src}/", f"file://{out}/"],
            _clean_env(), out, sets["incompressible"]),
    }  # fmt: skip
    runs = []
    names = list(cases)
    for round_no in range(LB_REPEATS):
        order = names[round_no % len(names):] + names[: round_no % len(names)]
        for name in order:
            record = {"round": round_no, "tool": name, **_as_record(cases[name]())}
            record["load_1m"] = round(os.getloadavg()[0], 2)
            runs.append(record)
            print(f"  loopback r{round_no} {name:<32} {record['mb_per_s']:8.1f} MB/s  {_cpu_line(record)}"
                  f"  {('ERROR ' + record['error'][:200]) if record['error'] else ''}", flush=True)  # fmt: skip
    shutil.rmtree(work / "lb-rand", ignore_errors=True)
    shutil.rmtree(work / "lb-text", ignore_errors=True)
    return {"dataset_bytes": LB_OBJECTS * LB_SIZE, "objects": LB_OBJECTS, "memory_mb": MEMORY_MB,
            "plan": plan.to_dict(), "runs": runs}  # fmt: skip


def _role_of(region: str) -> str:
    return region.rsplit("-", 1)[-1]  # src / relay / dst


def _cpu_line(record: dict[str, Any]) -> str:
    if record["kind"] != "overlay":
        return f"CPU {record['cpu_s']:.2f} s  RSS {record['peak_rss_mib']:.0f} MiB"
    parts = [f"{_role_of(g['region'])} {g['transfer_cpu_s']:.2f}+{g['startup_cpu_s']:.2f} s {g['peak_rss_mib']:.0f} MiB"
             for g in record["gateways"].values()]  # fmt: skip
    return "CPU (transfer+start-up), peak RSS: " + ", ".join(parts)


# -- summaries -----------------------------------------------------------------------------------
def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _by_tool(runs: list[dict[str, Any]], tool: str) -> list[dict[str, Any]]:
    return [r for r in runs if r["tool"] == tool and not r["error"]]


def _round_ratios(runs: list[dict[str, Any]], a: str, b: str, key: str = "mb_per_s") -> list[float]:
    """Per round, a's rate over b's (the two ran minutes apart at most); then the median is taken."""
    out = []
    for round_no in sorted({r["round"] for r in runs}):
        ra = [r for r in _by_tool(runs, a) if r["round"] == round_no]
        rb = [r for r in _by_tool(runs, b) if r["round"] == round_no]
        if ra and rb and rb[0]["mb_per_s"] > 0:
            out.append(ra[0][key] / rb[0]["mb_per_s"])
    return out


def summarise_triangle(tri: dict[str, Any]) -> dict[str, Any]:
    runs = tri["runs"]
    bound_mb = tri["max_flow_gbps"] * 1e9 / 8 / 1e6
    rows = {}
    for tool in dict.fromkeys(r["tool"] for r in runs):
        ok = _by_tool(runs, tool)
        row = {
            "runs_ok": len(ok), "runs": len([r for r in runs if r["tool"] == tool]),
            "mb_per_s": round(_median([r["mb_per_s"] for r in ok]), 2),
            "seconds": round(_median([r["seconds"] for r in ok]), 2),
        }
        if ok and ok[0]["kind"] == "overlay":
            row["wall_mb_per_s"] = round(_median([r["wall_mb_per_s"] for r in ok]), 2)
            row["wall_seconds"] = round(_median([r["wall_seconds"] for r in ok]), 2)
            row["over_max_flow"] = round(row["mb_per_s"] / bound_mb, 3)
            row["wall_over_max_flow"] = round(row["wall_mb_per_s"] / bound_mb, 3)
            row["over_rclone"] = round(_median(_round_ratios(runs, tool, "rclone copy (direct link)")), 2)
            row["wall_over_rclone"] = round(
                _median(_round_ratios(runs, tool, "rclone copy (direct link)", "wall_mb_per_s")), 2)
            row["over_sky_cp"] = round(_median(_round_ratios(runs, tool, "airflow-sky cp (direct link)")), 2)
        rows[tool] = row
    return {"max_flow_mb_per_s": round(bound_mb, 2), "tools": rows}


def planning_truth(sections: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Predicted vs measured throughput and cost for every overlay run on the testbed."""
    out = []
    for section in ("triangle", "multicast"):
        for r in sections.get(section, {}).get("runs", []):
            if r["kind"] != "overlay" or r["error"]:
                continue
            p, m = r["predicted"], r["measured"]
            measured_gbps = r["volume_bytes"] * 8 / r["seconds"] / 1e9 if r["seconds"] else 0.0
            out.append({
                "section": section, "run": f"{r['tool']} r{r['round']}",
                "predicted_gbps": round(p["throughput_gbps"], 4), "measured_gbps": round(measured_gbps, 4),
                "throughput_error": round(measured_gbps / p["throughput_gbps"] - 1, 3),
                "predicted_usd": p["cost_usd"], "measured_usd": m["cost_usd"],
                "measured_egress_usd": m["egress_usd"], "measured_vm_usd": m["vm_usd"],
                "cost_error": round(m["cost_usd"] / p["cost_usd"] - 1, 3) if p["cost_usd"] else 0.0,
            })  # fmt: skip
    return out


def summarise_loopback(lb: dict[str, Any]) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    rclone = _by_tool(lb["runs"], "rclone copy (local -> local)")
    rclone_ns = _median([r["cpu_s"] / r["volume_bytes"] * 1e9 for r in rclone])
    for tool in dict.fromkeys(r["tool"] for r in lb["runs"]):
        ok = _by_tool(lb["runs"], tool)
        if not ok:
            rows[tool] = {"runs_ok": 0}
            continue
        row: dict[str, Any] = {"runs_ok": len(ok), "mb_per_s": round(_median([r["mb_per_s"] for r in ok]), 1)}
        if ok[0]["kind"] == "overlay":
            relay_rates, wire_rates, ends_ns, rss, startup = [], [], [], {}, {}
            for r in ok:
                gw = {_role_of(g["region"]): g for g in r["gateways"].values()}
                relay_out = next(e["bytes"] for k, e in r["edges"].items() if k.startswith("local:lb-relay->"))
                relay_cpu = gw["relay"]["transfer_cpu_s"]
                relay_rates.append(r["volume_bytes"] / 1e6 / relay_cpu if relay_cpu > 0 else 0.0)
                wire_rates.append(relay_out / 1e6 / relay_cpu if relay_cpu > 0 else 0.0)
                ends = gw["src"]["transfer_cpu_s"] + gw["dst"]["transfer_cpu_s"]
                ends_ns.append(ends / r["volume_bytes"] * 1e9)
                for role, g in gw.items():
                    rss[role] = max(rss.get(role, 0.0), g["peak_rss_mib"])
                    startup.setdefault(role, []).append(g["startup_cpu_s"])
            row.update({
                "relay_data_mb_per_cpu_s": round(_median(relay_rates), 1),
                "relay_wire_mb_per_cpu_s": round(_median(wire_rates), 1),
                "src_dst_cpu_ns_per_byte": round(_median(ends_ns), 3),
                "src_dst_over_rclone": round(_median(ends_ns) / rclone_ns, 2) if rclone_ns else None,
                "peak_rss_mib": rss, "budget_mib": float(MEMORY_MB),
                "startup_cpu_s": {k: round(_median(v), 2) for k, v in startup.items()},
                "wire_bytes_per_data_byte": round(relay_out / r["volume_bytes"], 3),
            })  # fmt: skip
        else:
            row.update({"cpu_ns_per_byte": round(_median([r["cpu_s"] / r["volume_bytes"] * 1e9 for r in ok]), 3),
                        "peak_rss_mib": max(r["peak_rss_mib"] for r in ok)})  # fmt: skip
        rows[tool] = row
    return rows


def verdicts(tri: dict[str, Any], truth: list[dict[str, Any]], lb: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: the number, met or missed."""
    out = []

    def add(name: str, value: float | None, target: float, higher_is_better: bool, note: str = "") -> None:
        met = value is not None and (value >= target if higher_is_better else value <= target)
        out.append({"target": name, "value": value, "goal": f"{'>=' if higher_is_better else '<='} {target}",
                    "met": met, "note": note})  # fmt: skip

    tools = tri.get("tools", {})
    for tool in ("overlay (planner plan)", "overlay (hand plan: relay + direct)"):
        row = tools.get(tool, {})
        add(f"{tool}: overlay / max-flow (transfer phase)", row.get("over_max_flow"),
            TARGETS["overlay_over_max_flow"], True)
        add(f"{tool}: overlay / max-flow (wall, start-up included)", row.get("wall_over_max_flow"),
            TARGETS["overlay_over_max_flow"], True)
        add(f"{tool}: overlay / rclone direct (transfer phase)", row.get("over_rclone"),
            TARGETS["overlay_over_rclone_direct"], True)
        add(f"{tool}: overlay / rclone direct (wall)", row.get("wall_over_rclone"),
            TARGETS["overlay_over_rclone_direct"], True)
    for t in truth:
        add(f"planning truth {t['section']} {t['run']}: |throughput error|", abs(t["throughput_error"]),
            TARGETS["planning_error"], False)
        add(f"planning truth {t['section']} {t['run']}: |cost error|", abs(t["cost_error"]),
            TARGETS["planning_error"], False)
    for tool, row in lb.items():
        if "relay_data_mb_per_cpu_s" not in row:
            continue
        add(f"{tool}: relay MB per CPU-second (data bytes)", row["relay_data_mb_per_cpu_s"],
            TARGETS["relay_mb_per_cpu_s"], True)
        add(f"{tool}: src+dst CPU per byte / rclone's", row["src_dst_over_rclone"],
            TARGETS["src_dst_cpu_over_rclone"], False)
        worst = max(row["peak_rss_mib"].values()) - row["budget_mib"]
        add(f"{tool}: worst gateway peak RSS above budget (MiB)", round(worst, 1), TARGETS["rss_over_budget_mib"],
            False)
    return out


# -- tables --------------------------------------------------------------------------------------
def print_tables(report: dict[str, Any]) -> None:
    tri, mc = report.get("triangle_summary"), report.get("multicast")
    if tri:
        bound = report["triangle"]["max_flow_gbps"]
        print(f"\nTriangle (max-flow {bound:g} Gbit/s = {tri['max_flow_mb_per_s']} MB/s); medians of "
              f"{REPEATS} interleaved rounds, ratios are medians of per-round ratios:\n")
        print("| route | predicted Gbit/s | MB/s (Mbit/s), transfer | MB/s, wall | s transfer / wall "
              "| / max-flow: transfer / wall | / rclone direct: transfer / wall |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        plans = report["triangle"]["plans"]
        predicted = {"overlay (planner plan)": plans["planner"]["throughput_gbps"],
                     "overlay (hand plan: relay + direct)": plans["hand"]["throughput_gbps"]}  # fmt: skip
        for tool, row in tri["tools"].items():
            mbit = row["mb_per_s"] * 8
            if "wall_mb_per_s" in row:
                print(f"| {tool} | {predicted.get(tool, 0):g} | {row['mb_per_s']:.2f} ({mbit:.0f}) | "
                      f"{row['wall_mb_per_s']:.2f} | {row['seconds']:.1f} / {row['wall_seconds']:.1f} | "
                      f"{row['over_max_flow']:.2f} / {row['wall_over_max_flow']:.2f} | "
                      f"{row['over_rclone']:.2f}x / {row['wall_over_rclone']:.2f}x |")
            else:
                print(f"| {tool} | | {row['mb_per_s']:.2f} ({mbit:.0f}) | {row['mb_per_s']:.2f} | "
                      f"{row['seconds']:.1f} | | |")
    if mc:
        print(f"\nMulticast ({mc['dataset']} to 3 destinations; plan at goal {mc['goal_gbps']} Gbit/s, the planner "
              f"accepts at most {mc['planner_max_goal_gbps']}; multicast bound {mc['multicast_bound_gbps']}):\n")
        print("| method | round | wall s | transfer s | MB/s per destination | bytes out of the source: "
              "gateway edges / kernel link counters | x volume (kernel) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in mc["runs"]:
            print(f"| {r['tool']} | {r['round']} | {r['wall_seconds']:.1f} | {r['seconds']:.1f} | "
                  f"{r['volume_bytes'] / r['seconds'] / 1e6:.2f} | {r['source_edge_bytes'] / 1e6:.1f} MB / "
                  f"{r['source_link_tx_bytes'] / 1e6:.1f} MB | {r['source_link_tx_bytes'] / mc['volume_bytes']:.2f} |"
                  f"{' ERROR' if r['error'] else ''}")
    if report.get("planning_truth"):
        print("\nPlanning truth (predicted = the plan; measured = bytes x 8 / transfer s; cost = edge bytes x plan "
              "$/GB + grid VM $/h x gateway uptime):\n")
        print("| run | Gbit/s predicted / measured | error | $ predicted / measured (egress + VM) | error |")
        print("|---|---:|---:|---:|---:|")
        for t in report["planning_truth"]:
            print(f"| {t['section']}: {t['run']} | {t['predicted_gbps']:.3f} / {t['measured_gbps']:.3f} | "
                  f"{t['throughput_error']:+.1%} | {t['predicted_usd']:.6f} / {t['measured_usd']:.6f} "
                  f"({t['measured_egress_usd']:.6f} + {t['measured_vm_usd']:.6f}) | {t['cost_error']:+.1%} |")
    lb = report.get("loopback_summary")
    if lb:
        print(f"\nGateway efficiency on loopback (1 GiB in {LB_OBJECTS} objects, file -> file through a relay, TLS "
              f"on, budget {MEMORY_MB} MiB per gateway; medians of {LB_REPEATS} rounds):\n")
        print("| run | MB/s | relay MB per CPU-s (data / wire) | src+dst CPU ns/B | / rclone | "
              "peak RSS MiB src / relay / dst | start-up CPU s src / relay / dst |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for tool, row in lb.items():
            if not row.get("runs_ok"):
                print(f"| {tool} | failed | | | | | |")
            elif "relay_data_mb_per_cpu_s" in row:
                rss, st = row["peak_rss_mib"], row["startup_cpu_s"]
                print(f"| {tool} | {row['mb_per_s']:.0f} | {row['relay_data_mb_per_cpu_s']:.0f} / "
                      f"{row['relay_wire_mb_per_cpu_s']:.0f} | {row['src_dst_cpu_ns_per_byte']:.2f} | "
                      f"{row['src_dst_over_rclone']:.2f}x | {rss['src']:.0f} / {rss['relay']:.0f} / {rss['dst']:.0f} | "
                      f"{st['src']:.2f} / {st['relay']:.2f} / {st['dst']:.2f} |")
            else:
                print(f"| {tool} | {row['mb_per_s']:.0f} | | {row['cpu_ns_per_byte']:.2f} (whole process) | | "
                      f"{row['peak_rss_mib']:.0f} | |")
    print("\nTargets:\n")
    print("| target | value | goal | verdict |")
    print("|---|---:|---|---|")
    for v in report.get("targets", []):
        value = "n/a" if v["value"] is None else f"{v['value']:g}"
        print(f"| {v['target']} | {value} | {v['goal']} | {'met' if v['met'] else '**missed**'} |")


# -- cleanup and main ----------------------------------------------------------------------------
def _kill_our_gateways(state_dir: Path) -> list[int]:
    """Gateways whose job directory is under this run's state dir (only ours); returns their PIDs."""
    killed = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if "airflow_provider_sky.gateway.serve" in cmd and any(str(state_dir) in c for c in cmd):
            try:
                proc.kill()
                killed.append(proc.pid)
            except psutil.Error:
                continue
    return killed


def _netns_list() -> list[str]:
    done = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


SECTIONS: dict[str, Callable[[Path], dict[str, Any]]] = {"triangle": triangle, "multicast": multicast,
                                                         "loopback": loopback}  # fmt: skip
SUMMARY_OF = {"triangle": "triangle_summary", "loopback": "loopback_summary"}


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.overlay", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), metavar="SECTION",
                        help="run only this section (repeatable); the other sections' results already in "
                             "overlay.json are kept")  # fmt: skip
    return parser.parse_args(argv)


def _earlier_results(rerun: list[str]) -> dict[str, Any]:
    """overlay.json's results for the sections not run this time (a partial run merges into it)."""
    try:
        earlier: dict[str, Any] = json.loads((RESULTS / "overlay.json").read_text())
    except (OSError, ValueError):
        return {}
    for name in rerun:
        earlier.pop(name, None)
        earlier.pop(SUMMARY_OF.get(name, ""), None)
    return {k: v for k, v in earlier.items() if k in SECTIONS or k in SUMMARY_OF.values() or k == "section_seconds"}


def main(argv: list[str] | None = None) -> int:
    """Every section (``make bench``), or ``--only SECTION`` merged into the results already written."""
    args = _parse_args(argv or [])
    selected = args.only or list(SECTIONS)
    if shutil.which("rclone") is None:
        print("rclone is not installed: run `make setup`", file=sys.stderr)
        return 1
    if os.geteuid() != 0 and set(selected) - {"loopback"}:
        print("the overlay benchmark needs root (network namespaces)", file=sys.stderr)
        return 1
    RESULTS.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = _earlier_results(selected) if args.only else {}
    report.update({"cpus": os.cpu_count(), "load_average_start": os.getloadavg(), "netns_before": _netns_list(),
                   "sections_run": selected})  # fmt: skip
    failures: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sky-bench-overlay-") as tmp:
        work = Path(tmp)
        state = work / "state"
        previous_state = os.environ.get("SKY_STATE_DIR")
        os.environ["SKY_STATE_DIR"] = str(state)  # gateways inherit it: their job dirs are ours alone
        try:
            for name in selected:
                section = SECTIONS[name]
                t0 = time.monotonic()
                print(f"  -- {name}", flush=True)
                try:
                    report[name] = section(work)
                except Exception:
                    traceback.print_exc()
                    failures.append(name)
                    report[name] = {"error": traceback.format_exc()[-3000:]}
                report.setdefault("section_seconds", {})[name] = round(time.monotonic() - t0, 1)
        finally:
            report["gateways_killed_at_end"] = _kill_our_gateways(state)
            if previous_state is None:
                os.environ.pop("SKY_STATE_DIR", None)
            else:
                os.environ["SKY_STATE_DIR"] = previous_state
    if "runs" in report.get("triangle", {}):
        report["triangle_summary"] = summarise_triangle(report["triangle"])
    report["planning_truth"] = planning_truth(report)
    if "runs" in report.get("loopback", {}):
        report["loopback_summary"] = summarise_loopback(report["loopback"])
    report["targets"] = verdicts(report.get("triangle_summary", {}), report["planning_truth"],
                                 report.get("loopback_summary", {}))  # fmt: skip
    report["target_values"] = TARGETS
    report["load_average_end"] = os.getloadavg()
    report["netns_after"] = _netns_list()  # other work on the machine may hold testbeds of its own
    report["our_testbeds"] = list(OUR_TESTBEDS)
    report["our_netns_left"] = [n for n in report["netns_after"] if any(f"-{i}-" in n for i in OUR_TESTBEDS)]
    report["seconds"] = round(time.monotonic() - started, 1)
    version = subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout
    report["rclone_version"] = version.split("\n")[0]
    (RESULTS / "overlay.json").write_text(json.dumps(report, indent=2, default=float) + "\n")
    print_tables(report)
    errors = [r["tool"] for s in selected for r in report.get(s, {}).get("runs", []) if r["error"]]
    if errors:
        print(f"\nruns with errors: {errors}", file=sys.stderr)
    if report["our_netns_left"]:
        print(f"\nnamespaces of this run left behind: {report['our_netns_left']}", file=sys.stderr)
    left = report["gateways_killed_at_end"] or report["our_netns_left"]
    return 1 if failures or errors or left else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
