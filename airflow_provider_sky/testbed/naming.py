"""Names and addresses of everything a testbed creates, and the patterns that recognise them.

Every object carries the testbed's random 6-hex id, so two testbeds alive at once never clash
and a sweep can tell a testbed's leftovers from anything else on the machine:

* namespace ``<prefix><id>-<short region>``, e.g. ``sky-1a2b3c-tb-relay``;
* link veth ends ``<vp><id><i><j>`` (the end in region ``i`` facing region ``j``), management
  veth ends ``<vp><id>-<i>`` (inside the namespace) and ``<vp><id>_<i>`` (root namespace), where
  ``vp`` is the prefix's letters (at most 3) and ``i``/``j`` are base-36 region positions. Linux
  caps interface names at 15 characters; these take at most 11.

Addresses: management links live in the root namespace's routing table, so they must be unique
machine-wide: each testbed takes one free /24 of 10.213.0.0/16 (start derived from the id, next
free one on a clash), one /30 per region. Link subnets only ever exist inside the testbed's own
namespaces, which do not share routing tables with anything, so they need no machine-wide
uniqueness: pair ``k`` takes the k-th /30 of 10.214.0.0/16.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass

from airflow_provider_sky.errors import SkyUserError

DEFAULT_PREFIX = "sky-"
MGMT_NET = ipaddress.ip_network("10.213.0.0/16")
LINK_NET = ipaddress.ip_network("10.214.0.0/16")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,6}-$")


def check_prefix(prefix: str) -> str:
    """A prefix is a few lowercase letters/digits ending in '-', so the patterns stay exact."""
    if not _PREFIX_RE.match(prefix):
        raise SkyUserError(f"Testbed prefix '{prefix}' is not usable", "use 1-7 lowercase letters/digits and a '-'")
    return prefix


def veth_prefix(prefix: str) -> str:
    """The short form of ``prefix`` that starts interface names (``sky-`` -> ``sky``)."""
    return check_prefix(prefix).rstrip("-")[:3]


def new_id() -> str:
    return secrets.token_hex(3)


def short_region(region: str) -> str:
    """``local:tb-relay`` -> ``tb-relay``: a readable namespace suffix."""
    name = re.sub(r"[^a-z0-9-]+", "-", region.split(":", 1)[-1].lower()).strip("-")
    return name[:24] or "region"


@dataclass(frozen=True)
class Names:
    """Every name of one testbed, derived from its prefix, id and region list."""

    prefix: str
    id: str
    regions: tuple[str, ...]

    def namespace(self, i: int) -> str:
        base = f"{self.prefix}{self.id}-{short_region(self.regions[i])}"
        shorts = [short_region(r) for r in self.regions]
        return base if shorts.count(shorts[i]) == 1 else f"{base}-{i}"

    def link_end(self, i: int, j: int) -> str:
        return f"{veth_prefix(self.prefix)}{self.id}{_DIGITS[i]}{_DIGITS[j]}"

    def mgmt_inner(self, i: int) -> str:
        return f"{veth_prefix(self.prefix)}{self.id}-{_DIGITS[i]}"

    def mgmt_outer(self, i: int) -> str:
        return f"{veth_prefix(self.prefix)}{self.id}_{_DIGITS[i]}"


def namespace_pattern(prefix: str = DEFAULT_PREFIX) -> re.Pattern[str]:
    """Matches exactly the namespace names a testbed with ``prefix`` makes; group 1 is the id."""
    return re.compile(rf"^{re.escape(check_prefix(prefix))}([0-9a-f]{{6}})-[a-z0-9-]+$")


def veth_pattern(prefix: str = DEFAULT_PREFIX) -> re.Pattern[str]:
    """Matches exactly the interface names a testbed with ``prefix`` makes; group 1 is the id."""
    return re.compile(rf"^{re.escape(veth_prefix(prefix))}([0-9a-f]{{6}})(?:[0-9a-z]{{2}}|[-_][0-9a-z])$")


def pair_subnet(k: int) -> tuple[str, str]:
    """Addresses (lower region, higher region) of the k-th linked pair; /30 each."""
    base = LINK_NET.network_address + 4 * k
    return str(base + 1), str(base + 2)


def mgmt_block(index: int) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(f"{MGMT_NET.network_address + 256 * (index % 256)}/24")


def mgmt_subnet(block: ipaddress.IPv4Network, i: int) -> tuple[str, str]:
    """Addresses (root side, namespace side) of region ``i``'s management link; /30 each."""
    base = block.network_address + 4 * i
    return str(base + 1), str(base + 2)


def free_mgmt_block(testbed_id: str, taken: list[ipaddress.IPv4Interface]) -> ipaddress.IPv4Network:
    """The first /24 at or after the id's own that no root-namespace address uses."""
    start = int(testbed_id, 16) % 256
    for step in range(256):
        block = mgmt_block(start + step)
        if not any(iface.ip in block or iface.network.subnet_of(block) for iface in taken):
            return block
    raise SkyUserError(
        "Every management /24 in 10.213.0.0/16 is in use",
        "tear down old testbeds (python -m airflow_provider_sky.testbed --sweep)",
    )
