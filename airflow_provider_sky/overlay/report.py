"""Predicted vs measured: what the plan promised and what the gateways did (for XCom and the log)."""

from __future__ import annotations

from typing import Any

from airflow_provider_sky.overlay.runner import OverlayHandle, OverlayOutcome
from airflow_provider_sky.planner.data import RegionGrid
from airflow_provider_sky.planner.plan import TransferPlan


def overlay_report(
    plan: TransferPlan, handle: OverlayHandle, outcome: OverlayOutcome, grid: RegionGrid | None, reason: str
) -> dict[str, Any]:
    """Plan, per-edge bytes and rates, gateways, and predicted vs measured throughput and cost."""
    volume = sum(e["bytes"] for e in handle.expected.values()) / max(1, len(handle.expected))
    gb = volume / 1e9
    predicted = plan.predict(gb) if gb else {"seconds": 0.0, "total_usd": 0.0, "egress_usd": 0.0, "vm_usd": 0.0}
    price = {(e.src, e.dst): e.egress_usd_per_gb for e in plan.edges}
    egress = sum(edge["bytes"] / 1e9 * price.get(tuple(name.split("->", 1)), 0.0)  # type: ignore[arg-type]
                 for name, edge in outcome.edges.items())  # fmt: skip
    vm = 0.0
    if grid is not None:
        for gateway in outcome.gateways.values():
            hourly = float(grid.vm_usd_per_hour[grid.index(gateway["region"])])
            vm += hourly * gateway["uptime_s"] / 3600
    seconds = outcome.seconds
    measured_gbps = volume * 8 / 1e9 / seconds if seconds > 0 else 0.0
    return {
        "used": True,
        "reason": reason,
        "job_id": handle.job_id,
        "placement": handle.placement,
        "plan": plan.to_dict(),
        "edges": outcome.edges,
        "gateways": outcome.gateways,
        "predicted": {"throughput_gbps": plan.throughput_gbps, "seconds": predicted["seconds"],
                      "cost_usd": predicted["total_usd"]},
        "measured": {"throughput_gbps": measured_gbps, "seconds": seconds, "cost_usd": egress + vm,
                     "egress_usd": egress, "vm_usd": vm},
    }
