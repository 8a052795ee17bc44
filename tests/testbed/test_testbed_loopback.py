"""LoopbackTestbed: the same calls with every region on 127.0.0.1, nothing shaped."""

from __future__ import annotations

import os
import subprocess

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.testbed import LoopbackTestbed
from airflow_provider_sky.testbed.probe import measure_link, measure_mgmt

SRC, DST = "local:tb-src", "local:tb-dst"


def test_loopback_moves_bytes_between_regions_unshaped() -> None:
    with LoopbackTestbed("triangle") as testbed:
        measured = measure_link(testbed, SRC, DST, 20_000_000)
        assert measured.bytes == 20_000_000
        assert measured.gbps > 10 * testbed.rate(SRC, DST)  # the profile says 0.02; loopback ignores it
        assert measure_mgmt(testbed, DST, 1_000_000).bytes == 1_000_000
        assert testbed.link_ip(SRC, DST) == testbed.mgmt_ip(DST) == testbed.host_ip(SRC) == "127.0.0.1"


def test_loopback_spawn_runs_in_this_network_namespace_and_teardown_stops_it() -> None:
    testbed = LoopbackTestbed("triangle")
    probe = testbed.spawn(SRC, ["readlink", "/proc/self/ns/net"], stdout=subprocess.PIPE, text=True)
    assert probe.communicate(timeout=10)[0].strip() == os.readlink("/proc/self/ns/net")
    sleeper = testbed.spawn(DST, ["sleep", "60"])
    testbed.teardown()
    assert sleeper.poll() is not None
    with pytest.raises(SkyUserError, match="torn down"):
        testbed.spawn(SRC, ["true"])


def test_loopback_records_set_rate_for_replanning_and_refuses_unknown_links() -> None:
    testbed = LoopbackTestbed("multicast")
    testbed.set_rate("local:tb-src", "local:tb-relay", 0.1)
    assert testbed.grid()["throughput_gbps"][0][1] == 0.1
    with pytest.raises(SkyUserError, match="no link"):
        testbed.link_ip("local:tb-d1", "local:tb-d2")
    with pytest.raises(SkyUserError, match="not in testbed"):
        testbed.rate("local:tb-src", "local:nowhere")
