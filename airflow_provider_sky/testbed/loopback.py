"""The testbed's API without namespaces: every region is 127.0.0.1 and nothing is shaped.

For machines where the shaped testbed cannot run (no root, no iproute2): gateways still start,
talk and move bytes, so the overlay's logic can be tested, but rates are whatever loopback gives.
Regions share one network stack here, so processes must listen on port 0 (or distinct ports).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.testbed.base import BaseTestbed

LOOPBACK = "127.0.0.1"
log = logging.getLogger(__name__)


class LoopbackTestbed(BaseTestbed):
    """Same calls as :class:`~airflow_provider_sky.testbed.shaped.Testbed`; regions are loopback."""

    shaped = False

    def __init__(self, profile: str | Path | dict[str, Any]) -> None:
        super().__init__(profile)
        self.namespaces: dict[str, str] = {}  # no namespaces: processes run in the caller's

    def link_ip(self, from_region: str, to_region: str) -> str:
        if self.rate(from_region, to_region) <= 0:
            raise SkyUserError(f"There is no link {from_region} -> {to_region}", "dial a region it links to")
        return LOOPBACK

    def mgmt_ip(self, region: str) -> str:
        self.index(region)
        return LOOPBACK

    def host_ip(self, region: str) -> str:
        self.index(region)
        return LOOPBACK

    def set_rate(self, a: str, b: str, gbps: float) -> None:
        """Records the rate in :meth:`grid` (for re-planning); loopback itself is not shaped."""
        super().set_rate(a, b, gbps)
        log.info("loopback testbed: %s -> %s recorded as %g Gbit/s, not shaped", a, b, gbps)

    def _command(self, region: str, argv: Sequence[str]) -> list[str]:
        self.index(region)
        return list(argv)
