"""The shaped testbed: one network namespace per region, one rate-shaped veth pair per link.

Why namespaces: gateways in different "regions" must not share a network stack, or they would
talk over loopback at memory speed; in a namespace a gateway sees only its own links, each
shaped to the profile's rate, so the overlay meets the bandwidth differences it is built for
(a relay that beats a slow direct link really does). A management veth per namespace, unshaped,
lets a process in the root namespace (tests, the overlay runner) reach every gateway; namespaces
have no default route, so region-to-region traffic can only take the shaped direct links.

Build cleans up after itself when a step fails, and teardown kills every process in each
namespace before deleting it (a namespace with processes outlives ``ip netns del``).
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.testbed import iproute, naming, shaping, sweep
from airflow_provider_sky.testbed.base import BaseTestbed
from airflow_provider_sky.testbed.naming import DEFAULT_PREFIX, Names
from airflow_provider_sky.testbed.profiles import load_profile

# A direction the profile gives no rate still carries the other direction's ACKs; it is shaped to
# this share of the other direction so it cannot become an unplanned fast path.
REVERSE_SHARE = 0.1
log = logging.getLogger(__name__)
_LIVE: set[Testbed] = set()  # strong references: a dropped testbed is still torn down at exit
_BUILT: set[str] = set()  # ids built by this process, for leak checks


@dataclass(frozen=True)
class Link:
    """One veth pair between regions ``i`` < ``j``: interface and address at each end."""

    i: int
    j: int
    dev_i: str
    dev_j: str
    ip_i: str
    ip_j: str


class Testbed(BaseTestbed):
    """Namespaces and shaped links for a profile; build with :meth:`build`, use as a context manager."""

    shaped = True

    def __init__(self, profile: str | Path | dict[str, Any], names: Names) -> None:
        super().__init__(profile)
        self._names = names
        self.id = names.id
        self.prefix = names.prefix
        self.namespaces: dict[str, str] = {}
        self._links: dict[tuple[int, int], Link] = {}
        self._mgmt: dict[int, tuple[str, str]] = {}  # region -> (root side ip, namespace side ip)
        self._made_links: list[str] = []

    @classmethod
    def build(cls, profile: str | Path | dict[str, Any], *, prefix: str | None = None) -> Testbed:
        """Create the namespaces, links and shaping for ``profile`` (a packaged name, path or document).

        Raises :class:`SkyUserError` without root or iproute2. If any step fails, whatever was
        made is removed before the error propagates.
        """
        doc = load_profile(profile)  # a bad profile is reported the same on every machine
        prefix = naming.check_prefix(prefix or DEFAULT_PREFIX)
        iproute.require_tools()
        with sweep.build_lock():
            taken = sweep.objects(prefix=prefix)
            testbed_id = naming.new_id()
            while testbed_id in taken:
                testbed_id = naming.new_id()
            testbed = cls(doc, Names(prefix, testbed_id, tuple(doc["regions"])))
            try:
                sweep.write_owner(testbed.id)
                _BUILT.add(testbed.id)
                _LIVE.add(testbed)
                testbed._create()
                sweep.write_layout(testbed.id, testbed.layout())
            except BaseException:
                testbed.teardown()
                raise
        log.info("testbed %s (%s): %s", testbed.id, testbed.name, ", ".join(testbed.namespaces.values()))
        return testbed

    def _create(self) -> None:
        names = self._names
        for i, region in enumerate(self.regions):
            ns = names.namespace(i)
            iproute.ip("netns", "add", ns)
            self.namespaces[region] = ns
            iproute.ip("link", "set", "lo", "up", netns=ns)
        block = naming.free_mgmt_block(self.id, iproute.root_ipv4())
        for i, region in enumerate(self.regions):
            ns, outer, inner = self.namespaces[region], names.mgmt_outer(i), names.mgmt_inner(i)
            root_ip, ns_ip = naming.mgmt_subnet(block, i)
            iproute.ip("link", "add", "name", outer, "type", "veth", "peer", "name", inner, "netns", ns)
            self._made_links.append(outer)
            iproute.ip("addr", "add", f"{root_ip}/30", "dev", outer)
            iproute.ip("link", "set", outer, "up")
            iproute.ip("addr", "add", f"{ns_ip}/30", "dev", inner, netns=ns)
            iproute.ip("link", "set", inner, "up", netns=ns)
            self._mgmt[i] = (root_ip, ns_ip)
        rates = self._doc["throughput_gbps"]
        pairs = [(i, j) for i in range(len(self.regions)) for j in range(i + 1, len(self.regions))]
        for k, (i, j) in enumerate(p for p in pairs if rates[p[0]][p[1]] > 0 or rates[p[1]][p[0]] > 0):
            ip_i, ip_j = naming.pair_subnet(k)
            link = Link(i, j, names.link_end(i, j), names.link_end(j, i), ip_i, ip_j)
            ns_i, ns_j = self.namespaces[self.regions[i]], self.namespaces[self.regions[j]]
            iproute.ip("link", "add", "name", link.dev_i, "type", "veth", "peer", "name", link.dev_j, "netns", ns_j,
                       netns=ns_i)  # fmt: skip
            for ns, dev, addr in ((ns_i, link.dev_i, ip_i), (ns_j, link.dev_j, ip_j)):
                iproute.ip("addr", "add", f"{addr}/30", "dev", dev, netns=ns)
                iproute.ip("link", "set", dev, "up", netns=ns)
            forward, back = rates[i][j], rates[j][i]
            shaping.shape(ns_i, link.dev_i, forward or back * REVERSE_SHARE)
            shaping.shape(ns_j, link.dev_j, back or forward * REVERSE_SHARE)
            self._links[(i, j)] = link

    # -- addresses -----------------------------------------------------------------------

    def _link(self, a: str, b: str) -> Link:
        i, j = self.index(a), self.index(b)
        link = self._links.get((min(i, j), max(i, j)))
        if link is None or self.rate(a, b) <= 0:
            raise SkyUserError(
                f"There is no link {a} -> {b} in testbed '{self.name}'",
                "dial only regions the profile links (throughput_gbps > 0); relay through one otherwise",
            )
        return link

    def link_ip(self, from_region: str, to_region: str) -> str:
        """The address a process in ``from_region`` dials to reach ``to_region`` over their shaped link."""
        link = self._link(from_region, to_region)
        return link.ip_j if self.index(to_region) == link.j else link.ip_i

    def mgmt_ip(self, region: str) -> str:
        """The namespace's address on its unshaped management link, reachable from the root namespace."""
        return self._mgmt[self.index(region)][1]

    def host_ip(self, region: str) -> str:
        """The root namespace's address as seen from ``region`` (to reach services running outside)."""
        return self._mgmt[self.index(region)][0]

    def layout(self) -> dict[str, Any]:
        """Where everything is, as plain data: lets another process (an Airflow worker) place
        gateways in this testbed while its builder lives (see testbed/placement.py)."""
        links = {}
        for a in self.regions:
            for b in self.regions:
                if a != b and self._has_link(self.index(a), self.index(b)) and self.rate(a, b) > 0:
                    links[f"{a}|{b}"] = self.link_ip(a, b)
        return {
            "id": self.id,
            "name": self.name,
            "namespaces": dict(self.namespaces),
            "mgmt": {r: self.mgmt_ip(r) for r in self.regions},
            "host": {r: self.host_ip(r) for r in self.regions},
            "links": links,
        }

    # -- shaping -------------------------------------------------------------------------

    def _has_link(self, i: int, j: int) -> bool:
        return (min(i, j), max(i, j)) in self._links

    def set_rate(self, a: str, b: str, gbps: float) -> None:
        """Reshape ``a`` -> ``b`` to ``gbps`` Gbit/s in place (``tc class change``; connections stay up)."""
        super().set_rate(a, b, gbps)
        i, j = self.index(a), self.index(b)
        link = self._links[(min(i, j), max(i, j))]
        dev = link.dev_i if i == link.i else link.dev_j
        shaping.reshape(self.namespaces[a], dev, gbps)

    def shaped_rate(self, a: str, b: str) -> float:
        """The rate the kernel applies to ``a`` -> ``b`` right now (read back from tc)."""
        link = self._link(a, b)
        i = self.index(a)
        return shaping.shaped_rate_gbps(self.namespaces[a], link.dev_i if i == link.i else link.dev_j)

    # -- processes -----------------------------------------------------------------------

    def _command(self, region: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[self.regions[self.index(region)]], *argv]

    # -- lifetime ------------------------------------------------------------------------

    def teardown(self) -> None:
        """Kill every process (spawned or not) in each namespace, delete namespaces and veths, and
        check nothing with this testbed's id remains. Idempotent."""
        if self._torn_down:
            return
        self._stop_processes()
        for ns in self.namespaces.values():
            iproute.delete_namespace(ns)
        for dev in self._made_links:
            iproute.delete_link(dev)
        left = sweep.objects([self.id], prefix=self.prefix).get(self.id, [])
        if left:  # a namespace made but not yet recorded (build interrupted mid-step)
            sweep.remove(left, self.prefix)
            left = sweep.objects([self.id], prefix=self.prefix).get(self.id, [])
        if left:
            raise iproute.NetnsError(f"testbed {self.id} teardown left {', '.join(left)}")
        sweep.remove_owner(self.id)
        self._torn_down = True
        _LIVE.discard(self)


def built_ids() -> set[str]:
    """Ids of every shaped testbed this process built (torn down or not), for leak checks."""
    return set(_BUILT)


@atexit.register
def _teardown_live() -> None:
    """A testbed forgotten by its owner still goes away when the interpreter exits normally."""
    for testbed in list(_LIVE):
        try:
            testbed.teardown()
        except Exception:  # exiting anyway: report and carry on with the rest
            log.exception("teardown of testbed %s at exit failed", testbed.id)
