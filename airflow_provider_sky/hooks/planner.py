"""SkyPlannerHook: the transfer planner as an Airflow hook.

Planning needs no connection and no cloud call: the hook only carries the grid choice (packaged
name, a measured grid file, or a testbed profile) and limits, and delegates to the Airflow-free
:class:`~airflow_provider_sky.planner.api.Planner`. Plans come back as ``TransferPlan`` objects;
``plan.to_dict()`` is what operators push to XCom.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_sky.planner.api import Planner
from airflow_provider_sky.planner.pareto import ParetoPoint
from airflow_provider_sky.planner.plan import TransferPlan


class SkyPlannerHook(BaseHook):
    """Plans overlay transfers (unicast, multicast, Pareto sweeps) over a region grid."""

    hook_name = "Sky planner"

    def __init__(
        self,
        grid: str | Path | dict[str, Any] | None = None,
        max_instances_per_region: int | dict[str, int] | None = None,
        vm_usd_per_hour: float | dict[str, float] | None = None,
    ) -> None:
        super().__init__()
        self.grid = grid
        self.max_instances_per_region = max_instances_per_region
        self.vm_usd_per_hour = vm_usd_per_hour
        self._planner: Planner | None = None

    def get_conn(self) -> Planner:
        """The planner for this hook's grid and limits (built once; grids load in milliseconds)."""
        if self._planner is None:
            self._planner = Planner(self.grid, self.max_instances_per_region, self.vm_usd_per_hour)
        return self._planner

    def plan_transfer(
        self,
        source: str,
        destination: str | Sequence[str],
        *,
        throughput_goal_gbps: float | None = None,
        budget_usd_per_gb: float | None = None,
        deny_regions: Iterable[str] | None = None,
        allow_regions: Iterable[str] | None = None,
    ) -> TransferPlan:
        """Min cost at a goal or max throughput in a $/GB budget; a list of destinations multicasts."""
        return self.get_conn().plan_transfer(
            source,
            destination,
            throughput_goal_gbps=throughput_goal_gbps,
            budget_usd_per_gb=budget_usd_per_gb,
            deny_regions=deny_regions,
            allow_regions=allow_regions,
        )

    def plan_multicast(
        self,
        source: str,
        destinations: Sequence[str],
        *,
        throughput_goal_gbps: float,
        deny_regions: Iterable[str] | None = None,
        allow_regions: Iterable[str] | None = None,
    ) -> TransferPlan:
        """Distribution trees from one source to every destination at the goal, at least cost."""
        return self.get_conn().plan_multicast(
            source,
            destinations,
            throughput_goal_gbps=throughput_goal_gbps,
            deny_regions=deny_regions,
            allow_regions=allow_regions,
        )

    def pareto(
        self,
        source: str,
        destination: str,
        *,
        points: int = 12,
        deny_regions: Iterable[str] | None = None,
        allow_regions: Iterable[str] | None = None,
    ) -> list[ParetoPoint]:
        """The cost/throughput frontier for a pair."""
        return self.get_conn().pareto(
            source, destination, points=points, deny_regions=deny_regions, allow_regions=allow_regions
        )
