"""A tiny SVG writer: elements as escaped strings, numbers short, and axis ticks people can read.

Why not a library: the pictures are a few dozen elements, and escaping every attribute and text in
one place is what keeps region names or error messages from breaking (or injecting into) the page.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from html import escape

Attrs = Mapping[str, object]


def num(value: float) -> str:
    """A coordinate with at most two decimals and no trailing zeros (short, stable output)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _attrs(attrs: Attrs) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        shown = num(value) if isinstance(value, float) else str(value)
        parts.append(f' {key.rstrip("_").replace("_", "-")}="{escape(shown, quote=True)}"')
    return "".join(parts)


def el(tag: str, attrs: Attrs | None = None, *children: str, text: str | None = None) -> str:
    """One element; ``children`` are already-built elements, ``text`` is escaped here.

    Attribute names use ``_`` for ``-`` (``stroke_width`` -> ``stroke-width``, ``class_`` -> ``class``).
    """
    inner = "".join(children) + (escape(text, quote=False) if text is not None else "")
    head = f"<{tag}{_attrs(attrs or {})}"
    return f"{head}>{inner}</{tag}>" if inner else f"{head}/>"


def group(attrs: Attrs, children: Iterable[str]) -> str:
    return el("g", attrs, *children)


def title(text: str) -> str:
    """A hover tooltip for the enclosing element."""
    return el("title", text=text)


def document(picture: str, width: float, height: float, children: Iterable[str], label: str) -> str:
    """The outer ``<svg>``, tagged ``data-sky-picture`` so pages and tests can find each picture."""
    return el(
        "svg",
        {"xmlns": "http://www.w3.org/2000/svg", "viewBox": f"0 0 {num(width)} {num(height)}", "width": num(width),
         "height": num(height), "role": "img", "aria_label": label, "data_sky_picture": picture,
         "class_": f"sky-picture sky-{picture}", "font_family": "sans-serif", "font_size": 12},
        el("title", text=label), *children,
    )  # fmt: skip


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2 or 5 times a power of ten) covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    out = []
    value = first
    while value <= high + step * 1e-9:
        out.append(round(value, 12))
        value += step
    if out[-1] < high:
        out.append(round(value, 12))
    return out


def fmt(value: float) -> str:
    """A value for an axis label or edge label: 3 significant digits, no exponent for usual sizes."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"
