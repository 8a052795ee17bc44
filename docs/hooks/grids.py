"""mkdocs hook: the table of region grids the planner ships, read from the packaged files at build time.

``<!-- grids -->`` on a page becomes one row per packaged grid and testbed profile: regions per
cloud, measured links, unit, link model and the spread of rates and egress prices. Loading every
grid takes milliseconds and imports numpy only (no solver).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

MARKER = "<!-- grids -->"


def grids_table() -> str:
    """Markdown: every packaged grid, then every testbed profile."""
    import numpy as np

    from airflow_provider_sky.planner.data import DATA_DIR, load_grid
    from airflow_provider_sky.testbed.profiles import profile_names

    names = sorted(p.name.removesuffix(".json.gz") for p in DATA_DIR.glob("*.json.gz")) + list(profile_names())
    lines = [
        "| grid | regions | links | unit | link model | rate per VM pair: median / max | egress $/GB: min - max |",
        "|---|---|---:|---|---|---:|---:|",
    ]
    for name in names:
        grid = load_grid(name)
        clouds = Counter(grid.cloud(region) for region in grid.regions)
        linked = grid.throughput_gbps > 0
        rates = grid.throughput_gbps[linked]
        prices = grid.egress_usd_per_gb[linked]
        per_cloud = ", ".join(f"{cloud} {count}" for cloud, count in sorted(clouds.items()))
        lines.append(
            f"| `{name}` | {len(grid)} ({per_cloud}) | {int(linked.sum())} | {grid.unit} | {grid.link_model} "
            f"| {float(np.median(rates)):.3g} / {float(rates.max()):.3g} "
            f"| {float(prices.min()):.3g} - {float(prices.max()):.3g} |"
        )
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, grids_table())
