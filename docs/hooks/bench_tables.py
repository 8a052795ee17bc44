"""mkdocs hook: benchmark tables and plots rendered at build time from ``bench/results/*.json``.

``make bench`` writes the JSON; the docs never copy its numbers by hand. A page holds
``<!-- bench: NAME -->`` where a table goes; the plots are PNGs added to the built site only.
A results file that lost a key fails the build (strict docs are how a changed format is noticed).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
MARKER = "<!-- bench: {name} -->"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((RESULTS / f"{name}.json").read_text())
    return data


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], right_from: int = 1) -> str:
    """A Markdown table; columns from ``right_from`` on are numbers, aligned right."""
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join("" if cell is None else str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _pct(value: float) -> str:
    return f"{value * 100:+.1f}%"


def planner_summary() -> str:
    s = _load("planner_vs_skyplane")["summary"]
    rows = [
        ("cases (pairs x goals in Gibit/s)", f"{s['cases']} ({s['pairs']} x {s['goals_gibps']})"),
        ("same feasibility verdict", f"{s['feasibility_agrees']}/{s['cases']}"),
        (
            "cost above Skyplane's, worst case",
            f"{s['max_cost_delta_pct']:.3f}% ({s['cases_over_0_1pct']} cases over 0.1%)",
        ),
        (
            "solve time ours / Skyplane, warm: median / worst",
            f"{s['median_warm_ratio']:.3f}x / {s['max_warm_ratio']:.3f}x",
        ),
        ("solve time ratio, cold: median", f"{s['median_cold_ratio']:.3f}x"),
        (
            "median solve time: Skyplane / ours warm",
            f"{s['median_skyplane_s'] * 1000:.0f} ms / {s['median_ours_warm_s'] * 1000:.1f} ms",
        ),
    ]
    return _table(("measure", "result"), rows, right_from=2)


def planner_pairs() -> str:
    """One row per region pair: Skyplane's $/GB at each goal, our worst cost delta and solve times."""
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for case in _load("planner_vs_skyplane")["cases"]:
        pairs.setdefault((case["src"], case["dst"]), []).append(case)
    rows = []
    for (src, dst), cases in pairs.items():
        costs = " / ".join(
            "-" if c["skyplane_usd_per_gb"] is None else f"{c['skyplane_usd_per_gb']:.4f}" for c in cases
        )
        deltas = [c["cost_delta_pct"] for c in cases if c.get("cost_delta_pct") is not None]
        ratios = [c["warm_ratio"] for c in cases if c.get("warm_ratio") is not None]
        sky = [c["skyplane_solve_s"] for c in cases]
        ours = [c["ours_warm_s"] for c in cases]
        rows.append(
            (
                f"{src} -> {dst}",
                costs,
                f"{max(deltas):+.3f}%" if deltas else "",
                f"{sum(sky) / len(sky):.3f}",
                f"{sum(ours) / len(ours):.4f}",
                f"{max(ratios):.3f}" if ratios else "",
            )
        )
    goals = " / ".join(f"{g:g}" for g in _load("planner_vs_skyplane")["summary"]["goals_gibps"])
    header = (
        "pair",
        f"Skyplane $/GB at {goals}",
        "ours: worst delta",
        "Skyplane s (mean)",
        "ours warm s (mean)",
        "worst ratio",
    )
    return _table(header, rows, right_from=2)


def planner_multicast() -> str:
    rows = [
        (
            m["destinations"],
            m["method"],
            f"{m['solve_s']:.3f}",
            f"{m['cost_usd_per_gb']:.4f}",
            f"{m['gap_pct']:.2f}%",
            f"{m['heuristic_solve_s']:.3f}",
            f"{m['heuristic_usd_per_gb']:.4f}",
            f"{m['independent_copies_usd_per_gb']:.4f}",
        )
        for m in _load("planner_vs_skyplane")["multicast"]
    ]
    header = (
        "destinations",
        "auto: method",
        "auto: solve s",
        "auto: $/GB",
        "gap to bound",
        "heuristic: s",
        "heuristic: $/GB",
        "separate copies: $/GB",
    )
    return _table(header, rows)


def copy_runs() -> str:
    rows = [
        (
            r["route"],
            r["workload"],
            r["tool"],
            f"{r['mb_per_s']:.1f}",
            f"{r['objects_per_s']:.1f}",
            f"{r['peak_rss_mib']:.1f}",
            f"{r['cpu_s']:.2f}",
        )
        for r in _load("copy_vs_rclone")["runs"]
    ]
    return _table(("route", "workload", "tool", "MB/s", "objects/s", "peak RSS MiB", "own CPU s"), rows, right_from=3)


