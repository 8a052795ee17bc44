"""Re-planning with damping: follow measured throughput without chasing noise.

Throughput between regions drifts, and naive re-routing oscillates: every re-plan moves load,
which changes the measurements that triggered it. So a switch needs three things at once:

1. **a sustained deviation**: some planned edge runs more than ``off_by`` (default 50%) away
   from its planned rate for ``sustained_s`` (10 s). Wide-area rates wobble by 20-30% over
   seconds (Skyplane's own measurements); half the plan for ten seconds is a real change.
2. **a real gain**: the plan re-solved with the measured numbers (an edge below plan gets its
   measured per-VM rate; edges at or above plan keep the grid's) must predict a finish at
   least ``gain`` (25%) sooner than the current measured rate, start-up of new gateways
   included. Near-equal plans never replace each other: that is the hysteresis.
3. **budget left**: at most ``max_switches`` (2) per job, and ``settle_s`` (15 s) after a
   switch before edges are judged again, so the new route's rates can settle.

A switch adds the new plan's partitions to every gateway (starting gateways in regions that
have none), and the source moves its queued chunks to them; chunks already on the wire finish
on their old route. Only unicast transfers re-plan.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.planner.plan import TransferPlan

log = logging.getLogger(__name__)
PARTITION_STRIDE = 1000  # switch n numbers its partitions from n * PARTITION_STRIDE


@dataclass
class ReplanPolicy:
    off_by: float = 0.5
    sustained_s: float = 10.0
    gain: float = 0.25
    max_switches: int = 2
    settle_s: float = 15.0


@dataclass
class ReplanSpec:
    """How the job was planned, so it can be planned again with measured numbers."""

    goal_gbps: float | None = None
    budget_usd_per_gb: float | None = None
    deny_regions: list[str] | None = None
    allow_regions: list[str] | None = None
    policy: dict[str, Any] = field(default_factory=lambda: asdict(ReplanPolicy()))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Switch:
    """One re-plan that was applied (reported in the result)."""

    at_s: float
    reason: str
    predicted_gain: float
    plan: dict[str, Any]


def measured_edges(reports: dict[str, dict[str, Any]]) -> dict[tuple[str, str], float]:
    """Gbit/s per (region, next region), summed over the gateways of each region."""
    out: dict[tuple[str, str], float] = {}
    for report in reports.values():
        for next_region, edge in report.get("edges", {}).items():
            key = (report["region"], next_region)
            out[key] = out.get(key, 0.0) + edge["rate_bps"] / 1e9
    return out


class Replanner:
    """Decides, from successive progress reports, whether and where to switch the route."""

    def __init__(self, plan: TransferPlan, spec: ReplanSpec, grid_doc: dict[str, Any], running: set[str]) -> None:
        self.plan, self.spec, self.grid_doc = plan, spec, grid_doc
        self.policy = ReplanPolicy(**spec.policy)
        self.running = set(running)
        self.switches: list[Switch] = []
        self._off_since: dict[tuple[str, str], float] = {}
        self._last_switch = time.monotonic()
        self._started = time.monotonic()

    def deviation(self, measured: dict[tuple[str, str], float], now: float) -> str | None:
        """The edge that stayed off plan long enough, or None (updates the deviation clocks)."""
        if len(self.switches) >= self.policy.max_switches or now - self._last_switch < self.policy.settle_s:
            self._off_since.clear()
            return None
        for edge in self.plan.edges:
            if edge.gbps <= 1e-9:
                continue
            key = (edge.src, edge.dst)
            got = measured.get(key, 0.0)
            if abs(got - edge.gbps) / edge.gbps > self.policy.off_by:
                since = self._off_since.setdefault(key, now)
                if now - since >= self.policy.sustained_s:
                    return f"{edge.src}->{edge.dst} ran {got:.4f} vs {edge.gbps:.4f} planned for {now - since:.0f} s"
            else:
                self._off_since.pop(key, None)
        return None

    def candidate(
        self, measured: dict[tuple[str, str], float], remaining_bytes: int, startup_s: float
    ) -> tuple[TransferPlan, float] | None:
        """Re-solve with measured rates; the new plan and its predicted gain when it pays, else None."""
        from airflow_provider_sky.planner.api import Planner
        from airflow_provider_sky.planner.data import grid_from_dict

        doc = dict(self.grid_doc)
        rates = [list(row) for row in doc["throughput_gbps"]]
        index = {r: i for i, r in enumerate(doc["regions"])}
        per_vm = int(doc.get("connections_per_vm", 64))
        for edge in self.plan.edges:
            got = measured.get((edge.src, edge.dst), 0.0)
            if got < edge.gbps:  # slower than planned: believe the measurement
                share = max(1, edge.connections) / per_vm
                rates[index[edge.src]][index[edge.dst]] = max(1e-6, got / min(1.0, share))
        doc["throughput_gbps"] = rates
        planner = Planner(grid_from_dict(doc))
        dst = self.plan.destinations[0]
        try:
            new = planner.plan_transfer(
                self.plan.source, dst, throughput_goal_gbps=self.spec.goal_gbps,
                budget_usd_per_gb=None if self.spec.goal_gbps else self.spec.budget_usd_per_gb,
                deny_regions=self.spec.deny_regions, allow_regions=self.spec.allow_regions,
            )  # fmt: skip
        except SkyUserError:  # the goal is out of reach now: go as fast as the network allows
            new = planner.plan_transfer(
                self.plan.source, dst, budget_usd_per_gb=1e6,
                deny_regions=self.spec.deny_regions, allow_regions=self.spec.allow_regions,
            )  # fmt: skip
        into_dst = sum(rate for (_, b), rate in measured.items() if b == dst)
        gbits = remaining_bytes * 8 / 1e9
        now_s = gbits / into_dst if into_dst > 0 else float("inf")
        extra = startup_s if set(new.vms) - self.running else 0.0
        new_s = gbits / new.throughput_gbps + extra if new.throughput_gbps > 0 else float("inf")
        gain = 1 - new_s / now_s if now_s != float("inf") else 1.0
        if gain < self.policy.gain:
            log.info("Re-plan kept the route: predicted %.0f s vs %.0f s now (gain %.0f%% < %.0f%%)",
                     new_s, now_s, 100 * gain, 100 * self.policy.gain)  # fmt: skip
            self._last_switch = time.monotonic()  # judge again only after settling
            return None
        return new, gain

    def restore(self, switches: list[Switch]) -> None:
        """Carry on after a restart: earlier switches count against the limit and own their partition ids."""
        self.switches = list(switches)

    def switched(self, new: TransferPlan, reason: str, gain: float) -> int:
        """Record a switch; returns the first partition id for the new plan."""
        self.switches.append(Switch(time.monotonic() - self._started, reason, gain, new.to_dict()))
        self.plan = new
        self.running |= set(new.vms)
        self._last_switch = time.monotonic()
        self._off_since.clear()
        return len(self.switches) * PARTITION_STRIDE


async def maybe_replan(
    replanner: Replanner,
    reports: dict[str, dict[str, Any]],
    remaining_bytes: int,
    apply: Callable[[TransferPlan, int], Any],
    say: Callable[[str], Any],
    startup_s: float = 3.0,
) -> None:
    """One look at the latest reports; re-solve (in a thread: the solver blocks) and apply if it pays."""
    measured = measured_edges(reports)
    reason = replanner.deviation(measured, time.monotonic())
    if reason is None or remaining_bytes <= 0:
        return
    say(f"Re-planning: {reason}")
    found = await asyncio.to_thread(replanner.candidate, measured, remaining_bytes, startup_s)
    if found is None:
        say("Re-plan: the current route stays (no plan finishes enough sooner)")
        return
    new, gain = found
    first = replanner.switched(new, reason, gain)
    relays = ", ".join(new.relays) or "none (direct)"
    say(f"Re-plan switch {len(replanner.switches)}: {new.throughput_gbps:.3f} Gbit/s via {relays} "
        f"(predicted {100 * gain:.0f}% sooner)")  # fmt: skip
    await apply(new, first)
