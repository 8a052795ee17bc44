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

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.params import parse_optional_number
from airflow_provider_sky.planner.api import Planner
from airflow_provider_sky.planner.pareto import ParetoPoint
from airflow_provider_sky.planner.plan import TransferPlan


class SkyPlannerHook(BaseHook):
    """Plans overlay transfers (unicast, multicast, Pareto sweeps) over a region grid.

    An optional `sky` connection (`sky_conn_id`) holds team-wide defaults set in the UI: a grid
    file, VMs per region and region rules (`deny_regions`/`allow_regions`, comma-separated
    globs). Arguments given here or per call win over the connection's values; without a
    connection id the hook needs no connection at all.
    """

    conn_name_attr = "sky_conn_id"
    default_conn_name = "sky_default"
    conn_type = "sky"
    hook_name = "Sky Computing (planner defaults)"

    def __init__(
        self,
        grid: str | Path | dict[str, Any] | None = None,
        max_instances_per_region: int | dict[str, int] | None = None,
        vm_usd_per_hour: float | dict[str, float] | None = None,
        sky_conn_id: str | None = None,
    ) -> None:
        super().__init__()
        self.grid = grid
        self.max_instances_per_region = max_instances_per_region
        self.vm_usd_per_hour = vm_usd_per_hour
        self.sky_conn_id = sky_conn_id
        self._defaults: dict[str, Any] | None = None
        self._planner: Planner | None = None

    def connection_defaults(self) -> dict[str, Any]:
        """The `sky` connection's extras as planner defaults ({} without a connection id)."""
        if self._defaults is None:
            self._defaults = {}
            if self.sky_conn_id:
                extra = self.get_connection(self.sky_conn_id).extra_dejson
                self._defaults = {key: value for key, value in extra.items() if value not in (None, "")}
        return self._defaults

    def rules(self, given: Iterable[str] | None, key: str) -> list[str] | None:
        """Region globs as given, else the connection's (a list: planning and re-planning both read it)."""
        if given is not None:
            return list(given)
        value = self.connection_defaults().get(key)
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return None if value is None else [str(v) for v in value]

    def get_conn(self) -> Planner:
        """The planner for this hook's grid and limits (built once; grids load in milliseconds)."""
        if self._planner is None:
            defaults = self.connection_defaults()
            given = self.max_instances_per_region or defaults.get("max_instances_per_region")
            max_instances: int | dict[str, int] | None
            if isinstance(given, dict):
                max_instances = given
            else:  # the UI form gives text: parsed, never cast
                limit = parse_optional_number(
                    f"the {self.sky_conn_id} connection's max_instances_per_region", given, minimum=1,
                    maximum=1000, integer=True,
                )  # fmt: skip
                max_instances = None if limit is None else int(limit)
            self._planner = Planner(
                self.grid or defaults.get("grid_path"),
                max_instances,
                self.vm_usd_per_hour,
            )
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
            deny_regions=self.rules(deny_regions, "deny_regions"),
            allow_regions=self.rules(allow_regions, "allow_regions"),
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
            deny_regions=self.rules(deny_regions, "deny_regions"),
            allow_regions=self.rules(allow_regions, "allow_regions"),
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
            source,
            destination,
            points=points,
            deny_regions=self.rules(deny_regions, "deny_regions"),
            allow_regions=self.rules(allow_regions, "allow_regions"),
        )

    def viewable(
        self,
        plan: TransferPlan,
        *,
        points: int = 8,
        deny_regions: Iterable[str] | None = None,
        allow_regions: Iterable[str] | None = None,
        kind: str = "plan",
    ) -> dict[str, Any]:
        """The plan and, for one destination, its pair's frontier, in the shape the plan view reads.

        Return it from a planning task (``return hook.viewable(plan)``) and the task instance's
        "Sky plan" tab draws the route and the Pareto curve (docs/ui.md). The frontier is a picture,
        not a result: a pair the sweep cannot solve gets none rather than failing the task.
        """
        from airflow_provider_sky.ui.view_model import transfer_extra

        frontier: list[ParetoPoint] = []
        if len(plan.destinations) == 1 and points > 0:
            try:
                frontier = self.pareto(plan.source, plan.destinations[0], points=points,
                                       deny_regions=deny_regions, allow_regions=allow_regions)  # fmt: skip
            except (SkyUserError, ValueError, ArithmeticError) as exc:
                self.log.warning("No cost/throughput frontier for %s -> %s: %s", plan.source,
                                 plan.destinations[0], exc)  # fmt: skip
        return transfer_extra(plan, frontier, kind=kind)
