"""Whether a transfer uses gateways, and where they run: the ``overlay=`` and ``gateway_cloud=`` rules.

``overlay="auto"`` uses gateways when the plan says they pay:

1. the plan relays through another region, or
2. it runs more than one gateway VM in some region, or
3. the time it predicts beats the direct path (the worker copying over the direct link at the
   grid's per-VM rate) by more than the gateways' start-up cost (a few seconds for local and
   testbed gateways, about a minute and a half for cloud VMs: the slowest cloud of the plan counts).

Otherwise the worker copies on the direct path, as ``overlay="never"`` always does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.planner.data import RegionGrid
from airflow_provider_sky.planner.plan import TransferPlan

STARTUP_S = {"process": 2.0, "local": 3.0, "testbed": 3.0, "aws": 90.0, "gcp": 90.0, "azure": 120.0}
# vm: VMs in each region's own cloud (local:* regions on the embedded sshd cloud); "local" is its
# older name. testbed: namespaces of a live testbed. process: plain processes on this machine.
GATEWAY_CLOUDS = ("vm", "local", "testbed", "process")


@dataclass(frozen=True)
class OverlayDecision:
    use_gateways: bool
    reason: str
    direct_seconds: float | None = None
    overlay_seconds: float | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def decide(mode: str, plan: TransferPlan, grid: RegionGrid, volume_bytes: int, startup_s: float) -> OverlayDecision:
    if mode == "never":
        return OverlayDecision(False, "overlay='never'")
    if mode == "always":
        return OverlayDecision(True, "overlay='always'")
    if volume_bytes == 0:
        return OverlayDecision(False, "nothing to copy")
    if plan.relays:
        return OverlayDecision(True, f"the plan relays through {', '.join(plan.relays)}")
    busy = {r: n for r, n in plan.vms.items() if n > 1}
    if busy:
        return OverlayDecision(True, "the plan runs " + ", ".join(f"{n} gateways in {r}" for r, n in busy.items()))
    gbits = volume_bytes * 8 / 1e9
    direct = min(float(grid.throughput_gbps[grid.index(plan.source), grid.index(d)]) for d in plan.destinations)
    direct_s = gbits / direct if direct > 0 else float("inf")
    overlay_s = gbits / plan.throughput_gbps + startup_s if plan.throughput_gbps > 0 else float("inf")
    if overlay_s < direct_s:
        why = f"gateways finish in ~{overlay_s:.0f} s (start-up included), the direct path in ~{direct_s:.0f} s"
        return OverlayDecision(True, why, direct_s, overlay_s)
    why = f"the direct path (~{direct_s:.0f} s) is no slower than gateways (~{overlay_s:.0f} s with start-up)"
    return OverlayDecision(False, why, direct_s, overlay_s)


def startup_seconds(gateway_cloud: str, regions: Iterable[str]) -> float:
    """How long gateways take to start: VMs as long as the slowest of the plan's clouds."""
    if gateway_cloud != "vm":
        return STARTUP_S.get(gateway_cloud, 90.0)
    return max((STARTUP_S.get(r.split(":", 1)[0], 120.0) for r in regions), default=90.0)


def gateway_cloud_for(requested: str | None, regions: Iterable[str], testbed_regions: set[str] | None) -> str:
    """``gateway_cloud`` as given, or: the live testbed that holds the regions, else VMs in their clouds."""
    from airflow_provider_sky.launch.backends.base import CLOUDS

    regions = set(regions)
    if requested:
        return "vm" if requested == "local" else requested
    if testbed_regions is not None and regions <= testbed_regions:
        return "testbed"
    clouds = {r.split(":", 1)[0] for r in regions}
    if clouds <= set(CLOUDS):
        return "vm"
    raise SkyUserError(
        f"Gateways for {', '.join(sorted(regions))} would need VMs in {', '.join(sorted(clouds - set(CLOUDS)))}, "
        "which have no compute backend",
        f"plan over regions of {', '.join(CLOUDS)}, or use overlay='never' (the direct path)",
    )
