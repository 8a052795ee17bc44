"""Fixtures for planner tests: hand-made grids (see planner_grids.py)."""

from __future__ import annotations

import pytest
from planner_grids import make_grid

from airflow_provider_sky.planner.data import RegionGrid


@pytest.fixture
def relay_grid() -> RegionGrid:
    """a -> b is slow (1 Gbps per VM pair) and dear; a -> r -> b is fast (10). VMs dominate the cost."""
    return make_grid(
        ["a", "b", "r"],
        {("a", "b"): (1.0, 0.05), ("a", "r"): (10.0, 0.01), ("r", "b"): (10.0, 0.01)},
        vm_usd_per_hour=360.0,  # 0.1 $/s per VM, so VM count decides
    )
