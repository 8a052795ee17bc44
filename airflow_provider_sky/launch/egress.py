"""What it costs to bring a task's input data to a candidate region (joint placement).

Why here and not in the optimizer: the same lookup prices "run near the data" against "move the
data", and it has two layers of knowledge. Where both regions are in the transfer planner's
packaged grid we use its measured per-GB egress prices; otherwise a small rule table of list
prices (same region free, same cloud inter-region, internet egress of the source cloud). Ingress
is free on all three clouds, so only the source side is priced.
"""

from __future__ import annotations

import functools

from airflow_provider_sky.uri import parse_uri

# USD per GB, list prices of the first paid tier (rule table used outside the planner's grid).
INTER_REGION_USD_PER_GB = {"aws": 0.02, "gcp": 0.02, "azure": 0.02, "local": 0.0}
INTERNET_USD_PER_GB = {"aws": 0.09, "gcp": 0.12, "azure": 0.087, "local": 0.0}
_SCHEME_CLOUD = {"s3": "aws", "gs": "gcp", "azure": "azure", "file": "local"}


def data_cloud(uri: str) -> str | None:
    """The cloud holding a bucket URI (s3 -> aws, gs -> gcp, azure -> azure, file -> local)."""
    try:
        return _SCHEME_CLOUD.get(parse_uri(uri).scheme)
    except Exception:  # an unparsable URI is reported by the runner when it mounts it
        return None


@functools.lru_cache(maxsize=1)
def _grid():
    """(grid, region id -> row) from the transfer planner's packaged grid, or None without it."""
    try:
        from airflow_provider_sky.planner.data import load_grid

        grid = load_grid()
    except Exception:  # planner data missing or unreadable: the rule table still works
        return None
    return grid, {region: i for i, region in enumerate(grid.regions)}


def usd_per_gb(src_cloud: str, src_region: str | None, dst_cloud: str, dst_region: str) -> float:
    """Price of moving one GB from (src_cloud, src_region) to (dst_cloud, dst_region).

    An unknown source region inside the destination's cloud costs 0, as in SkyPilot, which only
    charges egress between clouds; pass the bucket's region to price inter-region moves.
    """
    if src_cloud == dst_cloud and (src_region is None or src_region == dst_region):
        return 0.0
    loaded = _grid()
    if loaded is not None and src_region is not None:
        grid, index = loaded
        src, dst = f"{src_cloud}:{src_region}", f"{dst_cloud}:{dst_region}"
        if src in index and dst in index:
            return float(grid.egress_usd_per_gb[index[src], index[dst]])
    if src_cloud == dst_cloud:
        return INTER_REGION_USD_PER_GB.get(src_cloud, 0.02)
    return INTERNET_USD_PER_GB.get(src_cloud, 0.09)


def grid_available() -> bool:
    """True when the planner's measured egress grid is used (else only the rule table)."""
    return _grid() is not None
