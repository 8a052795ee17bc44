"""Gateways inside a testbed: each runs in its region's namespace and dials the shaped links.

The placement is built from a testbed's *layout* (namespaces and addresses, plain data), so
the process that runs gateways need not be the one that built the testbed: an Airflow worker
finds a live testbed whose regions cover its plan with :func:`find_placement`.

- control: the runner reaches a gateway on its namespace's unshaped management address;
- data: a gateway in ``a`` dials ``b`` on the address of their shaped link, so every overlay
  edge meets the rate the profile (and so the planner) gives it;
- stores: a store inside a region's namespace is reached there as the caller says
  (``endpoints``: region -> scheme -> URL); file:// paths are shared by every namespace.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.overlay.fleet import ProcessPlacement
from airflow_provider_sky.testbed.sweep import live_layouts


@dataclass
class TestbedPlacement(ProcessPlacement):
    """The overlay runner's Placement for one testbed layout."""

    __test__ = False  # not a pytest test class

    layout: dict[str, Any]
    endpoints: dict[str, dict[str, str]] = field(default_factory=dict)
    name: str = "testbed"

    def _namespace(self, region: str) -> str:
        try:
            return self.layout["namespaces"][region]
        except KeyError:
            raise SkyUserError(
                f"Region {region} is not in testbed {self.layout.get('name')} ({self.layout.get('id')})",
                f"plan over the testbed's regions: {', '.join(self.layout['namespaces'])}",
            ) from None

    def spawn(self, region: str, argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["ip", "netns", "exec", self._namespace(region), *argv], **popen)

    def control_host(self, region: str) -> str:
        self._namespace(region)
        return self.layout["mgmt"][region]

    def data_host(self, from_region: str, to_region: str) -> str:
        address = self.layout["links"].get(f"{from_region}|{to_region}")
        if address is None:
            raise SkyUserError(
                f"The plan sends {from_region} -> {to_region}, a link testbed {self.layout['name']} does not have",
                "plan over the testbed's own profile (its grid) so every edge is a shaped link",
            )
        return address

    def bind_host(self, region: str) -> str:
        return "0.0.0.0"  # inside the namespace: its link addresses and nothing else

    def store_endpoint(self, region: str, scheme: str) -> str | None:
        return self.endpoints.get(region, {}).get(scheme)

    def to_doc(self) -> dict[str, Any]:
        return {"kind": self.name, "layout": self.layout, "endpoints": self.endpoints}


def find_layout(regions: Iterable[str]) -> dict[str, Any] | None:
    """The layout of a live testbed holding every one of ``regions``, or None."""
    wanted = set(regions)
    return next((lay for lay in live_layouts() if wanted <= set(lay["namespaces"])), None)


def find_placement(regions: Iterable[str], endpoints: dict[str, dict[str, str]] | None = None) -> TestbedPlacement:
    """The live testbed holding every one of ``regions``; a clear error when there is none."""
    regions = list(regions)
    layout = find_layout(regions)
    if layout is not None:
        return TestbedPlacement(layout, endpoints or {})
    alive = ", ".join(f"{lay['name']} ({', '.join(lay['namespaces'])})" for lay in live_layouts()) or "none"
    raise SkyUserError(
        f"No live testbed has the regions {', '.join(sorted(set(regions)))} (live testbeds: {alive})",
        "build one first (the testbed fixture, or Testbed.build('triangle') as root), "
        "or choose another gateway_cloud",
    )
