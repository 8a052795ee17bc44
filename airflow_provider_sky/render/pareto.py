"""The cost/throughput frontier of one pair: every solved goal, the curve through the best ones,
and where the task's own plan sits on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from airflow_provider_sky.render.chart import Axes
from airflow_provider_sky.render.svg import document, el, fmt, group, num, title


class FrontierPoint(Protocol):
    """What is drawn of a point: ``planner.pareto.ParetoPoint`` has it (that module loads the
    solver stack, so the view reads points from XCom into a light record of the same shape)."""

    @property
    def gbps(self) -> float: ...
    @property
    def cost_usd_per_gb(self) -> float: ...
    @property
    def vms(self) -> int: ...
    @property
    def relays(self) -> list[str]: ...
    @property
    def dominated(self) -> bool: ...

WIDTH, HEIGHT = 620.0, 380.0


def pareto_svg(
    points: Sequence[FrontierPoint],
    pair: tuple[str, str],
    unit: str = "Gbit/s",
    chosen: tuple[float, float] | None = None,
) -> str:
    """``<svg data-sky-picture="pareto">``: one circle per point (dominated ones hollow), a line
    through the non-dominated ones, and ``chosen`` = (throughput, $/GB) of the plan that ran."""
    xs = [p.gbps for p in points] + ([chosen[0]] if chosen else [])
    ys = [p.cost_usd_per_gb for p in points] + ([chosen[1]] if chosen else [])
    axes = Axes.fit(xs or [1.0], ys or [1.0], 70, 20, WIDTH - 100, HEIGHT - 80)
    front = sorted((p for p in points if not p.dominated), key=lambda p: p.gbps)
    line = " ".join(f"{num(axes.x(p.gbps))},{num(axes.y(p.cost_usd_per_gb))}" for p in front)
    dots = []
    for p in points:
        relays = ", ".join(p.relays) or "none"
        dots.append(el(
            "circle",
            {"class_": "pareto-point", "data_gbps": fmt(p.gbps), "data_cost": f"{p.cost_usd_per_gb:.5f}",
             "data_dominated": str(p.dominated).lower(), "cx": axes.x(p.gbps), "cy": axes.y(p.cost_usd_per_gb),
             "r": 5, "fill": "#fff" if p.dominated else "#1565c0", "stroke": "#1565c0", "stroke_width": 1.5},
            title(f"{fmt(p.gbps)} {unit}: ${p.cost_usd_per_gb:.5f}/GB, {p.vms} VMs, relays {relays}"
                  + (" (dominated)" if p.dominated else "")),
        ))  # fmt: skip
    body = [axes.draw(f"throughput ({unit})", "$ per GB (egress + VM time)")]
    if line:
        body.append(el("polyline", {"class_": "pareto-front", "points": line, "fill": "none", "stroke": "#1565c0",
                                    "stroke_width": 2}))  # fmt: skip
    body.append(group({"class_": "pareto-points"}, dots))
    if chosen:
        x, y = axes.x(chosen[0]), axes.y(chosen[1])
        body.append(group({"class_": "pareto-chosen"}, [
            title(f"this plan: {fmt(chosen[0])} {unit}, ${chosen[1]:.5f}/GB"),
            el("circle", {"cx": x, "cy": y, "r": 9, "fill": "none", "stroke": "#c62828", "stroke_width": 3}),
            el("text", {"x": x + 12 if x < WIDTH - 110 else x - 12, "y": y - 10, "fill": "#c62828",
                        "font_weight": "bold", "text_anchor": "start" if x < WIDTH - 110 else "end"}, text="this plan"),
        ]))  # fmt: skip
    label = f"Pareto frontier {pair[0]} -> {pair[1]}: {len(points)} goals solved"
    return document("pareto", WIDTH, HEIGHT, body, label)
