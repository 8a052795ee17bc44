"""Cost/throughput frontier for one pair: what each extra Gbps costs per GB.

Sweeps throughput goals from a small fraction of the pair's capacity up to the capacity, solving
the min-cost model at each (the compiled model is reused, so a sweep is a series of warm
re-solves). $/GB is not monotone in the goal, since gateway VMs are whole and are billed for the
transfer time, so slow transfers pay more VM time per GB; points that another point beats on both
throughput and $/GB are marked ``dominated`` rather than dropped, so a plot shows the whole curve.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from airflow_provider_sky.planner.candidates import DEFAULT_LIMIT
from airflow_provider_sky.planner.data import RegionGrid
from airflow_provider_sky.planner.regions import RegionRules
from airflow_provider_sky.planner.unicast import prepare, to_plan


@dataclass
class ParetoPoint:
    """One solved goal: throughput, $/GB split, gateway VMs, relays."""

    gbps: float
    cost_usd_per_gb: float
    egress_usd_per_gb: float
    vm_usd_per_gb: float
    vms: int
    relays: list[str]
    dominated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pareto(
    grid: RegionGrid,
    source: str,
    destination: str,
    points: int = 12,
    rules: RegionRules | None = None,
    relay_limit: int | None = DEFAULT_LIMIT,
) -> list[ParetoPoint]:
    """Solve ``points`` goals evenly spaced up to the pair's maximum throughput."""
    model = prepare(grid, source, destination, rules, relay_limit)
    top = model.max_throughput().throughput
    out: list[ParetoPoint] = []
    for goal in np.linspace(top / points, top, points):
        sol = model.min_cost(float(goal) * (1 - 1e-7))  # just under the top: avoid round-off infeasibility
        if sol.status not in ("optimal", "optimal_inaccurate"):
            continue
        plan = to_plan(model.overlay, sol, source, [destination], "cost", float(goal), None)
        out.append(
            ParetoPoint(
                gbps=plan.throughput_gbps,
                cost_usd_per_gb=plan.cost_usd_per_gb,
                egress_usd_per_gb=plan.egress_usd_per_gb,
                vm_usd_per_gb=plan.vm_usd_per_gb,
                vms=sum(plan.vms.values()),
                relays=plan.relays,
            )
        )
    for p in out:
        p.dominated = any(q.gbps >= p.gbps and q.cost_usd_per_gb < p.cost_usd_per_gb - 1e-12 for q in out)
    return out
