"""Transfer planner: pure functions over measured region grids (no cloud calls, no Airflow).

Start with :class:`~airflow_provider_sky.planner.api.Planner`; the grid loader is
:func:`~airflow_provider_sky.planner.data.load_grid` and plans are
:class:`~airflow_provider_sky.planner.plan.TransferPlan`. See docs/planner.md.
"""

from airflow_provider_sky.planner.api import Planner
from airflow_provider_sky.planner.data import RegionGrid, load_grid
from airflow_provider_sky.planner.plan import TransferPlan

__all__ = ["Planner", "RegionGrid", "TransferPlan", "load_grid"]