def copy_sync() -> str:
    sync = _load("copy_vs_rclone")["sync_unchanged"]
    rows = []
    for store, result in sync["stores"].items():
        median = result["median_s"]
        ratio = result["ratio_ours_over_peer_median"]
        rows.append(
            (
                store,
                *(f"{median[tool]:.2f}" for tool in ("airflow-sky", "rclone sync", "rclone sync --checksum")),
                ", ".join(f"{value:.2f}x" for value in ratio.values()),
            )
        )
    header = (
        "destination",
        "airflow-sky s",
        "rclone sync s",
        "rclone sync --checksum s",
        "ours / rclone (default, --checksum)",
    )
    return _table(header, rows)


def cli_startup() -> str:
    data = _load("cli_startup")
    rows = [
        (
            name,
            data["peers"][name],
            f"{s['ours_median_s']:.3f}",
            f"{s['peer_median_s']:.3f}",
            f"{s['ratio_median']:.2f}x",
        )
        for name, s in data["summary"].items()
    ]
    return _table(("command", "peer", "ours s", "peer s", "ours / peer"), rows, right_from=2)


def launch_optimizer() -> str:
    rows = [
        (
            r["task"],
            f"{r['cold_ms']:.0f}",
            f"{r['warm_ms_median']:.1f}",
            f"{r['warm_ms_p95']:.1f}",
            r["candidates"],
            r["best"],
        )
        for r in _load("launch_optimizer")["results"]
    ]
    return _table(("task", "cold ms", "warm ms (median)", "warm ms (p95)", "candidates", "best"), rows)


def launch_overhead() -> str:
    data = _load("launch_overhead")
    rows = [(phase, f"{v['median_s']:.2f}", f"{v['max_s']:.2f}") for phase, v in data["phases"].items()]
    return f"Median and worst of {data['trials']} trials on the `{data['backend']}` cloud:\n\n" + _table(
        ("phase", "median s", "max s"), rows
    )


def overlay_triangle() -> str:
    summary = _load("overlay")["triangle_summary"]
    rows = [
        (
            tool,
            f"{t['mb_per_s']:.2f}",
            f"{t.get('wall_mb_per_s', t['mb_per_s']):.2f}",
            f"{t['seconds']:.1f}",
            f"{t['over_max_flow']:.2f}" if "over_max_flow" in t else "",
            f"{t['over_rclone']:.2f}x" if "over_rclone" in t else "",
        )
        for tool, t in summary["tools"].items()
    ]
    header = ("route", "MB/s, transfer", "MB/s, wall", "s, transfer", "/ max-flow", "/ rclone direct")
    return f"Max-flow of the profile: {summary['max_flow_mb_per_s']} MB/s.\n\n" + _table(header, rows)


def overlay_truth() -> str:
    rows = [
        (
            r["run"] if r["section"] in r["run"] else f"{r['section']}: {r['run']}",
            f"{r['predicted_gbps']:.3f} / {r['measured_gbps']:.3f}",
            _pct(r["throughput_error"]),
            f"{r['predicted_usd']:.6f} / {r['measured_usd']:.6f}",
            _pct(r["cost_error"]),
        )
        for r in _load("overlay")["planning_truth"]
    ]
    return _table(("run", "Gbit/s predicted / measured", "error", "$ predicted / measured", "error"), rows)


def overlay_targets() -> str:
    rows = [
        (t["target"], t["value"], t["goal"], "met" if t["met"] else "**missed**") for t in _load("overlay")["targets"]
    ]
    return _table(("target", "value", "goal", "verdict"), rows)


def overlay_multicast() -> str:
    multicast = _load("overlay")["multicast"]
    rows = []
    for r in multicast["runs"]:
        out = r.get("source_link_tx_bytes")
        rows.append(
            (
                r["tool"],
                r["round"],
                f"{r['wall_seconds']:.1f}",
                f"{r['seconds']:.1f}",
                f"{r['volume_bytes'] / 1e6 / r['seconds']:.2f}",
                "" if out is None else f"{out / 1e6:.1f} MB",
                "" if out is None else f"{out / r['volume_bytes']:.2f}",
            )
        )
    header = (
        "method",
        "round",
        "wall s",
        "transfer s",
        "MB/s per destination",
        "bytes out of the source (kernel)",
        "x volume",
    )
    return _table(header, rows)


