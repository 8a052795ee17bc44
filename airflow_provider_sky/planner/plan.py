"""TransferPlan: the planner's answer as plain data (JSON for XCom, tables for people).

Rates are in the grid's unit (``unit``, decimal Gbit/s for the packaged grids). Money is USD.
``*_usd_per_gb`` figures are per GB of *source data*: for a multicast that GB reaches every
destination, and the egress of every overlay edge it crosses is included.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class PlanEdge:
    """One overlay edge: gateways in ``src`` send ``gbps`` to gateways in ``dst``."""

    src: str
    dst: str
    gbps: float
    connections: int
    egress_usd_per_gb: float
    link_gbps_per_vm: float  # measured per-VM-pair throughput at connections_per_vm


@dataclass
class PlanTree:
    """A distribution tree of a multicast: ``gbps`` of the data follows these edges."""

    gbps: float
    edges: list[tuple[str, str]]


@dataclass
class TransferPlan:
    """Which regions relay, how many VMs each runs, and what it will cost."""

    source: str
    destinations: list[str]
    objective: str  # "cost" (min cost at a goal) or "throughput" (max throughput in a budget)
    throughput_gbps: float
    egress_usd_per_gb: float
    vm_usd_per_gb: float
    edges: list[PlanEdge]
    vms: dict[str, int]
    unit: str = "Gbit/s"
    grid: str = "custom"
    goal_gbps: float | None = None
    budget_usd_per_gb: float | None = None
    trees: list[PlanTree] = field(default_factory=list)
    solver: dict[str, Any] = field(default_factory=dict)  # status, method, solve_s
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "multicast" if len(self.destinations) > 1 else "unicast"

    @property
    def cost_usd_per_gb(self) -> float:
        return self.egress_usd_per_gb + self.vm_usd_per_gb

    @property
    def relays(self) -> list[str]:
        ends = {self.source, *self.destinations}
        return [r for r in self.vms if r not in ends]

    def predict(self, volume_gb: float) -> dict[str, float]:
        """Seconds and dollars to move ``volume_gb`` GB at the planned throughput (VMs billed for
        the transfer time; start-up time is not included)."""
        seconds = volume_gb * 8.0 / self.throughput_gbps if self.throughput_gbps > 0 else float("inf")
        egress = self.egress_usd_per_gb * volume_gb
        vm = self.vm_usd_per_gb * volume_gb
        return {"seconds": seconds, "egress_usd": egress, "vm_usd": vm, "total_usd": egress + vm}

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["kind"] = self.kind
        doc["cost_usd_per_gb"] = self.cost_usd_per_gb
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TransferPlan:
        doc = {k: v for k, v in doc.items() if k not in ("kind", "cost_usd_per_gb")}
        doc["edges"] = [PlanEdge(**e) for e in doc.get("edges", [])]
        doc["trees"] = [PlanTree(t["gbps"], [tuple(e) for e in t["edges"]]) for t in doc.get("trees", [])]
        return cls(**doc)

    def explain(self, volume_gb: float | None = None) -> str:
        """A short human account of the plan and why it looks the way it does."""
        u = self.unit
        goal = (
            f"goal {self.goal_gbps:g} {u} at least cost"
            if self.objective == "cost"
            else f"most throughput within ${self.budget_usd_per_gb:g}/GB"
        )
        lines = [
            f"{self.kind} {self.source} -> {', '.join(self.destinations)} ({goal}, grid {self.grid})",
            f"throughput {self.throughput_gbps:.3f} {u}; ${self.cost_usd_per_gb:.5f}/GB "
            f"(egress {self.egress_usd_per_gb:.5f} + VMs {self.vm_usd_per_gb:.5f})",
            "relays: " + (", ".join(self.relays) if self.relays else "none (direct)"),
            "gateway VMs: " + ", ".join(f"{r} x{n}" for r, n in self.vms.items()),
        ]
        for e in self.edges:
            lines.append(
                f"  {e.src} -> {e.dst}: {e.gbps:.3f} {u} over {e.connections} connections "
                f"(link {e.link_gbps_per_vm:.2f} {u}/VM pair, ${e.egress_usd_per_gb:.4f}/GB)"
            )
        for i, t in enumerate(self.trees):
            lines.append(f"  tree {i + 1}: {t.gbps:.3f} {u} via " + ", ".join(f"{a}->{b}" for a, b in t.edges))
        if volume_gb is not None:
            p = self.predict(volume_gb)
            lines.append(
                f"{volume_gb:g} GB: {p['seconds']:.0f} s, ${p['total_usd']:.2f} "
                f"(egress ${p['egress_usd']:.2f} + VMs ${p['vm_usd']:.2f})"
            )
        status = self.solver.get("status", "?")
        lines.append(f"solver: {self.solver.get('method', '?')} {status} in {self.solver.get('solve_s', 0):.3f} s")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)
