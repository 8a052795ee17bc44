"""A launch's ranked candidates as bars (hourly price), each marked with what trying it did.

Failover reads top to bottom: the optimizer's order is the order the provisioner tries, so a
capacity error on #1 and a launch on #3 show as an orange, an orange and a green bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_sky.launch.plan import Candidate
from airflow_provider_sky.render.svg import document, el, fmt, group, title

WIDTH = 860.0
ROW = 26.0
_OUTCOME_COLOR = {
    "launched": "#2e7d32", "capacity": "#ef6c00", "quota": "#f9a825", "error": "#c62828",
    "preempted": "#6a1b9a", "skipped": "#9e9e9e", "not tried": "#90caf9",
}  # fmt: skip


def outcomes(candidates: Sequence[Candidate], attempts: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """For each candidate, the outcomes of the attempts made on it, in order (an attempt names
    its candidate by ``Candidate.describe()``)."""
    by_label: dict[str, list[str]] = {}
    for attempt in attempts:
        by_label.setdefault(str(attempt.get("candidate")), []).append(str(attempt.get("outcome")))
    return [by_label.get(c.describe(), []) for c in candidates]


def candidates_svg(candidates: Sequence[Candidate], attempts: Sequence[Mapping[str, Any]] = (), limit: int = 12) -> str:
    """``<svg data-sky-picture="candidates">``: the first ``limit`` candidates, best first."""
    shown = list(candidates[:limit])
    tried = outcomes(shown, attempts)
    top = max((c.total_hourly_usd or c.hourly_price for c in shown), default=1.0) or 1.0
    left, bar_room = 330.0, WIDTH - 330.0 - 170.0
    rows = []
    for rank, (cand, results) in enumerate(zip(shown, tried, strict=True), 1):
        y = 30 + (rank - 1) * ROW
        last = results[-1] if results else "not tried"
        price = cand.total_hourly_usd or cand.hourly_price
        spot = " spot" if cand.use_spot else ""
        rows.append(group(
            {"class_": "candidate", "data_rank": rank, "data_location": cand.location,
             "data_outcome": last, "data_attempts": len(results)},
            [title(f"#{rank} {cand.describe()}: ${price:.4f}/h, score ${cand.score_usd:.4f}; "
                   + (", ".join(results) if results else "not tried")),
             el("text", {"x": 8, "y": y + 15, "font_size": 11}, text=f"#{rank}"),
             el("text", {"class_": "candidate-label", "x": 36, "y": y + 15, "font_size": 11},
                text=f"{cand.location} {cand.instance_type}{spot}"),
             el("rect", {"x": left, "y": y + 3, "width": max(2.0, bar_room * price / top), "height": ROW - 8,
                         "fill": _OUTCOME_COLOR.get(last, "#757575")}),
             el("text", {"class_": "candidate-price", "x": left + bar_room + 8, "y": y + 15, "font_size": 11},
                text=f"${fmt(price)}/h · {last}" + (f" x{len(results)}" if len(results) > 1 else ""))],
        ))  # fmt: skip
    height = 30 + len(shown) * ROW + 40
    legend = []
    for i, (name, color) in enumerate(_OUTCOME_COLOR.items()):
        legend.append(el("rect", {"x": 8 + i * 110, "y": height - 26, "width": 10, "height": 10, "fill": color}))
        legend.append(el("text", {"x": 22 + i * 110, "y": height - 17, "font_size": 11}, text=name))
    head = el("text", {"x": 8, "y": 18, "font_weight": "bold"},
              text=f"{len(candidates)} candidates, best first ({len(shown)} shown); bar: $ per hour")
    label = f"launch candidates: {len(candidates)} ranked, {len(attempts)} attempts"
    return document("candidates", WIDTH, height, [head, *rows, group({"class_": "legend"}, legend)], label)
