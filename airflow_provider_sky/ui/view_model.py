"""From a task's XCom to what the plan view draws: route, predicted vs measured, frontier, launches.

The operators' results are the source of truth (``return_value``); ``sky_view`` (pushed while the
task plans, see :data:`VIEW_XCOM_KEY`) adds what the result does not carry: the Pareto frontier of
the pair and the launch's ranked candidates, and it is there before the task ends (a transfer still
deferred, a launch whose every candidate failed). Shapes are read defensively: a value this view
does not recognise gives no view (a 404 page says so), never a crash in the API server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_sky.launch.plan import Candidate
from airflow_provider_sky.planner.plan import TransferPlan
from airflow_provider_sky.redact import redact

VIEW_XCOM_KEY = "sky_view"
CANDIDATES_KEPT = 20  # ranked candidates pushed for the view: enough to show every failover step


@dataclass(frozen=True)
class FrontierPoint:
    """One Pareto point as XCom carries it (``planner.pareto.ParetoPoint.to_dict()``)."""

    gbps: float
    cost_usd_per_gb: float
    vms: int
    relays: list[str]
    dominated: bool = False

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> FrontierPoint:
        return cls(float(doc["gbps"]), float(doc["cost_usd_per_gb"]), int(doc.get("vms", 0)),
                   [str(r) for r in doc.get("relays", [])], bool(doc.get("dominated", False)))  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    """A predicted and a measured figure side by side (None where not known)."""

    metric: str
    unit: str
    predicted: float | None
    measured: float | None

    @property
    def ratio(self) -> float | None:
        if self.predicted in (None, 0) or self.measured is None:
            return None
        return self.measured / self.predicted


@dataclass
class PlanView:
    """Everything the page shows for one task instance."""

    kind: str  # "transfer", "launch" or "plan" (a planner-hook task)
    plan: TransferPlan | None = None
    measured_edges: dict[str, dict[str, Any]] = field(default_factory=dict)
    gateways: dict[str, dict[str, Any]] = field(default_factory=dict)
    comparison: list[Comparison] = field(default_factory=list)
    pareto: list[FrontierPoint] = field(default_factory=list)
    pair: tuple[str, str] | None = None
    candidates: list[Candidate] = field(default_factory=list)
    candidate_count: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    finished: bool = False

    def gateways_ran(self) -> dict[str, int] | None:
        """Gateways that ran, per region; None when the report names none (not run yet)."""
        if not self.gateways:
            return None
        ran: dict[str, int] = {}
        for gateway in self.gateways.values():
            ran[str(gateway.get("region"))] = ran.get(str(gateway.get("region")), 0) + 1
        return ran

    def pictures(self) -> dict[str, str]:
        """Inline SVG per picture name ("route", "pareto", "candidates"), only those with data."""
        from airflow_provider_sky.render.candidates import candidates_svg
        from airflow_provider_sky.render.pareto import pareto_svg
        from airflow_provider_sky.render.route import route_svg

        out = {}
        if self.plan is not None and self.plan.edges:
            out["route"] = route_svg(self.plan, self.measured_edges, self.gateways_ran())
        if self.pareto and self.pair:
            chosen = (self.plan.throughput_gbps, self.plan.cost_usd_per_gb) if self.plan else None
            out["pareto"] = pareto_svg(self.pareto, self.pair, self.plan.unit if self.plan else "Gbit/s", chosen)
        if self.candidates:
            out["candidates"] = candidates_svg(self.candidates, self.attempts)
        return out


def _plan(doc: Any) -> TransferPlan | None:
    if not isinstance(doc, Mapping) or not {"source", "destinations", "edges", "vms"} <= doc.keys():
        return None
    try:
        return TransferPlan.from_dict(dict(doc))
    except (TypeError, KeyError, ValueError):
        return None


def _frontier(doc: Any) -> list[FrontierPoint]:
    if not isinstance(doc, Sequence) or isinstance(doc, str):
        return []
    try:
        return [FrontierPoint.from_dict(p) for p in doc if isinstance(p, Mapping)]
    except (KeyError, TypeError, ValueError):
        return []


def _pair(plan: TransferPlan | None, extra: Mapping[str, Any]) -> tuple[str, str] | None:
    given = extra.get("pair")
    if isinstance(given, Sequence) and len(given) == 2 and not isinstance(given, str):
        return str(given[0]), str(given[1])
    if plan is not None and len(plan.destinations) == 1:
        return plan.source, plan.destinations[0]
    return None


def _mapping(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, Mapping) else {}


def _figure(doc: Any, key: str) -> float | None:
    value = doc.get(key) if isinstance(doc, Mapping) else None
    return float(value) if isinstance(value, int | float) else None


def _transfer(view: PlanView, result: Mapping[str, Any]) -> None:
    """A SkyTransferOperator result: the copy summary plus its ``overlay`` report."""
    overlay = _mapping(result, "overlay")
    view.finished = True
    view.facts += [
        ("objects copied", str(result.get("objects", 0))),
        ("bytes copied", f"{int(result.get('bytes', 0) or 0):,}"),
        ("skipped (already there)", str(result.get("skipped", 0))),
        ("seconds", str(result.get("seconds", ""))),
        ("gateway overlay", "used" if overlay.get("used") else "not used"),
    ]
    if overlay.get("reason"):
        view.facts.append(("why", redact(str(overlay["reason"]))))
    view.plan = _plan(overlay.get("plan")) or view.plan
    if isinstance(overlay.get("edges"), Mapping):
        view.measured_edges = {str(k): dict(v) for k, v in overlay["edges"].items() if isinstance(v, Mapping)}
    if isinstance(overlay.get("gateways"), Mapping):
        view.gateways = {str(k): dict(v) for k, v in overlay["gateways"].items() if isinstance(v, Mapping)}
    predicted, measured = overlay.get("predicted"), overlay.get("measured")
    if predicted or measured:
        view.comparison = [
            Comparison("throughput", view.plan.unit if view.plan else "Gbit/s", _figure(predicted, "throughput_gbps"),
                       _figure(measured, "throughput_gbps")),
            Comparison("time", "s", _figure(predicted, "seconds"), _figure(measured, "seconds")),
            Comparison("cost", "USD", _figure(predicted, "cost_usd"), _figure(measured, "cost_usd")),
        ]  # fmt: skip


def _launch(view: PlanView, result: Mapping[str, Any]) -> None:
    """A SkyLaunchOperator result: where it ran, what it cost, every attempt."""
    view.finished = True
    ran = _mapping(result, "candidate")
    where = f"{ran.get('cloud')}:{ran.get('region')}" + (f"/{ran['zone']}" if ran.get("zone") else "")
    view.facts += [
        ("ran on", f"{where} ({ran.get('instance_type')})"),
        ("exit code", str(result.get("exit_code"))),
        ("seconds", str(result.get("seconds"))),
        ("cost estimate", f"${float(result.get('cost_estimate_usd', 0) or 0):.6f}"),
        ("restarts after preemption", str(result.get("restarts", 0))),
    ]
    if isinstance(result.get("attempts"), Sequence):
        view.attempts = _attempts(result["attempts"])


def _attempts(doc: Sequence[Any]) -> list[dict[str, Any]]:
    """Attempts with their error text redacted (cloud errors can quote request details)."""
    return [dict(a) | {"error": redact(str(a.get("error", "")))} for a in doc if isinstance(a, Mapping)]


def _extra(view: PlanView, extra: Mapping[str, Any]) -> None:
    """What ``sky_view`` adds: a plan while the task still runs, the frontier, ranked candidates."""
    if view.plan is None:
        view.plan = _plan(extra.get("plan"))
    view.pareto = _frontier(extra.get("pareto"))
    view.pair = _pair(view.plan, extra)
    if isinstance(extra.get("candidates"), Sequence):
        try:
            view.candidates = [Candidate.from_dict(dict(c)) for c in extra["candidates"] if isinstance(c, Mapping)]
        except (TypeError, KeyError):
            view.candidates = []
        view.candidate_count = int(extra.get("candidate_count", len(view.candidates)) or 0)
        view.rejected = {str(k): int(v) for k, v in _mapping(extra, "rejected").items()}
    if not view.attempts and isinstance(extra.get("attempts"), Sequence):
        view.attempts = _attempts(extra["attempts"])
    view.notes += [redact(str(n)) for n in extra.get("notes", []) if n]


def _kind(result: Any, extra: Mapping[str, Any]) -> str | None:
    if isinstance(result, Mapping) and "overlay" in result:
        return "transfer"
    if isinstance(result, Mapping) and "attempts" in result and "candidate" in result:
        return "launch"
    if extra.get("kind") in ("transfer", "launch", "plan"):
        return str(extra["kind"])
    if _plan(result) is not None or (isinstance(result, Mapping) and _plan(result.get("plan")) is not None):
        return "plan"
    return None


def build_view(result: Any, extra: Any = None) -> PlanView | None:
    """The view of one task instance from its ``return_value`` and ``sky_view`` XComs (either may
    be None); None when neither holds anything this view draws."""
    extra = extra if isinstance(extra, Mapping) else {}
    kind = _kind(result, extra)
    if kind is None:
        return None
    view = PlanView(kind)
    if kind == "transfer" and isinstance(result, Mapping) and "overlay" in result:
        _transfer(view, result)
    elif kind == "launch" and isinstance(result, Mapping) and "attempts" in result:
        _launch(view, result)
    elif kind == "plan" and isinstance(result, Mapping):
        view.finished = True
        view.plan = _plan(result) or _plan(result.get("plan"))
        extra = {"pareto": result.get("pareto"), "pair": result.get("pair")} | dict(extra)
    _extra(view, extra)
    if view.plan is not None:
        view.notes += [redact(n) for n in view.plan.notes]
    return view


def transfer_extra(plan: TransferPlan, frontier: Sequence[Any] = (), kind: str = "transfer") -> dict[str, Any]:
    """The ``sky_view`` XCom of a transfer (or, ``kind="plan"``, a planner-hook task): its plan and
    the pair's frontier (``ParetoPoint`` objects)."""
    doc: dict[str, Any] = {"kind": kind, "plan": plan.to_dict(), "pareto": [p.to_dict() for p in frontier]}
    if frontier and len(plan.destinations) == 1:
        doc["pair"] = [plan.source, plan.destinations[0]]
    return doc


def launch_extra(
    candidates: Sequence[Candidate], rejected: Mapping[str, int], attempts: Sequence[Any] = ()
) -> dict[str, Any]:
    """The ``sky_view`` XCom of a launch: the first ranked candidates and the attempts so far."""
    return {
        "kind": "launch",
        "candidates": [c.to_dict() for c in candidates[:CANDIDATES_KEPT]],
        "candidate_count": len(candidates),
        "rejected": dict(rejected),
        "attempts": [a if isinstance(a, Mapping) else dict(a.__dict__) for a in attempts],
    }
