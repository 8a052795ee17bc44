"""Pictures of a plan: the overlay route as a layered graph, and the cost/throughput curve.

matplotlib is an optional extra (``airflow-provider-sky[plot]``), imported only here.
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.planner.pareto import ParetoPoint
from airflow_provider_sky.planner.plan import TransferPlan


def _layers(plan: TransferPlan) -> dict[str, tuple[float, float]]:
    """x = hops from the source (longest path), y spread within a layer."""
    depth = {plan.source: 0}
    for _ in range(len(plan.vms) + 1):
        for e in plan.edges:
            if e.src in depth:
                depth[e.dst] = max(depth.get(e.dst, 0), depth[e.src] + 1)
    for r in plan.destinations:
        depth.setdefault(r, 1)
    by_layer: dict[int, list[str]] = {}
    for r, d in depth.items():
        by_layer.setdefault(d, []).append(r)
    pos = {}
    for d, regions in by_layer.items():
        for i, r in enumerate(sorted(regions)):
            pos[r] = (float(d), (i - (len(regions) - 1) / 2.0))
    return pos


def plot_plan(plan: TransferPlan, frontier: Sequence[ParetoPoint], path: str) -> None:
    """Write a PNG with the route (edge width ~ rate) and, when given, the frontier."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SkyUserError("matplotlib is not installed", "pip install 'airflow-provider-sky[plot]'") from exc
    cols = 2 if frontier else 1
    fig, axes = plt.subplots(1, cols, figsize=(7 * cols, 5), squeeze=False)
    ax = axes[0][0]
    pos = _layers(plan)
    top = max((e.gbps for e in plan.edges), default=1.0)
    for e in plan.edges:
        (x0, y0), (x1, y1) = pos[e.src], pos[e.dst]
        ax.annotate(
            "", xy=(x1, y1), xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "lw": 1 + 4 * e.gbps / top, "color": "tab:blue", "alpha": 0.7},
        )  # fmt: skip
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, f"{e.gbps:.1f}", fontsize=8, ha="center", va="bottom")
    for region, (x, y) in pos.items():
        role = "tab:green" if region == plan.source else "tab:red" if region in plan.destinations else "tab:gray"
        ax.scatter([x], [y], s=300, color=role, zorder=3)
        ax.text(x, y - 0.18, f"{region}\nx{plan.vms.get(region, 0)} VMs", fontsize=8, ha="center", va="top")
    ax.set_title(f"{plan.throughput_gbps:.2f} {plan.unit}, ${plan.cost_usd_per_gb:.4f}/GB ({len(plan.relays)} relays)")
    ax.axis("off")
    ax.margins(0.25)
    if frontier:
        ax2 = axes[0][1]
        ax2.plot([p.gbps for p in frontier], [p.cost_usd_per_gb for p in frontier], "o-", color="tab:blue")
        ax2.scatter([plan.throughput_gbps], [plan.cost_usd_per_gb], s=120, color="tab:red", zorder=3,
                    label="this plan")  # fmt: skip
        ax2.set_xlabel(f"throughput ({plan.unit})")
        ax2.set_ylabel("$ per GB (egress + VM time)")
        ax2.set_title(f"{plan.source} -> {plan.destinations[0]}")
        ax2.grid(alpha=0.3)
        ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
