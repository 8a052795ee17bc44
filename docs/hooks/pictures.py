"""mkdocs hook: plan pictures drawn at build time by the project's own planner and plotter.

Each picture is a real plan: :class:`~airflow_provider_sky.planner.api.Planner` solves it on a
packaged grid, :func:`~airflow_provider_sky.planner.plot.plot_plan` draws it as a PNG and
``airflow_provider_sky.render`` (the plan view's renderer) as SVG, so the pages show what the code
does today. The PNGs go into the built site only (never into git), and a
page shows a plan's own explanation where it holds ``<!-- plan-explain: NAME -->``.

Three small solves and a 10-point Pareto sweep: about 2 s after cvxpy's import.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

EXPLAIN = "<!-- plan-explain: {name} -->"


@dataclass(frozen=True)
class Picture:
    """One plan to solve and draw: ``img/plan-NAME.png`` in the site."""

    name: str
    grid: str | None
    source: str
    destinations: tuple[str, ...]
    goal_gbps: float | None = None
    budget_usd_per_gb: float | None = None
    pareto: bool = False


PICTURES = (
    # A budget-bound inter-cloud pair whose cheapest fast route relays through two regions.
    Picture("japaneast-euwest1", None, "azure:japaneast", ("aws:eu-west-1",), budget_usd_per_gb=0.13, pareto=True),
    # The multicast testbed the overlay benchmark runs on: one shared relay feeds three destinations.
    Picture("testbed-tree", "multicast", "local:tb-src", ("local:tb-d1", "local:tb-d2", "local:tb-d3"), goal_gbps=0.2),
    # One source, three clouds: a distribution tree.
    Picture("multicast", None, "aws:us-east-1", ("gcp:europe-west4-a", "azure:westeurope", "aws:ap-northeast-1"),
            goal_gbps=4),
)  # fmt: skip

_explanations: dict[str, str] = {}


def _draw(picture: Picture, out: Path) -> tuple[str, dict[str, str]]:
    """Solve one picture and draw it: the PNG into ``out`` (matplotlib), the same plan as SVG
    (the plan view's renderer); return the plan's explanation for 1 TB and the SVGs by suffix."""
    from airflow_provider_sky.planner.api import Planner
    from airflow_provider_sky.planner.plot import plot_plan
    from airflow_provider_sky.render.pareto import pareto_svg
    from airflow_provider_sky.render.route import route_svg

    planner = Planner(picture.grid)
    dests = list(picture.destinations)
    plan = planner.plan_transfer(
        picture.source, dests if len(dests) > 1 else dests[0],
        throughput_goal_gbps=picture.goal_gbps, budget_usd_per_gb=picture.budget_usd_per_gb,
    )  # fmt: skip
    frontier = planner.pareto(picture.source, dests[0], points=10) if picture.pareto else []
    plot_plan(plan, frontier, str(out))
    svgs = {"route": route_svg(plan)}
    if frontier:
        chosen = (plan.throughput_gbps, plan.cost_usd_per_gb)
        svgs["pareto"] = pareto_svg(frontier, (plan.source, dests[0]), plan.unit, chosen=chosen)
    return plan.explain(volume_gb=1000), svgs


def on_files(files: Files, config: Any) -> Files:
    with tempfile.TemporaryDirectory(prefix="sky-docs-") as tmp:
        for picture in PICTURES:
            out = Path(tmp) / f"{picture.name}.png"
            _explanations[picture.name], svgs = _draw(picture, out)
            files.append(File.generated(config, f"img/plan-{picture.name}.png", content=out.read_bytes()))
            for suffix, svg in svgs.items():
                files.append(File.generated(config, f"img/plan-{picture.name}-{suffix}.svg", content=svg))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    for name, text in _explanations.items():
        marker = EXPLAIN.format(name=name)
        if marker in markdown:
            markdown = markdown.replace(marker, f"```text\n{text.rstrip()}\n```")
    return markdown
