"""Strict parsers for argument values that may arrive as rendered template strings.

A templated field renders to a string, and ``bool("False")`` is true: a cast would turn a
user's "no" into "yes". Each parser here takes the value as given (native or string), accepts
only the usual spellings, checks bounds, and otherwise raises one SkyUserError naming the
argument, what was given and what is accepted.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_sky.errors import SkyUserError

_TRUE = {"true", "yes", "on", "1", "y", "t"}
_FALSE = {"false", "no", "off", "0", "n", "f"}
# Plain decimal spellings only: Python's int()/float() also take "1_000" and full-width digits.
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.IGNORECASE | re.ASCII)


def parse_bool(name: str, value: Any) -> bool:
    """True or False from a bool, 0/1, or the usual spellings; an empty render is refused, not false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise SkyUserError(f"{name}={value!r} is not a boolean", f"give {name} as True or False (or 'true'/'false')")


def parse_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    exclusive_minimum: bool = False,
) -> float | int:
    """A finite number within bounds; a string must spell one exactly ("4", "0.5")."""
    kind = "an integer" if integer else "a number"
    parsed: float | int
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, str):
            text = value.strip()
            if not (_INTEGER if integer else _DECIMAL).fullmatch(text):
                raise ValueError
            parsed = int(text) if integer else float(text)
        elif integer:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            parsed = int(value)
        elif isinstance(value, int | float):
            parsed = float(value)
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError):
        raise SkyUserError(f"{name}={value!r} is not {kind}", f"give {name} as {kind}") from None
    if not math.isfinite(parsed):
        raise SkyUserError(f"{name}={value!r} is not finite", f"give {name} as a finite {kind.split()[1]}")
    below = minimum is not None and (parsed <= minimum if exclusive_minimum else parsed < minimum)
    if below or (maximum is not None and parsed > maximum):
        low = f"> {minimum:g}" if exclusive_minimum else f">= {minimum:g}" if minimum is not None else ""
        high = f"<= {maximum:g}" if maximum is not None else ""
        rule = " and ".join(r for r in (low, high) if r)
        raise SkyUserError(f"{name}={value!r} is out of range", f"give {name} {rule}")
    return parsed


def parse_optional_number(name: str, value: Any, **bounds: Any) -> float | int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    return parse_number(name, value, **bounds)


def parse_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    text = str(value).strip().lower() if isinstance(value, str) else value
    if text not in choices:
        raise SkyUserError(f"{name}={value!r} is not one of {', '.join(choices)}", f"give {name} as one of those")
    return text


def parse_list(name: str, value: Any) -> list[str] | None:
    """A list of strings: a list, a JSON list rendered to text, or comma-separated text."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise SkyUserError(f"{name}={text!r} is not a JSON list", f'give {name} like ["aws:us-*"]') from None
        else:
            return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return [str(v) for v in value]
    raise SkyUserError(f"{name}={value!r} is not a list of strings", f'give {name} like ["aws:us-*", "gcp:asia-*"]')


def parse_mapping(name: str, value: Any, example: str = '{"key": "value"}') -> dict[str, Any] | None:
    """A mapping: a dict, its JSON text, or the Python repr a rendered ``{{ ti.xcom_pull() }}`` gives."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text)
        except ValueError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise SkyUserError(
                    f"{name} is neither JSON nor a literal mapping", f"give {name} like {example}"
                ) from None
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise SkyUserError(f"{name} is a {type(value).__name__}, not a mapping", f"give {name} like {example}")
    return dict(value)


def parse_backend_options(name: str, value: Any) -> dict[str, dict[str, Any]]:
    """Per-cloud options (``{"aws": {...}, "local": {...}}``) for launches and gateway VMs."""
    from airflow_provider_sky.launch.backends.base import CLOUDS

    example = '{"aws": {"image_id": "ami-..."}, "local": {"capacity": {"local-a1": 0}}}'
    options = parse_mapping(name, value, example)
    if options is None:
        return {}
    unknown = sorted(set(options) - set(CLOUDS))
    if unknown or not all(isinstance(v, Mapping) for v in options.values()):
        what = f"names unknown cloud(s) {', '.join(unknown)}" if unknown else "must map clouds to mappings"
        raise SkyUserError(f"{name} {what}", f"use {', '.join(CLOUDS)} as keys, e.g. {example}")
    return {cloud: dict(v) for cloud, v in options.items()}

