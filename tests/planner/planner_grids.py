"""Small hand-made grids whose optimal plans can be worked out on paper.

Regions are named like testbed namespaces (``local:a``); every grid is a ``sky-grid/1`` document,
the format users and testbed profiles use too.
"""

from __future__ import annotations

from collections.abc import Mapping

from airflow_provider_sky.planner.data import RegionGrid, grid_from_dict


def make_grid(
    regions: list[str],
    links: Mapping[tuple[str, str], tuple[float, float]],
    *,
    nic: tuple[float, float] = (100.0, 100.0),
    vm_limit: int | dict[str, int] = 8,
    vm_usd_per_hour: float = 0.0,
) -> RegionGrid:
    """``links`` maps (src, dst) to (Gbps per VM pair, egress $/GB); other pairs have no link."""
    full = [f"local:{r}" for r in regions]
    tput = [[links.get((a, b), (0.0, 0.0))[0] for b in regions] for a in regions]
    cost = [[links.get((a, b), (0.0, 0.0))[1] for b in regions] for a in regions]
    limits = {f"local:{k}": v for k, v in vm_limit.items()} if isinstance(vm_limit, dict) else vm_limit
    return grid_from_dict(
        {
            "format": "sky-grid/1",
            "name": "testbed",
            "regions": full,
            "throughput_gbps": tput,
            "egress_usd_per_gb": cost,
            "vm_usd_per_hour": vm_usd_per_hour,
            "nic_egress_gbps": nic[0],
            "nic_ingress_gbps": nic[1],
            "vm_limit": {"*": 8, **limits} if isinstance(limits, dict) else limits,
        }
    )
