"""Testbed profiles: ``sky-grid/1`` documents whose regions are network namespaces.

A profile is the same document the planner reads for clouds, so the planner plans a testbed
exactly as it plans clouds; the testbed reads ``throughput_gbps`` as the rate to shape each
link to. This module only loads and checks documents (plain JSON, no numpy, no solver), so the
testbed can be built on a machine or in a process that never plans.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from airflow_provider_sky.errors import SkyUserError

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
FORMAT = "sky-grid/1"
MAX_REGIONS = 36  # one base-36 character per region in interface names (see naming.py)


def profile_names() -> list[str]:
    """Names of the packaged profiles (``triangle``, ``multicast``, ...)."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.json"))


def load_profile(name_or_path: str | Path | dict[str, Any]) -> dict[str, Any]:
    """The profile document for a packaged name, a JSON file path, or a document (copied).

    Always returns a fresh copy, so a caller (or a testbed's ``set_rate``) may change it freely.
    """
    if isinstance(name_or_path, dict):
        doc = copy.deepcopy(name_or_path)
    else:
        path = Path(name_or_path)
        if not path.suffix and not path.exists():
            path = PROFILE_DIR / f"{name_or_path}.json"
            if not path.exists():
                raise SkyUserError(
                    f"No packaged testbed profile named '{name_or_path}'",
                    f"use one of {', '.join(profile_names())} or a path to a sky-grid/1 JSON file",
                )
        if not path.exists():
            raise SkyUserError(f"Profile file '{path}' does not exist", "pass an existing sky-grid/1 JSON file")
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise SkyUserError(f"Profile file '{path}' is not JSON ({exc})", "write a sky-grid/1 document") from exc
    check_profile(doc)
    return doc


def check_profile(doc: dict[str, Any]) -> None:
    """Refuse a document the testbed cannot build, before any namespace exists."""
    if doc.get("format", FORMAT) != FORMAT:
        raise SkyUserError(f"Unknown profile format '{doc.get('format')}'", f"write a '{FORMAT}' document")
    regions = doc.get("regions")
    if not isinstance(regions, list) or len(regions) < 2:
        raise SkyUserError("A testbed profile needs at least two regions", "list them under 'regions'")
    if len(set(regions)) != len(regions):
        raise SkyUserError("The profile lists a region twice", "give every region once in 'regions'")
    if len(regions) > MAX_REGIONS:
        raise SkyUserError(f"The profile has {len(regions)} regions", f"use at most {MAX_REGIONS}")
    n = len(regions)
    rates = doc.get("throughput_gbps")
    if not isinstance(rates, list) or len(rates) != n or any(len(row) != n for row in rates):
        raise SkyUserError(f"'throughput_gbps' is not {n}x{n}", "give one row and one column per region")
    for i, row in enumerate(rates):
        for j, value in enumerate(row):
            if not isinstance(value, int | float) or value < 0 or (i == j and value):
                raise SkyUserError(
                    f"throughput_gbps[{i}][{j}] = {value!r} is not a rate",
                    "use numbers >= 0 (Gbit/s) and 0 on the diagonal",
                )


def rate_matrix(doc: dict[str, Any]) -> list[list[float]]:
    """``throughput_gbps`` as floats (a copy)."""
    return [[float(v) for v in row] for row in doc["throughput_gbps"]]
