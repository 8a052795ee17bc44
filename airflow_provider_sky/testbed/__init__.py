"""A shaped multi-region testbed on one machine: network namespaces joined by rate-shaped veths.

A testbed is built from a *profile*, a ``sky-grid/1`` document whose regions are namespaces, so
the planner plans the testbed exactly as it plans clouds, and gateways run in it meet the rates
the planner assumed. Plain Python: no Airflow, no solver. See docs/testbed.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.testbed.base import BaseTestbed
from airflow_provider_sky.testbed.flow import max_flow, multicast_bound
from airflow_provider_sky.testbed.iproute import require_tools
from airflow_provider_sky.testbed.loopback import LoopbackTestbed
from airflow_provider_sky.testbed.profiles import load_profile, profile_names
from airflow_provider_sky.testbed.shaped import Testbed
from airflow_provider_sky.testbed.sweep import sweep_stale

log = logging.getLogger(__name__)


def build_testbed(profile: str | Path | dict[str, Any], *, allow_loopback: bool) -> BaseTestbed:
    """The shaped testbed where this machine can build one; otherwise, if ``allow_loopback``, the
    unshaped loopback stand-in (logged as a warning, since its rates mean nothing)."""
    try:
        require_tools()
    except SkyUserError as exc:
        if not allow_loopback:
            raise
        log.warning("shaped testbed unavailable (%s); using LoopbackTestbed: regions on 127.0.0.1, unshaped", exc)
        return LoopbackTestbed(profile)
    return Testbed.build(profile)


__all__ = [
    "BaseTestbed",
    "LoopbackTestbed",
    "Testbed",
    "build_testbed",
    "load_profile",
    "max_flow",
    "multicast_bound",
    "profile_names",
    "sweep_stale",
]
