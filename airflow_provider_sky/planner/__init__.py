"""Transfer planner: pure functions over measured region grids (no cloud calls, no Airflow).

Start with :class:`~airflow_provider_sky.planner.api.Planner`; the grid loader is
:func:`~airflow_provider_sky.planner.data.load_grid` and plans are
:class:`~airflow_provider_sky.planner.plan.TransferPlan`. See docs/planner.md.

The names are loaded on first use: importing ``planner.plan`` (a gateway reading a plan, the
CLI parsing one) must not pay for the solver stack (cvxpy, ~3 s here).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"Planner": "api", "RegionGrid": "data", "load_grid": "data", "TransferPlan": "plan"}
__all__ = ["Planner", "RegionGrid", "TransferPlan", "load_grid"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
