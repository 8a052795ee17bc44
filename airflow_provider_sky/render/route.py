"""The route of a transfer plan: regions, relays, gateways per region, edge rates, multicast trees.

Regions with a known place (``render.geo``) are drawn where they are on a flat world map, fitted
to the plan's own regions; a plan with any region of unknown place (a testbed, the embedded local
cloud) is drawn by hops from the source. Nothing here imports the solver stack (cvxpy): the API
server draws pictures without paying for it. Edge width follows
the planned rate; measured rates, when given, are printed next to the planned ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from airflow_provider_sky.planner.plan import TransferPlan
from airflow_provider_sky.render import geo
from airflow_provider_sky.render.svg import document, el, fmt, group, num, title

WIDTH, HEIGHT, MARGIN = 920.0, 480.0, 90.0
_GAP_X, _GAP_Y = 190.0, 90.0  # pixels between two region markers, so their labels do not overlap
_ROLE_COLOR = {"source": "#2e7d32", "destination": "#c62828", "relay": "#616161"}
_TREE_COLORS = ("#6a1b9a", "#ef6c00", "#00838f", "#ad1457", "#558b2f", "#4527a0")
_CLOUD_NUDGE = {"aws": (-14.0, -10.0), "gcp": (14.0, -10.0), "azure": (0.0, 14.0)}


def role(plan: TransferPlan, region: str) -> str:
    if region == plan.source:
        return "source"
    return "destination" if region in plan.destinations else "relay"


def _regions(plan: TransferPlan) -> list[str]:
    seen = dict.fromkeys([plan.source, *plan.destinations, *plan.vms])
    for edge in plan.edges:
        seen.update(dict.fromkeys((edge.src, edge.dst)))
    return list(seen)


def _spread(points: dict[str, list[float]]) -> None:
    """Push markers apart until no two labels' boxes overlap (a few relaxation rounds).

    A region's label is wide and short, so two markers need ``_GAP_X`` apart sideways or
    ``_GAP_Y`` apart vertically; each overlapping pair moves apart along the cheaper axis.
    """
    names = sorted(points)
    for _ in range(80):
        moved = False
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                (ax, ay), (bx, by) = points[a], points[b]
                need_x, need_y = _GAP_X - abs(bx - ax), _GAP_Y - abs(by - ay)
                if need_x <= 0 or need_y <= 0:
                    continue
                if need_y * 2.5 < need_x:
                    step = need_y / 2 * (1 if by >= ay else -1)
                    points[a][1], points[b][1] = ay - step, by + step
                else:
                    step = need_x / 2 * (1 if bx >= ax else -1)
                    points[a][0], points[b][0] = ax - step, bx + step
                moved = True
        if not moved:
            return


def hops_layout(plan: TransferPlan) -> dict[str, tuple[float, float]]:
    """Column = longest hop count from the source, rows centred within a column."""
    column = {plan.source: 0}
    changed = True
    while changed:  # relax along edges; a plan's edges form no cycle through the source
        changed = False
        for edge in plan.edges:
            if edge.src in column and column.get(edge.dst, -1) < column[edge.src] + 1 <= len(plan.edges):
                column[edge.dst] = column[edge.src] + 1
                changed = True
    for region in _regions(plan):
        column.setdefault(region, 1 if region in plan.destinations else max(column.values()) + 1)
    stacks: dict[int, list[str]] = {}
    for region in sorted(column):
        stacks.setdefault(column[region], []).append(region)
    return {r: (float(c), i - (len(rs) - 1) / 2) for c, rs in stacks.items() for i, r in enumerate(rs)}


def _fit(raw: dict[str, tuple[float, float]], flip_y: bool) -> dict[str, tuple[float, float]]:
    """Scale raw (x, y) into the drawing area, keeping the aspect ratio of the map."""
    xs = [p[0] for p in raw.values()]
    ys = [p[1] for p in raw.values()]
    span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
    scale = min((WIDTH - 2 * MARGIN) / (span_x or 1.0), (HEIGHT - 2 * MARGIN) / (span_y or 1.0))
    mid_x, mid_y = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    sign = -1.0 if flip_y else 1.0
    return {r: (WIDTH / 2 + (x - mid_x) * scale, HEIGHT / 2 + sign * (y - mid_y) * scale) for r, (x, y) in raw.items()}


def layout(plan: TransferPlan) -> tuple[str, dict[str, tuple[float, float]]]:
    """("map" or "hops", pixel position per region)."""
    regions = _regions(plan)
    places = {r: geo.place(r) for r in regions}
    if all(p is not None for p in places.values()):
        fitted = _fit({r: p for r, p in places.items() if p is not None}, flip_y=True)
        points = {}
        for r, (x, y) in fitted.items():  # same-city regions of two clouds: side by side
            dx, dy = _CLOUD_NUDGE.get(r.split(":")[0], (0.0, 0.0))
            points[r] = [x + dx, y + dy]
        kind = "map"
    else:
        hops = hops_layout(plan)
        points = {r: [x, y] for r, (x, y) in _fit(hops, flip_y=False).items()}
        kind = "hops"
    _spread(points)
    inside = {r: (min(max(x, 40.0), WIDTH - 40.0), min(max(y, 40.0), HEIGHT - 60.0)) for r, (x, y) in points.items()}
    return kind, inside


def _curve(a: tuple[float, float], b: tuple[float, float], bend: float) -> tuple[str, tuple[float, float]]:
    """A quadratic curve from a to b bowed sideways by ``bend`` pixels; returns (path, label point)."""
    (x0, y0), (x1, y1) = a, b
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / length, dx / length
    cx, cy = (x0 + x1) / 2 + nx * bend, (y0 + y1) / 2 + ny * bend
    shrink = 22.0 / length  # stop short of the marker so the arrow head shows
    ex, ey = x1 - (x1 - cx) * shrink * 1.2, y1 - (y1 - cy) * shrink * 1.2
    sx, sy = x0 + (cx - x0) * shrink, y0 + (cy - y0) * shrink
    label = ((x0 + 2 * cx + x1) / 4, (y0 + 2 * cy + y1) / 4)
    return f"M{num(sx)},{num(sy)} Q{num(cx)},{num(cy)} {num(ex)},{num(ey)}", label


def _passes_a_region(a: str, b: str, pos: dict[str, tuple[float, float]]) -> bool:
    """Whether the straight a -> b line runs through another region's marker (a direct edge
    alongside its relayed path): such an edge is bowed out so both stay visible."""
    (x0, y0), (x1, y1) = pos[a], pos[b]
    dx, dy = x1 - x0, y1 - y0
    length2 = dx * dx + dy * dy or 1.0
    for region, (x, y) in pos.items():
        if region in (a, b):
            continue
        t = ((x - x0) * dx + (y - y0) * dy) / length2
        if 0.0 < t < 1.0 and math.hypot(x0 + t * dx - x, y0 + t * dy - y) < 30.0:
            return True
    return False


def _edge_label(plan: TransferPlan, edge: Any, measured: Mapping[str, Any] | None) -> str:
    text = f"{fmt(edge.gbps)} {plan.unit}"
    if measured is not None and "mbit_per_s" in measured:
        text += f" · measured {fmt(float(measured['mbit_per_s']) / 1000)}"
    return text


def _edges(plan: TransferPlan, pos: dict[str, tuple[float, float]], measured: Mapping[str, Any]) -> str:
    top = max((e.gbps for e in plan.edges), default=1.0) or 1.0
    pairs = {(e.src, e.dst) for e in plan.edges}
    out = []
    for e in plan.edges:
        bend = 28.0 if (e.dst, e.src) in pairs else 14.0
        if _passes_a_region(e.src, e.dst, pos):
            bend = 170.0
        path, (lx, ly) = _curve(pos[e.src], pos[e.dst], bend)
        seen = measured.get(f"{e.src}->{e.dst}")
        label = _edge_label(plan, e, seen)
        out.append(group(
            {"class_": "edge", "data_src": e.src, "data_dst": e.dst, "data_gbps": fmt(e.gbps),
             "data_connections": e.connections},
            [title(f"{e.src} -> {e.dst}: {label}, {e.connections} connections, "
                   f"${e.egress_usd_per_gb:.4f}/GB egress"),
             el("path", {"d": path, "fill": "none", "stroke": "#1565c0", "stroke_opacity": 0.75,
                         "stroke_width": 1.5 + 6.0 * e.gbps / top, "marker_end": "url(#sky-arrow)"}),
             el("text", {"class_": "edge-label", "x": lx, "y": ly - 4, "text_anchor": "middle", "font_size": 11,
                         "paint_order": "stroke", "stroke": "#fff", "stroke_width": 3}, text=label)],
        ))  # fmt: skip
    return group({"class_": "edges"}, out)


def _trees(plan: TransferPlan, pos: dict[str, tuple[float, float]]) -> str:
    """Each multicast distribution tree as its own coloured, dashed overlay on the edges it uses."""
    out = []
    for i, tree in enumerate(plan.trees):
        color = _TREE_COLORS[i % len(_TREE_COLORS)]
        paths = []
        for src, dst in tree.edges:
            if src not in pos or dst not in pos:
                continue
            path, _ = _curve(pos[src], pos[dst], 14.0 + 9.0 * (i + 1))
            paths.append(el("path", {"class_": "tree-edge", "data_src": src, "data_dst": dst, "d": path, "fill": "none",
                                     "stroke": color, "stroke_width": 2.5, "stroke_dasharray": "7 4"}))  # fmt: skip
        out.append(group({"class_": "tree", "data_tree": i + 1, "data_gbps": fmt(tree.gbps)},
                         [title(f"tree {i + 1}: {fmt(tree.gbps)} {plan.unit}"), *paths]))  # fmt: skip
    return group({"class_": "trees"}, out)


def _region(plan: TransferPlan, region: str, at: tuple[float, float], running: int | None) -> str:
    x, y = at
    kind = role(plan, region)
    planned = plan.vms.get(region, 0)
    shown = min(planned, 8)
    boxes = [
        el("rect", {"class_": "gateway", "x": x - shown * 5 + i * 10 + 1, "y": y + 30, "width": 8, "height": 8,
                    "fill": "#ffb300", "stroke": "#6d4c00", "stroke_width": 0.5})
        for i in range(shown)
    ]  # fmt: skip
    count = f"{planned} gateway{'s' if planned != 1 else ''}"
    if running is not None and running != planned:
        count += f" ({running} ran)"
    if planned > shown:
        count += f", {shown} drawn"
    return group(
        {"class_": "region", "data_region": region, "data_role": kind, "data_gateways": planned},
        [title(f"{region}: {kind}, {count}"),
         el("circle", {"cx": x, "cy": y, "r": 16, "fill": _ROLE_COLOR[kind], "stroke": "#fff", "stroke_width": 2}),
         el("text", {"class_": "region-label", "x": x, "y": y - 22, "text_anchor": "middle", "font_weight": "bold",
                     "paint_order": "stroke", "stroke": "#fff", "stroke_width": 3}, text=region),
         el("text", {"class_": "gateway-count", "x": x, "y": y + 52, "text_anchor": "middle", "font_size": 11},
            text=count),
         *boxes],
    )  # fmt: skip


def _map_frame(kind: str) -> str:
    """Faint map frame for the map layout (the hops layout has none: its axes mean nothing)."""
    if kind != "map":
        return ""
    return el("rect", {"x": 8, "y": 8, "width": WIDTH - 16, "height": HEIGHT - 16, "rx": 10, "fill": "#eef5fb",
                       "stroke": "#c5d9ea"})  # fmt: skip


def _legend(trees: int) -> str:
    items = [("source", _ROLE_COLOR["source"]), ("relay", _ROLE_COLOR["relay"]),
             ("destination", _ROLE_COLOR["destination"])]  # fmt: skip
    out = []
    for i, (name, color) in enumerate(items):
        out.append(el("circle", {"cx": 24 + i * 110, "cy": HEIGHT - 18, "r": 6, "fill": color}))
        out.append(el("text", {"x": 34 + i * 110, "y": HEIGHT - 14}, text=name))
    out.append(el("rect", {"x": 354, "y": HEIGHT - 23, "width": 8, "height": 8, "fill": "#ffb300"}))
    out.append(el("text", {"x": 368, "y": HEIGHT - 14}, text="gateway VM"))
    for i in range(min(trees, 3)):  # multicast: which dashed colour is which tree
        x = 480 + i * 110
        out.append(el("line", {"x1": x, "x2": x + 22, "y1": HEIGHT - 18, "y2": HEIGHT - 18, "stroke_width": 2.5,
                               "stroke": _TREE_COLORS[i], "stroke_dasharray": "7 4"}))  # fmt: skip
        out.append(el("text", {"x": x + 28, "y": HEIGHT - 14}, text=f"tree {i + 1}"))
    return group({"class_": "legend"}, out)


def route_svg(
    plan: TransferPlan,
    measured_edges: Mapping[str, Mapping[str, Any]] | None = None,
    ran: Mapping[str, int] | None = None,
) -> str:
    """The plan's route as one ``<svg data-sky-picture="route">``.

    ``measured_edges`` is the overlay report's ``edges`` ("a->b" -> bytes, connections,
    mbit_per_s); ``ran`` the gateways that ran per region, when the overlay has run.
    """
    kind, pos = layout(plan)
    arrow = el("defs", {}, el("marker", {"id": "sky-arrow", "viewBox": "0 0 10 10", "refX": 8, "refY": 5,
                                         "markerWidth": 11, "markerHeight": 11,
                                         "markerUnits": "userSpaceOnUse", "orient": "auto-start-reverse"},
                              el("path", {"d": "M0,0 L10,5 L0,10 z", "fill": "#1565c0"})))  # fmt: skip
    label = (f"{plan.kind} route {plan.source} -> {', '.join(plan.destinations)}: {fmt(plan.throughput_gbps)} "
             f"{plan.unit}, ${plan.cost_usd_per_gb:.4f}/GB, {len(plan.relays)} relays")  # fmt: skip
    regions = [_region(plan, r, pos[r], None if ran is None else ran.get(r, 0)) for r in pos]
    body = [arrow, _map_frame(kind), _edges(plan, pos, measured_edges or {}), _trees(plan, pos),
            group({"class_": "regions", "data_layout": kind}, regions), _legend(len(plan.trees))]  # fmt: skip
    return document("route", WIDTH, HEIGHT, body, label)
