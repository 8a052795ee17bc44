"""Axes for the small charts: a plot area, round ticks and labels, value-to-pixel scales."""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_sky.render.svg import el, fmt, group, ticks


@dataclass(frozen=True)
class Axes:
    """A plot area inside the picture, with the data range each axis shows."""

    left: float
    top: float
    width: float
    height: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    @classmethod
    def fit(cls, xs: list[float], ys: list[float], left: float, top: float, width: float, height: float) -> Axes:
        """x from zero; y around the values (a flat $/GB curve must not hug the top of a 0-based axis)."""
        x_ticks = ticks(min(0.0, *xs), max(xs))
        low, high = min(ys), max(ys)
        pad = max((high - low) * 0.1, abs(high) * 0.02, 1e-9)
        y_ticks = ticks(max(0.0, low - pad) if low >= 0 else low - pad, high + pad)
        return cls(left, top, width, height, (x_ticks[0], x_ticks[-1]), (y_ticks[0], y_ticks[-1]))

    def x(self, value: float) -> float:
        low, high = self.x_range
        return self.left + (value - low) / ((high - low) or 1.0) * self.width

    def y(self, value: float) -> float:
        low, high = self.y_range
        return self.top + self.height - (value - low) / ((high - low) or 1.0) * self.height

    def draw(self, x_label: str, y_label: str) -> str:
        """Frame, grid lines, tick labels and axis titles."""
        parts = [el("rect", {"x": self.left, "y": self.top, "width": self.width, "height": self.height,
                             "fill": "#fafafa", "stroke": "#9e9e9e"})]  # fmt: skip
        for value in ticks(*self.x_range):
            x = self.x(value)
            parts.append(el("line", {"x1": x, "x2": x, "y1": self.top, "y2": self.top + self.height,
                                     "stroke": "#e0e0e0"}))  # fmt: skip
            parts.append(el("text", {"class_": "tick", "x": x, "y": self.top + self.height + 16,
                                     "text_anchor": "middle", "font_size": 11}, text=fmt(value)))  # fmt: skip
        for value in ticks(*self.y_range):
            y = self.y(value)
            parts.append(el("line", {"x1": self.left, "x2": self.left + self.width, "y1": y, "y2": y,
                                     "stroke": "#e0e0e0"}))  # fmt: skip
            parts.append(el("text", {"class_": "tick", "x": self.left - 6, "y": y + 4, "text_anchor": "end",
                                     "font_size": 11}, text=fmt(value)))  # fmt: skip
        parts.append(el("text", {"x": self.left + self.width / 2, "y": self.top + self.height + 36,
                                 "text_anchor": "middle"}, text=x_label))  # fmt: skip
        y_mid = self.top + self.height / 2
        parts.append(el("text", {"x": 16, "y": y_mid, "text_anchor": "middle",
                                 "transform": f"rotate(-90 16 {y_mid:.1f})"}, text=y_label))  # fmt: skip
        return group({"class_": "axes"}, parts)
