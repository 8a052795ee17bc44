"""Watching a running overlay job: poll its gateways, relay acknowledgements, re-plan, end once.

Async because the trigger runs it in the triggerer's event loop (nothing there may block); the
worker and the CLI drive it with ``asyncio.run``. It can be started again at any time from the
job's handle (a restarted triggerer): cursors start over, acknowledgements are idempotent, and
gateways or a plan a re-plan added are read back from the job directory.

Failure rules: a relay that goes silent or fails is routed around (the sources drop its paths
and re-send what it held); a source or destination that does is the end of the job, named in
the outcome's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_sky.credentials import StoreCredentials
from airflow_provider_sky.errors import SkyError
from airflow_provider_sky.gateway.program import compile_programs, partitions
from airflow_provider_sky.overlay.client import ControlClient, GatewayUnreachable
from airflow_provider_sky.overlay.fleet import placement_from_doc
from airflow_provider_sky.overlay.replan import Replanner, ReplanSpec, Switch, maybe_replan
from airflow_provider_sky.overlay.runner import (
    GATEWAY_LOST_AFTER_S,
    OverlayHandle,
    OverlayOptions,
    OverlayOutcome,
    issue_gateway_identity,
    load_recorded_gateways,
    programs_for,
    record_gateways,
)
from airflow_provider_sky.planner.plan import TransferPlan
from airflow_provider_sky.transfer.request import CopyRequest

log = logging.getLogger(__name__)


@dataclass
class _WatchState:
    acks_from: dict[str, int] = field(default_factory=dict)
    results_from: dict[str, int] = field(default_factory=dict)
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    last_seen: dict[str, float] = field(default_factory=dict)
    last_log: float = 0.0
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)


async def watch(
    handle: OverlayHandle,
    *,
    log_line: Callable[[str], Any] | None = None,
    cancel: Callable[[], bool] | None = None,
    timeout_s: float | None = None,
) -> OverlayOutcome:
    """Poll every gateway until each destination wrote what it expects, or something failed.

    Relays acknowledgements from destinations to the source gateway that sent each chunk.
    Safe to call again after an interruption (a triggerer restart): cursors start over and
    re-sent acknowledgements are idempotent.
    """
    options = OverlayOptions(**handle.options)
    _reload_recorded(handle)
    processes = handle.processes()
    urls = {p.gateway_id: p.control_url for p in processes}
    region_of = {p.gateway_id: p.region for p in processes}
    ends = {handle.plan["source"], *handle.plan["destinations"]}
    relays = {g for g, r in region_of.items() if r not in ends}
    state = _WatchState()
    started = beat = time.monotonic()
    say = log_line or log.info
    replanner = _replanner(handle)
    async with ControlClient(handle.path, timeout=10.0) as client:

        async def apply(new_plan: TransferPlan, first: int) -> None:
            await _apply_plan(client, handle, new_plan, first, options)
            if replanner is not None:  # a restarted watch counts them on (the limit is per job)
                (handle.path / "switches.json").write_text(json.dumps([asdict(s) for s in replanner.switches]))
            for p in handle.processes():
                urls.setdefault(p.gateway_id, p.control_url)
                region_of.setdefault(p.gateway_id, p.region)
                if p.region not in ends:
                    relays.add(p.gateway_id)

        while True:
            if cancel is not None and cancel():
                return _outcome(handle, state, "failed", "the transfer was cancelled", replanner)
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                return _outcome(handle, state, "failed", f"the transfer did not finish within {timeout_s:.0f} s",
                                replanner)  # fmt: skip
            if time.monotonic() - beat >= options.heartbeat_interval_s:
                beat = time.monotonic()
                await asyncio.to_thread(_heartbeat_gateway_vms, handle)
            failure = await _poll_once(client, urls, region_of, state)
            if failure and failure[0] in relays:
                relays.discard(failure[0])
                await _route_around(client, urls, region_of, failure, handle.plan["source"], say)
            elif failure:
                return _outcome(handle, state, "failed", failure[1], replanner)
            done = all(
                len(state.results.get(region, [])) >= want["objects"] for region, want in handle.expected.items()
            )
            if done:
                return _outcome(handle, state, "success", "", replanner)
            if replanner is not None:
                await maybe_replan(replanner, state.reports, _remaining(handle, state), apply, say)
            if time.monotonic() - state.last_log >= options.log_interval_s:
                state.last_log = time.monotonic()
                say(progress_line(handle, state))
            await asyncio.sleep(options.poll_interval_s)


def _heartbeat_gateway_vms(handle: OverlayHandle) -> None:
    """Move the janitor's TTL of every gateway VM this job runs on.

    Gateway VMs carry a TTL counted from their last heartbeat, so that a VM whose teardown never
    ran is deleted some hours later; a transfer running longer than that TTL must keep beating or
    the janitor would delete gateways still moving bytes. A failed beat is logged, not fatal: the
    next one may succeed, and the TTL is hours.
    """
    clusters = sorted({p.cluster for p in handle.processes() if p.cluster})
    if not clusters:
        return
    from airflow_provider_sky.launch import runner as launch_runner

    for cluster in clusters:
        try:
            launch_runner.heartbeat_by_name(cluster)
        except Exception as exc:  # a cloud API error must not end a transfer whose gateways still run
            log.warning("heartbeat of gateway VM %s failed (retried at the next beat): %s", cluster, exc)


async def _route_around(
    client: ControlClient,
    urls: dict[str, str],
    region_of: dict[str, str],
    failure: tuple[str, str],
    source_region: str,
    say: Callable[[str], Any],
) -> None:
    """A relay is lost: the sources stop using paths through it and re-send what it held."""
    gateway_id, message = failure
    region = region_of[gateway_id]
    say(f"{message}; routing around {region}")
    urls.pop(gateway_id, None)
    for source in [g for g in urls if region_of[g] == source_region]:
        with contextlib.suppress(SkyError):
            resent = await client.avoid(urls[source], [region])
            say(f"source {source} re-sends {resent} chunks that went through {region}")


async def _poll_once(
    client: ControlClient, urls: dict[str, str], region_of: dict[str, str], state: _WatchState
) -> tuple[str, str] | None:
    """One round of progress calls; returns (gateway id, failure message) or None."""
    now = time.monotonic()

    async def one(gateway_id: str) -> tuple[str, dict[str, Any] | None]:
        try:
            doc = await client.progress(
                urls[gateway_id], state.acks_from.get(gateway_id, 0), state.results_from.get(gateway_id, 0)
            )
            return gateway_id, doc
        except GatewayUnreachable:
            return gateway_id, None

    answers = await asyncio.gather(*(one(g) for g in urls))
    acks_by_origin: dict[str, list[list[Any]]] = {}
    silent: list[str] = []
    failed: list[tuple[str, str]] = []
    for gateway_id, doc in answers:
        if doc is None:
            silent.append(gateway_id)
            first = state.last_seen.setdefault(gateway_id, now)
            if now - first > GATEWAY_LOST_AFTER_S:
                failed.append((gateway_id, _silent_message(gateway_id, region_of)))
            continue
        state.last_seen[gateway_id] = now
        state.reports[gateway_id] = doc
        if doc["state"] == "failed":
            failed.append((gateway_id, f"gateway {gateway_id} in {region_of[gateway_id]} failed: "
                                       f"{'; '.join(doc['errors'])}"))  # fmt: skip
        state.acks_from[gateway_id] = doc["acks_next"]
        state.results_from[gateway_id] = doc["results_next"]
        state.results.setdefault(region_of[gateway_id], []).extend(doc["results"])
        for chunk_id, region, origin in doc["acks"]:
            acks_by_origin.setdefault(origin, []).append([chunk_id, region])
    if failed:
        # A gateway that went silent is usually why the others failed: name it first.
        cause = next(((g, _silent_message(g, region_of)) for g in silent), failed[0])
        rest = [m for g, m in failed if g != cause[0]]
        return cause[0], "; ".join([cause[1], *rest])
    for origin, acks in acks_by_origin.items():
        if origin in urls:
            with contextlib.suppress(GatewayUnreachable):
                await client.ack(urls[origin], acks)
    return None


def _remaining(handle: OverlayHandle, state: _WatchState) -> int:
    want = sum(e["bytes"] for e in handle.expected.values())
    return want - sum(r["size"] for results in state.results.values() for r in results)


def _reload_recorded(handle: OverlayHandle) -> None:
    """Gateways and plan a re-plan recorded in the job directory (a restarted trigger has older kwargs)."""
    load_recorded_gateways(handle)
    with contextlib.suppress(OSError, ValueError):
        handle.plan = json.loads((handle.path / "plan.json").read_text())


def _replanner(handle: OverlayHandle) -> Replanner | None:
    """A Replanner when the job asked for one and is a unicast with its grid recorded."""
    grid_path = handle.path / "grid.json"
    if not handle.replan or len(handle.plan["destinations"]) != 1 or not grid_path.exists():
        return None
    replanner = Replanner(TransferPlan.from_dict(handle.plan), ReplanSpec(**handle.replan),
                          json.loads(grid_path.read_text()), {p.region for p in handle.processes()})  # fmt: skip
    with contextlib.suppress(OSError, ValueError):  # switches an earlier watch of this job applied
        replanner.restore([Switch(**doc) for doc in json.loads((handle.path / "switches.json").read_text())])
    return replanner


async def _apply_plan(
    client: ControlClient, handle: OverlayHandle, plan: TransferPlan, first: int, options: OverlayOptions
) -> None:
    """Start gateways the new plan needs, add its partitions everywhere, switch the source last."""
    placement = placement_from_doc(handle.placement_doc)
    programs = compile_programs(plan, handle.job_id, first)
    running = {p.gateway_id for p in handle.processes()}
    for gateway_id, program in programs.items():
        if gateway_id in running:
            continue
        directory = issue_gateway_identity(handle.path, handle.job_id, gateway_id)
        process = await asyncio.to_thread(
            placement.start_gateway, gateway_id, program.region, directory,
            memory_mb=options.memory_mb, idle_timeout_s=options.idle_timeout_s,
        )  # fmt: skip
        handle.gateways.append(process.to_dict())
        record_gateways(handle)
    request = CopyRequest.from_dict(handle.request)
    docs = programs_for(programs, handle, placement, request, StoreCredentials(), handle.destinations, options,
                         partitions(plan, first))  # fmt: skip
    urls = {p.gateway_id: p.control_url for p in handle.processes()}
    for gateway_id in sorted(docs, key=lambda g: docs[g]["reads"]):  # receivers first, the source last
        doc = docs[gateway_id]
        if gateway_id in running:
            await client.reroute(urls[gateway_id], {k: doc[k] for k in ("hops", "weights", "connections", "peers")}
                                 | {"partition_regions": doc.get("partition_regions", {})})  # fmt: skip
        else:
            doc.pop("store", None)
            await client.load(urls[gateway_id], doc)
    handle.plan = plan.to_dict()
    (handle.path / "plan.json").write_text(json.dumps(handle.plan))


def _silent_message(gateway_id: str, region_of: dict[str, str]) -> str:
    return f"gateway {gateway_id} in {region_of[gateway_id]} stopped answering (killed, or its VM is gone)"


def progress_line(handle: OverlayHandle, state: _WatchState) -> str:
    want = sum(e["bytes"] for e in handle.expected.values())
    have = sum(r["size"] for results in state.results.values() for r in results)
    elapsed = max(1e-6, time.time() - (handle.submitted_at or handle.started_at))
    rate = have / elapsed
    eta = (want - have) / rate if rate > 0 else float("inf")
    edges = []
    for report in state.reports.values():
        for region, edge in report["edges"].items():
            edges.append(f"{report['region']}->{region} {edge['rate_bps'] / 1e6:.0f} Mbit/s")
    eta_text = f"{eta:.0f} s" if eta != float("inf") else "?"
    return (
        f"Overlay {handle.job_id}: {have / 1e6:.1f} of {want / 1e6:.1f} MB written, {8 * rate / 1e6:.0f} Mbit/s, "
        f"ETA {eta_text}; edges: {', '.join(edges) or 'none yet'}"
    )


def _outcome(
    handle: OverlayHandle, state: _WatchState, status: str, message: str = "", replanner: Replanner | None = None
) -> OverlayOutcome:
    edges: dict[str, dict[str, Any]] = {}
    gateways: dict[str, dict[str, Any]] = {}
    for gateway_id, report in state.reports.items():
        for region, edge in report["edges"].items():
            entry = edges.setdefault(f"{report['region']}->{region}", {"bytes": 0, "connections": 0})
            entry["bytes"] += edge["bytes"]
            entry["connections"] += edge["connections"]
        gateways[gateway_id] = {
            "region": report["region"], "rss_bytes": report["rss_bytes"], "cpu_seconds": report["cpu_seconds"],
            "rss_peak_bytes": report.get("rss_peak_bytes", 0),
            "budget_peak": report["budget"]["peak"], "budget_limit": report["budget"]["limit"],
            "uptime_s": report["uptime_s"], "refused_peers": report["refused_peers"],
            "cpu_by_stage": report.get("cpu_by_stage", {}),
        }  # fmt: skip
    now = time.time()
    seconds = now - (handle.submitted_at or handle.started_at)
    for entry in edges.values():
        entry["mbit_per_s"] = 8 * entry["bytes"] / seconds / 1e6 if seconds > 0 else 0.0
    switches = [asdict(s) for s in replanner.switches] if replanner is not None else []
    return OverlayOutcome(status, message, state.results, edges, gateways, seconds, now - handle.started_at, switches)
