"""Teardown, failed builds and crashed runs leave no namespace, veth or process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.testbed import LoopbackTestbed, Testbed, build_testbed, iproute, shaping, sweep, sweep_stale
from airflow_provider_sky.testbed.probe import measure_mgmt

SRC = "local:tb-src"


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that may never reap it (a container's init)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def leftovers(testbed: Testbed) -> list[str]:
    return sweep.objects([testbed.id]).get(testbed.id, [])


@pytest.mark.netns
def test_teardown_kills_spawned_and_stray_processes_and_removes_everything(make_testbed) -> None:
    testbed = make_testbed("triangle")
    spawned = testbed.spawn(SRC, ["sleep", "60"])
    # A process that leaves its session and parent is still in the namespace: teardown finds it there.
    testbed.run("local:tb-dst", ["sh", "-c", "setsid sleep 60 >/dev/null 2>&1 &"], check=True)
    stray = iproute.netns_pids(testbed.namespaces["local:tb-dst"])
    assert stray and len(leftovers(testbed)) == 6  # 3 namespaces + 3 root-side management veths
    testbed.teardown()
    assert spawned.poll() is not None
    assert not [pid for pid in stray if alive(pid)]
    assert leftovers(testbed) == []
    testbed.teardown()  # idempotent


@pytest.mark.netns
def test_an_exception_in_the_with_block_still_tears_down(netns_ready) -> None:
    with pytest.raises(RuntimeError, match="boom"), Testbed.build("triangle") as testbed:
        testbed.spawn(SRC, ["sleep", "60"])
        raise RuntimeError("boom")
    assert leftovers(testbed) == []


@pytest.mark.netns
def test_a_failed_build_removes_what_it_made(netns_ready, monkeypatch) -> None:
    calls = []

    def shape_then_fail(netns: str, dev: str, gbps: float) -> None:
        calls.append(netns)
        if len(calls) == 3:
            raise iproute.NetnsError("simulated tc failure")
        real_shape(netns, dev, gbps)

    real_shape = shaping.shape
    monkeypatch.setattr(shaping, "shape", shape_then_fail)
    before = set(iproute.namespaces()), set(iproute.root_links())
    with pytest.raises(iproute.NetnsError, match="simulated"):
        Testbed.build("triangle")
    assert (set(iproute.namespaces()), set(iproute.root_links())) == before


_CRASH = """
import os, sys
from airflow_provider_sky.testbed import Testbed
testbed = Testbed.build("triangle")
testbed.spawn("local:tb-relay", ["sleep", "60"])
print(testbed.id, flush=True)
sys.stdin.read()
"""


@pytest.mark.netns
def test_sweep_removes_a_crashed_runs_testbed_and_nothing_else(make_testbed) -> None:
    live = make_testbed("triangle")
    decoys = ["sky-notours", "sky-abcdefg-x", "skyx-123456-x"]  # near misses of the naming pattern
    for name in decoys:
        iproute.ip("netns", "add", name)
    try:
        crashed = subprocess.Popen(
            [sys.executable, "-c", _CRASH], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        crashed_id = crashed.stdout.readline().strip()
        assert sweep.objects([crashed_id])
        crashed.send_signal(signal.SIGKILL)  # no teardown, no atexit
        crashed.wait(10)
        removed = sweep_stale()
        assert removed and all(crashed_id in name for name in removed)
        assert sweep.objects([crashed_id]) == {}
        assert set(decoys) <= set(iproute.namespaces())
        assert len(leftovers(live)) == 6  # the live testbed's owner (this process) is alive: untouched
    finally:
        for name in decoys:
            iproute.ip("netns", "del", name, check=False)


@pytest.mark.netns
def test_two_testbeds_at_once_get_separate_names_and_management_subnets(make_testbed) -> None:
    first, second = make_testbed("triangle"), make_testbed("triangle", prefix="skyt-")
    assert first.id != second.id and second.namespaces[SRC].startswith(f"skyt-{second.id}-")
    assert first.mgmt_ip(SRC).rsplit(".", 1)[0] != second.mgmt_ip(SRC).rsplit(".", 1)[0]  # different /24s
    for testbed in (first, second):
        assert measure_mgmt(testbed, SRC, 100_000).bytes == 100_000


def test_without_root_build_explains_and_loopback_is_offered(monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SkyUserError, match="needs root and iproute2") as raised:
        Testbed.build("triangle")
    assert "LoopbackTestbed" in raised.value.fix
    with pytest.raises(SkyUserError, match="needs root"):
        build_testbed("triangle", allow_loopback=False)
    with build_testbed("triangle", allow_loopback=True) as testbed:
        assert isinstance(testbed, LoopbackTestbed) and not testbed.shaped


def test_sweep_without_root_touches_nothing(monkeypatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    started = time.monotonic()
    assert sweep_stale() == []
    assert time.monotonic() - started < 1
