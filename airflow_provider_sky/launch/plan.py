"""Launch plans: the optimizer's ranked answer, as plain data the runner and XCom can carry.

Why a plan object rather than "the best instance": capacity errors are normal in the clouds, so
the runner needs the whole ranked list to fail over zone -> region -> cloud without asking the
optimizer again, and the price at plan time must be kept (catalog rows change under us).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Candidate:
    """One place a task could run: a (cloud, region, zone, instance type, spot) with its prices.

    ``zone`` is None when the cloud launches per region (Azure, on-demand AWS requests) so the
    runner lets the cloud pick the zone. Prices are USD; ``hourly_price`` is per node.
    """

    cloud: str
    region: str
    zone: str | None
    instance_type: str
    use_spot: bool
    hourly_price: float
    num_nodes: int = 1
    vcpus: float = 0.0
    memory_gib: float = 0.0
    accelerators: dict[str, float] = field(default_factory=dict)
    data_egress_usd: float = 0.0
    total_hourly_usd: float = 0.0
    score_usd: float = 0.0

    @property
    def location(self) -> str:
        """``cloud:region[/zone]`` as users write it in allow/deny rules and logs."""
        return f"{self.cloud}:{self.region}" + (f"/{self.zone}" if self.zone else "")

    def describe(self) -> str:
        accel = ",".join(f"{k}:{_num(v)}" for k, v in self.accelerators.items()) or "-"
        spot = " spot" if self.use_spot else ""
        return f"{self.instance_type}{spot} @ {self.location} ({_num(self.vcpus)} vCPU, {accel})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        return cls(**{**data, "accelerators": dict(data.get("accelerators") or {})})


@dataclass(frozen=True)
class LaunchPlan:
    """Ranked candidates for one task, best first, plus why the rest were dropped.

    ``rejected`` maps a reason ("deny_regions", "no price", "cpus", ...) to how many catalog
    rows or candidates it removed, so an empty or surprising plan can be explained.
    """

    task_name: str | None
    candidates: list[Candidate]
    rejected: dict[str, int] = field(default_factory=dict)
    catalog_source: str = "packaged"
    solve_ms: float = 0.0
    runtime_hours: float = 1.0
    ordered: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> Candidate:
        return self.candidates[0]

    def table(self, limit: int = 10) -> str:
        """A fixed-width table of the top candidates, for the CLI and task logs."""
        head = (
            "#",
            "cloud",
            "region",
            "zone",
            "instance",
            "spot",
            "vCPU",
            "GiB",
            "accel",
            "$/h",
            "egress$",
            "score$",
        )
        rows = [head]
        for i, c in enumerate(self.candidates[:limit], 1):
            accel = ",".join(f"{k}:{_num(v)}" for k, v in c.accelerators.items()) or "-"
            rows.append(
                (
                    str(i),
                    c.cloud,
                    c.region,
                    c.zone or "-",
                    c.instance_type,
                    "yes" if c.use_spot else "no",
                    _num(c.vcpus),
                    _num(c.memory_gib),
                    accel,
                    f"{c.total_hourly_usd:.4f}",
                    f"{c.data_egress_usd:.2f}",
                    f"{c.score_usd:.4f}",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        if len(self.candidates) > limit:
            lines.append(f"... {len(self.candidates) - limit} more candidates")
        return "\n".join(lines)

    def explain(self) -> str:
        """Why the first candidate won and what was left out, in plain words."""
        if not self.candidates:
            return f"No candidate for task {self.task_name!r}."
        best = self.best
        lines = [
            f"Task {self.task_name or '(unnamed)'}: {len(self.candidates)} candidates from the "
            f"{self.catalog_source} catalog, solved in {self.solve_ms:.1f} ms.",
            f"Best: {best.describe()} x{best.num_nodes} node(s) at ${best.total_hourly_usd:.4f}/h.",
        ]
        if best.data_egress_usd:
            lines.append(
                f"Bringing the input data there costs ${best.data_egress_usd:.2f}, amortised over "
                f"{_num(self.runtime_hours)} h in the score (${best.score_usd:.4f}/h)."
            )
        if self.ordered:
            lines.append("Order follows the task's `ordered` list first, price second.")
        if len(self.candidates) > 1:
            runner_up = next((c for c in self.candidates[1:] if c.cloud != best.cloud), None)
            if runner_up is not None:
                lines.append(
                    f"Cheapest on another cloud: {runner_up.describe()} (score ${runner_up.score_usd:.4f}/h)."
                )
        if self.rejected:
            parts = ", ".join(f"{reason}: {count}" for reason, count in sorted(self.rejected.items()))
            lines.append(f"Left out: {parts}.")
        lines.extend(self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for XCom); from_dict(to_dict()) == self."""
        return {
            "task_name": self.task_name,
            "candidates": [c.to_dict() for c in self.candidates],
            "rejected": dict(self.rejected),
            "catalog_source": self.catalog_source,
            "solve_ms": self.solve_ms,
            "runtime_hours": self.runtime_hours,
            "ordered": self.ordered,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LaunchPlan:
        return cls(
            task_name=data.get("task_name"),
            candidates=[Candidate.from_dict(c) for c in data.get("candidates", [])],
            rejected={str(k): int(v) for k, v in (data.get("rejected") or {}).items()},
            catalog_source=data.get("catalog_source", "packaged"),
            solve_ms=float(data.get("solve_ms", 0.0)),
            runtime_hours=float(data.get("runtime_hours", 1.0)),
            ordered=bool(data.get("ordered", False)),
            notes=list(data.get("notes") or []),
        )


def _num(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"