def overlay_loopback() -> str:
    rows = []
    for run, r in _load("overlay")["loopback_summary"].items():
        ns = r.get("src_dst_cpu_ns_per_byte", r.get("cpu_ns_per_byte"))
        rss = r["peak_rss_mib"]
        rows.append(
            (
                run,
                f"{r['mb_per_s']:.0f}",
                f"{r['relay_data_mb_per_cpu_s']:.0f} / {r['relay_wire_mb_per_cpu_s']:.0f}"
                if "relay_data_mb_per_cpu_s" in r
                else "",
                f"{ns:.2f}",
                f"{r['src_dst_over_rclone']:.2f}x" if "src_dst_over_rclone" in r else "",
                " / ".join(f"{v:.0f}" for v in rss.values()) if isinstance(rss, dict) else f"{rss:.0f}",
            )
        )
    header = (
        "run",
        "MB/s",
        "relay MB per CPU-s (data / wire)",
        "src+dst CPU ns/B",
        "/ rclone",
        "peak RSS MiB (src / relay / dst)",
    )
    return _table(header, rows)


TABLES: dict[str, Callable[[], str]] = {
    "overlay-multicast": overlay_multicast,
    "overlay-loopback": overlay_loopback,
    "planner-summary": planner_summary,
    "planner-multicast": planner_multicast,
    "planner-pairs": planner_pairs,
    "copy-runs": copy_runs,
    "copy-sync": copy_sync,
    "cli-startup": cli_startup,
    "launch-optimizer": launch_optimizer,
    "launch-overhead": launch_overhead,
    "overlay-triangle": overlay_triangle,
    "overlay-truth": overlay_truth,
    "overlay-targets": overlay_targets,
}


# -- plots --------------------------------------------------------------------------------------
def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def plot_planner_solve_times() -> bytes:
    """Each case's solve time, Skyplane's ILP against ours (warm), log-log, with the y = x line."""
    import matplotlib.pyplot as plt

    cases = [c for c in _load("planner_vs_skyplane")["cases"] if c["ours_warm_s"] and c["skyplane_solve_s"]]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(
        [c["skyplane_solve_s"] for c in cases],
        [c["ours_warm_s"] for c in cases],
        s=14,
        color="tab:blue",
        label=f"{len(cases)} cases",
    )
    ax.plot([0.005, 5], [0.005, 5], "--", color="tab:gray", label="equal time")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="Skyplane 0.3.2 solve s",
        ylabel="ours, warm, s",
        title="Planner solve time per case",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    return _png(fig)


def plot_copy_ratios() -> bytes:
    """Throughput ours / rclone per route and workload, against rclone's defaults and our concurrency."""
    import matplotlib.pyplot as plt

    ratios = _load("copy_vs_rclone")["throughput_ratio_ours_over_rclone"]
    labels, defaults, matched = [], [], []
    for route, workloads in ratios.items():
        for workload, peers in workloads.items():
            labels.append(f"{route}\n{workload}")
            defaults.append(peers["vs rclone (defaults)"])
            matched.append(peers["vs rclone (--transfers 16)"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], defaults, 0.4, label="vs rclone (defaults)", color="tab:blue")
    ax.bar([x + 0.2 for x in xs], matched, 0.4, label="vs rclone (--transfers 16)", color="tab:orange")
    ax.axhline(1.0, color="tab:gray", linestyle="--")
    ax.set_xticks(list(xs), labels)
    ax.set(ylabel="throughput, ours / rclone", title="Copy engine vs rclone (same run)")
    ax.legend()
    return _png(fig)


def plot_overlay_rates() -> bytes:
    """Transfer-phase MB/s of each route on the triangle testbed, against the profile's max-flow."""
    import matplotlib.pyplot as plt

    summary = _load("overlay")["triangle_summary"]
    tools = list(summary["tools"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.barh(tools, [summary["tools"][t]["mb_per_s"] for t in tools], color="tab:blue")
    ax.axvline(summary["max_flow_mb_per_s"], color="tab:red", linestyle="--", label="max-flow")
    ax.set(xlabel="MB/s (transfer phase)", title="Triangle testbed: overlay vs the direct link")
    ax.invert_yaxis()
    ax.legend()
    return _png(fig)


PLOTS: dict[str, Callable[[], bytes]] = {
    "img/bench-planner-solve.png": plot_planner_solve_times,
    "img/bench-copy-vs-rclone.png": plot_copy_ratios,
    "img/bench-overlay-triangle.png": plot_overlay_rates,
}


def on_files(files: Files, config: Any) -> Files:
    import matplotlib

    matplotlib.use("Agg")
    for uri, draw in PLOTS.items():
        files.append(File.generated(config, uri, content=draw()))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    for name, render in TABLES.items():
        marker = MARKER.format(name=name)
        if marker in markdown:
            markdown = markdown.replace(marker, render())
    return markdown
