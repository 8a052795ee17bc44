"""Sovereignty rules: which regions data may transit.

``deny_regions`` and ``allow_regions`` are glob patterns over region ids (``aws:us-*``,
``azure:*``, ``gcp:europe-west4-a``). Data never enters a denied region, and relays are chosen
only among allowed ones (all regions when no allow list is given). The source and destinations
are named by the user, so a rule that forbids one of them is a contradiction and is reported
instead of silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from airflow_provider_sky.errors import SkyUserError


@dataclass(frozen=True)
class RegionRules:
    """Glob allow/deny lists; deny wins over allow."""

    deny: tuple[str, ...] = ()
    allow: tuple[str, ...] | None = None

    @classmethod
    def of(cls, deny: Iterable[str] | None = None, allow: Iterable[str] | None = None) -> RegionRules:
        """Normalise user input (``None``, one string or a list of patterns)."""

        def norm(v: Iterable[str] | str | None) -> tuple[str, ...] | None:
            if v is None:
                return None
            return (v,) if isinstance(v, str) else tuple(v)

        return cls(deny=norm(deny) or (), allow=norm(allow))

    def denied(self, region: str) -> bool:
        """True when a deny pattern matches ``region``."""
        return any(fnmatchcase(region, p) for p in self.deny)

    def may_relay(self, region: str) -> bool:
        """True when ``region`` may host a relay gateway."""
        if self.denied(region):
            return False
        return self.allow is None or any(fnmatchcase(region, p) for p in self.allow)

    def check_endpoints(self, endpoints: Sequence[str]) -> None:
        """Refuse a transfer whose own source or destination is denied."""
        bad = [r for r in endpoints if self.denied(r)]
        if bad:
            raise SkyUserError(
                f"Endpoint region(s) {', '.join(bad)} match deny_regions {list(self.deny)}",
                "remove the pattern from deny_regions or choose another source/destination",
            )

    def relays(self, regions: Iterable[str], endpoints: Sequence[str]) -> list[str]:
        """Regions that may relay, excluding the endpoints themselves."""
        ends = set(endpoints)
        return [r for r in regions if r not in ends and self.may_relay(r)]
