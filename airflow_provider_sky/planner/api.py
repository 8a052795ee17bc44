"""One object that carries the planning context (grid, limits, rules) for hooks and the CLI.

Operators, the hook and ``airflow-sky plan`` all plan through :class:`Planner`, so a testbed
profile or a user-measured grid behaves everywhere exactly like the packaged cloud grid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.params import parse_number
from airflow_provider_sky.planner.candidates import DEFAULT_LIMIT
from airflow_provider_sky.planner.data import RegionGrid, load_grid
from airflow_provider_sky.planner.multicast import plan_multicast
from airflow_provider_sky.planner.pareto import ParetoPoint, pareto
from airflow_provider_sky.planner.plan import TransferPlan
from airflow_provider_sky.planner.regions import RegionRules
from airflow_provider_sky.planner.unicast import plan_max_throughput, plan_min_cost


class Planner:
    """Plans over one grid; limits given here override the grid's own."""

    def __init__(
        self,
        grid: str | Path | dict[str, Any] | RegionGrid | None = None,
        max_instances_per_region: int | dict[str, int] | None = None,
        vm_usd_per_hour: float | dict[str, float] | None = None,
    ) -> None:
        base = load_grid(grid)
        max_instances_per_region = _vm_limits(max_instances_per_region)
        if max_instances_per_region is None and vm_usd_per_hour is None:
            self.grid = base
        else:
            self.grid = base.with_limits(max_instances_per_region, vm_usd_per_hour)

    def plan_transfer(
        self,
        source: str,
        destination: str | Sequence[str],
        *,
        throughput_goal_gbps: float | None = None,
        budget_usd_per_gb: float | None = None,
        deny_regions: Iterable[str] | None = None,
        allow_regions: Iterable[str] | None = None,
        relay_limit: int | None = DEFAULT_LIMIT,
    ) -> TransferPlan:
        """Min cost at a goal, or max throughput in a $/GB budget (exactly one of the two)."""
        dests = [destination] if isinstance(destination, str) else list(destination)
        throughput_goal_gbps = _positive("throughput_goal_gbps", throughput_goal_gbps)
        budget_usd_per_gb = _positive("budget_usd_per_gb", budget_usd_per_gb)
        if len(dests) > 1:
            if throughput_goal_gbps is None:
                raise SkyUserError(
                    "A multicast needs a throughput goal (a $/GB budget applies to one destination only)",
                    "pass a goal: --gbps N on the command line, throughput_goal_gbps in Python",
                )
            return self.plan_multicast(
                source, dests, throughput_goal_gbps=throughput_goal_gbps,
                deny_regions=deny_regions, allow_regions=allow_regions,
            )  # fmt: skip
        rules = RegionRules.of(deny_regions, allow_regions)
        if (throughput_goal_gbps is None) == (budget_usd_per_gb is None):
            raise SkyUserError(
                "Give either a throughput goal or a cost budget",
                "pass throughput_goal_gbps (objective cost) or budget_usd_per_gb (objective throughput)",
            )
        if throughput_goal_gbps is not None:
            return plan_min_cost(self.grid, source, dests[0], throughput_goal_gbps, rules, relay_limit)
        assert budget_usd_per_gb is not None  # exactly one of the two was given
        return plan_max_throughput(self.grid, source, dests[0], float(budget_usd_per_gb), rules, relay_limit)

    def plan_multicast(
        self,
        source: str,
        destinations: Sequence[str],
        *,
        throughput_goal_gbps: float,
        deny_regions: Iterable[str] | None = None,
        allow_regions: Iterable[str] | None = None,
        method: str = "auto",
    ) -> TransferPlan:
        """Distribution trees from ``source`` to every destination at the goal, at least cost."""
        rules = RegionRules.of(deny_regions, allow_regions)
        goal = float(parse_number("throughput_goal_gbps", throughput_goal_gbps, minimum=0, exclusive_minimum=True))
        return plan_multicast(self.grid, source, destinations, goal, rules, method=method)

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
        return pareto(self.grid, source, destination, points, RegionRules.of(deny_regions, allow_regions))


def _positive(name: str, value: float | None) -> float | None:
    """A goal or budget as a finite number above 0: the solvers fail obscurely on inf, NaN or < 0."""
    return None if value is None else float(parse_number(name, value, minimum=0, exclusive_minimum=True))


def _vm_limits(value: int | dict[str, int] | None) -> int | dict[str, int] | None:
    """VM limits as whole numbers >= 1 (0 VMs plans nothing; a negative bound breaks the solver)."""
    if isinstance(value, dict):
        return {region: _vm_limit(f"max_instances_per_region[{region!r}]", n) for region, n in value.items()}
    return None if value is None else _vm_limit("max_instances_per_region", value)


def _vm_limit(name: str, value: object) -> int:
    return int(parse_number(name, value, minimum=1, integer=True))
