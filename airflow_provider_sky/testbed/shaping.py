"""Rate-shape one direction of a link with an HTB class (this kernel has no netem).

Each veth end gets ``htb default 10`` with one class 1:10 whose rate and ceil are the link's
rate in that direction, so all traffic leaving that end is shaped. Shaping both ends shapes both
directions independently, the way a WAN link is asymmetric.

Burst: HTB may send ``burst`` bytes above the rate after an idle period. veth hands HTB GSO
packets of up to 64 KiB, and a burst smaller than one such packet makes HTB undershoot its
rate, so the burst is a few milliseconds of traffic but never under 64 KiB. The quantum only
matters between sibling classes (there are none); it is set explicitly so the kernel does not
warn about the default (rate / 10) being out of range.
"""

from __future__ import annotations

import re

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.testbed import iproute

BURST_S = 0.002
MIN_BURST_BYTES = 64 * 1024
MAX_RATE_GBPS = 10.0
_RATE_RE = re.compile(r"\brate (\d+(?:\.\d+)?)([KMG]?bit)\b", re.IGNORECASE)  # tc prints decimal units
_UNITS = {"bit": 1.0, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9}


def htb_params(gbps: float) -> list[str]:
    """The ``rate ... ceil ... burst ... cburst ... quantum ...`` arguments for ``gbps`` Gbit/s."""
    if not 0 < gbps <= MAX_RATE_GBPS:
        raise SkyUserError(
            f"A link rate of {gbps:g} Gbit/s cannot be shaped",
            f"use a rate above 0 and at most {MAX_RATE_GBPS:g} Gbit/s (0 in a profile means no link)",
        )
    bits = round(gbps * 1e9)
    burst = max(MIN_BURST_BYTES, int(bits / 8 * BURST_S))
    quantum = min(200_000, max(1514, bits // 80))
    return ["rate", f"{bits}bit", "ceil", f"{bits}bit", "burst", str(burst), "cburst", str(burst),
            "quantum", str(quantum)]  # fmt: skip


def shape(netns: str, dev: str, gbps: float) -> None:
    """Install the HTB root and its one class on ``dev`` inside ``netns``."""
    iproute.tc("qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10", netns=netns)
    iproute.tc("class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", *htb_params(gbps), netns=netns)


def reshape(netns: str, dev: str, gbps: float) -> None:
    """Change the rate of an installed class in place (connections stay up)."""
    iproute.tc("class", "change", "dev", dev, "parent", "1:", "classid", "1:10", "htb", *htb_params(gbps),
               netns=netns)  # fmt: skip


def shaped_rate_gbps(netns: str, dev: str) -> float:
    """The rate the kernel actually applies (read back, to check a change took)."""
    out = iproute.tc("class", "show", "dev", dev, "classid", "1:10", netns=netns)
    match = _RATE_RE.search(out)
    if not match:
        raise iproute.NetnsError(f"no HTB class 1:10 on {dev} in {netns}: {out.strip()!r}")
    return float(match.group(1)) * _UNITS[match.group(2).lower()] / 1e9
