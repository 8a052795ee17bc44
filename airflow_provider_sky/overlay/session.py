"""From a copy request and overlay settings to running gateways, or to the direct path.

One place for the steps the operator and ``airflow-sky cp/sync`` share: plan from the
stores' regions, list and diff, decide whether gateways pay (decide.py), choose where they
run, pick compression from a sample, and launch. The caller then watches (in the worker, the
triggerer or the CLI) and finishes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_sky.credentials import StoreCredentials
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.overlay import runner
from airflow_provider_sky.overlay.compression import choose_compression
from airflow_provider_sky.overlay.decide import OverlayDecision, decide, gateway_cloud_for, startup_seconds
from airflow_provider_sky.overlay.fleet import LoopbackPlacement, Placement
from airflow_provider_sky.overlay.replan import ReplanSpec
from airflow_provider_sky.planner.api import Planner
from airflow_provider_sky.planner.plan import TransferPlan
from airflow_provider_sky.transfer.request import CopyRequest


@dataclass
class OverlaySettings:
    """The overlay arguments of the operator and the CLI, parsed."""

    source_region: str
    destination_regions: dict[str, str]  # destination URI -> region
    mode: str = "auto"  # auto | always | never
    goal_gbps: float | None = 1.0
    budget_usd_per_gb: float | None = None
    deny_regions: list[str] | None = None
    allow_regions: list[str] | None = None
    gateway_cloud: str | None = None
    compression: str = "auto"
    memory_mb: int = 256
    log_interval_s: float = 10.0
    replan: bool = True
    tags: dict[str, str] = field(default_factory=dict)  # DAG/run/task tags for gateway VMs
    backend_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # cloud -> VM options


@dataclass
class Started:
    """What ``start_overlay`` did: gateways running (``handle``), or nothing and why (direct path)."""

    plan: TransferPlan
    decision: OverlayDecision
    handle: runner.OverlayHandle | None = None
    gateway_cloud: str | None = None
    compression: str = "off"


def check_regions(request: CopyRequest, regions: list[str]) -> None:
    """One region per destination, no region twice (a region has one destination store here)."""
    if len(regions) != len(request.destinations):
        raise SkyUserError(
            f"{len(request.destinations)} destination(s) but {len(regions)} destination region(s)",
            "give one destination region per destination, in the same order",
        )
    if len(set(regions)) != len(regions):
        raise SkyUserError("Two destinations are in the same region", "copy to one of them, or plan them apart")


def plan_for(planner: Planner, settings: OverlaySettings) -> TransferPlan:
    dests = list(settings.destination_regions.values())
    return planner.plan_transfer(
        settings.source_region, dests if len(dests) > 1 else dests[0],
        throughput_goal_gbps=settings.goal_gbps, budget_usd_per_gb=settings.budget_usd_per_gb,
        deny_regions=settings.deny_regions, allow_regions=settings.allow_regions,
    )  # fmt: skip


def placement_for(
    cloud: str, plan: TransferPlan, tags: dict[str, str] | None = None,
    backend_options: dict[str, dict[str, Any]] | None = None,
) -> Placement:  # fmt: skip
    """testbed: namespaces of a live testbed; vm: VMs in each region's cloud (local:* regions on
    the embedded sshd cloud); process: plain processes on this machine."""
    if cloud == "testbed":
        from airflow_provider_sky.testbed.placement import find_placement

        return find_placement(plan.vms)
    if cloud in ("vm", "local"):
        from airflow_provider_sky.overlay.vms import VmPlacement

        return VmPlacement(dict(tags or {}), dict(backend_options or {}))
    return LoopbackPlacement()


def choose_cloud(requested: str | None, plan: TransferPlan) -> str:
    """``gateway_cloud`` as given, else a live testbed holding the plan's regions, else local processes."""
    from airflow_provider_sky.testbed.placement import find_layout

    layout = find_layout(plan.vms)
    return gateway_cloud_for(requested, plan.vms, set(layout["namespaces"]) if layout else None)


def start_overlay(
    request: CopyRequest,
    settings: OverlaySettings,
    planner: Planner,
    credentials: StoreCredentials,
    say: Callable[[str], Any],
) -> Started:
    """Plan, list, decide; launch gateways when they pay. Nothing is written on the direct path."""
    check_regions(request, list(settings.destination_regions.values()))
    plan = plan_for(planner, settings)
    say(f"Plan:\n{plan.explain()}")
    prepared = runner.prepare(request, settings.destination_regions, credentials)
    try:
        cloud = choose_cloud(settings.gateway_cloud, plan)
    except SkyUserError:
        if settings.mode == "always":
            raise
        return Started(plan, OverlayDecision(False, "gateways cannot run in the plan's clouds"))
    startup = startup_seconds(cloud, plan.vms)
    decision = decide(settings.mode, plan, planner.grid, prepared.volume_bytes, startup)
    if not decision.use_gateways:
        return Started(plan, decision)
    compression = choose_compression(settings.compression, prepared, credentials)
    say(f"Gateway overlay ({decision.reason}) on {cloud}; compression {compression}")
    options = runner.OverlayOptions(compression=compression, memory_mb=settings.memory_mb,
                                    log_interval_s=settings.log_interval_s)  # fmt: skip
    replan = None
    if settings.replan and len(settings.destination_regions) == 1:
        replan = ReplanSpec(settings.goal_gbps, settings.budget_usd_per_gb, settings.deny_regions,
                            settings.allow_regions).to_dict()  # fmt: skip
    placement = placement_for(cloud, plan, settings.tags, settings.backend_options)
    handle = runner.launch(prepared, plan, placement, credentials, options, replan=replan,
                           grid=planner.grid.to_dict())  # fmt: skip
    return Started(plan, decision, handle, cloud, compression)
