"""Links carry their shaped rates, in both directions; the management links do not."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.testbed.probe import measure_link, measure_mgmt

pytestmark = pytest.mark.netns

SRC, RELAY, DST = "local:tb-src", "local:tb-relay", "local:tb-dst"
TOLERANCE = 0.25


def mbytes(n: float) -> int:
    return int(n * 1_000_000)


def test_slow_direct_link_runs_at_its_shaped_rate_both_ways(make_testbed) -> None:
    testbed = make_testbed("triangle")
    for a, b in ((SRC, DST), (DST, SRC)):
        measured = measure_link(testbed, a, b, mbytes(2)).gbps  # 0.8 s at 20 Mbit/s
        assert measured == pytest.approx(0.02, rel=TOLERANCE), f"{a} -> {b}"


def test_fast_link_runs_at_its_shaped_rate(make_testbed) -> None:
    testbed = make_testbed("triangle")
    measured = measure_link(testbed, SRC, RELAY, mbytes(8)).gbps  # 0.3 s at 200 Mbit/s
    assert measured == pytest.approx(0.2, rel=TOLERANCE)


def test_management_link_is_not_shaped(make_testbed) -> None:
    testbed = make_testbed("triangle")
    measured = measure_mgmt(testbed, DST, mbytes(20)).gbps
    assert measured > 5 * 0.2  # several times the fastest shaped link


def test_set_rate_reshapes_one_direction_in_place(make_testbed) -> None:
    testbed = make_testbed("triangle")
    testbed.set_rate(SRC, DST, 0.05)
    assert testbed.shaped_rate(SRC, DST) == pytest.approx(0.05)
    assert measure_link(testbed, SRC, DST, mbytes(4)).gbps == pytest.approx(0.05, rel=TOLERANCE)
    assert measure_link(testbed, DST, SRC, mbytes(2)).gbps == pytest.approx(0.02, rel=TOLERANCE)
    assert testbed.rate(SRC, DST) == 0.05 and testbed.grid()["throughput_gbps"][0][2] == 0.05
    assert testbed.rate(DST, SRC) == 0.02


def test_set_rate_refuses_a_missing_link_and_a_zero_rate(make_testbed) -> None:
    testbed = make_testbed("multicast")
    with pytest.raises(SkyUserError, match="no link"):
        testbed.set_rate("local:tb-d1", "local:tb-d2", 0.1)
    with pytest.raises(SkyUserError, match="cannot be shaped"):
        testbed.set_rate("local:tb-src", "local:tb-relay", 0)


def _connect_errno(testbed, region: str, address: str) -> int:
    """errno of a TCP connect from ``region`` to ``address`` (0 when it connects)."""
    code = f"import socket; print(socket.socket().connect_ex(({address!r}, 9)))"
    done = testbed.run(region, [sys.executable, "-c", code], capture_output=True, text=True, timeout=10, check=True)
    return int(done.stdout)


def test_regions_reach_only_their_direct_links(make_testbed) -> None:
    testbed = make_testbed("multicast")
    d1, d2 = "local:tb-d1", "local:tb-d2"
    assert _connect_errno(testbed, d1, testbed.link_ip(d1, "local:tb-relay")) == errno.ECONNREFUSED  # linked
    assert _connect_errno(testbed, d1, testbed.link_ip("local:tb-relay", d2)) == errno.ENETUNREACH  # d2, via relay
    assert _connect_errno(testbed, d1, testbed.mgmt_ip(d2)) == errno.ENETUNREACH  # no way round through the root
    assert _connect_errno(testbed, d1, testbed.host_ip(d1)) == errno.ECONNREFUSED  # the root is reachable
    with pytest.raises(SkyUserError, match="no link"):
        testbed.link_ip(d1, d2)


def test_spawn_runs_in_the_region_and_passes_popen_arguments(make_testbed) -> None:
    testbed = make_testbed("triangle")
    argv = ["sh", "-c", 'echo "$GREETING"; ip -o -4 addr show']
    env = {"GREETING": "hi", "PATH": "/usr/sbin:/usr/bin:/bin"}
    proc = testbed.spawn(RELAY, argv, env=env, stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate(timeout=10)
    assert out.splitlines()[0] == "hi"
    assert testbed.mgmt_ip(RELAY) in out and testbed.link_ip(SRC, RELAY) in out
    assert testbed.link_ip(SRC, DST) not in out  # that address lives in the destination's namespace


def test_every_packaged_profile_builds_and_each_link_carries_bytes(make_testbed) -> None:
    for name in ("multicast", "five_regions"):
        testbed = make_testbed(name)
        for i, a in enumerate(testbed.regions):
            for b in testbed.regions[i + 1 :]:  # one direction per link: both are shaped alike (see above)
                if testbed.rate(a, b) > 0:
                    assert measure_link(testbed, a, b, 20_000).bytes == 20_000, f"{name}: {a} -> {b}"
