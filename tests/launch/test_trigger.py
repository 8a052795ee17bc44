"""SkyLaunchTrigger: serialisable, restartable, and one terminal event per job."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import time
from pathlib import Path

import pytest

from airflow_provider_sky.launch import runner
from airflow_provider_sky.launch.backends import local
from airflow_provider_sky.launch.task import TaskSpec
from airflow_provider_sky.triggers.launch import SkyLaunchTrigger

pytestmark = pytest.mark.sshd


def _events(trigger: SkyLaunchTrigger) -> list[dict]:
    async def collect():
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def _rebuild(trigger: SkyLaunchTrigger) -> SkyLaunchTrigger:
    """What the triggerer does after a restart: import the classpath, call it with the kwargs."""
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


@pytest.fixture
def cluster(sshd_available, make_local_plan):
    def start(run: str) -> runner.ClusterHandle:
        task = TaskSpec.from_dict({"name": "trig", "run": run})
        handle, _ = runner.provision(task, make_local_plan("local-a1"), cluster_name="trig", log=lambda _: None)
        runner.start_job(handle, task, log=lambda _: None)
        handles.append(handle)
        return handle

    handles: list[runner.ClusterHandle] = []
    yield start
    for handle in handles:
        runner.teardown(handle, log=lambda _: None)


def test_serialize_round_trip_keeps_every_kwarg():
    handle = {"cluster_name": "c", "instances": [{}, {}], "candidate": {}, "key_path": "/k"}
    trigger = SkyLaunchTrigger(handle=handle, offsets=[5, 7], poll_interval=0.5, deadline=123.0,
                               launch_state={"restarts": 1, "attempts": [{"outcome": "capacity"}]})
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_sky.triggers.launch.SkyLaunchTrigger"
    assert _rebuild(trigger).serialize() == (classpath, kwargs)
    assert kwargs["offsets"] == [5, 7] and "BEGIN OPENSSH" not in str(kwargs)


def test_finished_job_yields_one_event_with_exit_code(cluster):
    handle = cluster("echo hello; exit 0")
    events = _events(SkyLaunchTrigger(handle=handle.to_dict(), poll_interval=0.1))
    assert [(e["status"], e["exit_code"]) for e in events] == [("finished", 0)]


def test_failing_job_resumes_with_the_log_tail_read_by_the_worker(cluster):
    handle = cluster("echo the-last-words; exit 3")
    [event] = _events(SkyLaunchTrigger(handle=handle.to_dict(), poll_interval=0.1))
    assert event == {"status": "finished", "cluster_name": "trig", "exit_code": 3}
    resumed = runner.resume_event(event)
    assert "the-last-words" in resumed["log_tail"]
    assert resumed["handle"]["instances"] == handle.to_dict()["instances"]


def test_event_is_small_and_carries_no_host_key_or_key_path(cluster):
    handle = cluster("echo done")
    launch_state = {"plan": {"candidates": [{"cloud": "local"}] * 50}, "restarts": 0}
    [event] = _events(SkyLaunchTrigger(handle=handle.to_dict(), poll_interval=0.1, launch_state=launch_state))
    text = json.dumps(event)
    assert len(text) < 500, text
    assert handle.nodes()[0].host_key.split()[1] not in text and handle.key_path not in text
    assert runner.resume_event(event)["launch_state"] == launch_state  # kept in the cluster's record


def test_polling_never_blocks_the_event_loop(cluster, caplog):
    handle = cluster("for i in $(seq 15); do echo line-$i; sleep 0.1; done")

    async def follow() -> list[dict]:
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = 0.05
        trigger = SkyLaunchTrigger(handle=handle.to_dict(), poll_interval=0.05)
        return [event.payload async for event in trigger.run()]

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        events = asyncio.run(follow(), debug=True)
    assert [e["status"] for e in events] == ["finished"]
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()]
    assert slow == []


def test_trigger_keeps_one_ssh_connection_across_polls(cluster, monkeypatch):
    import asyncssh

    handle = cluster("sleep 1")
    opened = []
    real_connect = asyncssh.connect

    async def counting_connect(*args, **kwargs):
        opened.append(args)
        return await real_connect(*args, **kwargs)

    monkeypatch.setattr(asyncssh, "connect", counting_connect)
    [event] = _events(SkyLaunchTrigger(handle=handle.to_dict(), poll_interval=0.05))
    assert event["status"] == "finished" and len(opened) == 1


def test_vanished_job_process_ends_at_once_with_its_log_tail(cluster):
    handle = cluster("echo about-to-vanish; sleep 30")
    time.sleep(0.5)
    job_pid = int((Path(handle.nodes()[0].remote_root) / ".sky/job/pid").read_text())
    os.kill(job_pid, signal.SIGKILL)
    started = time.monotonic()
    [event] = _events(SkyLaunchTrigger(handle=handle.to_dict(), poll_interval=0.1))
    assert event["status"] == "vanished" and time.monotonic() - started < 3
    assert "about-to-vanish" in runner.resume_event(event)["log_tail"]


class _Lines:
    """Stands in for the trigger's logger to see exactly which job lines it printed."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, fmt: str, *args: object) -> None:
        self.lines.append(fmt % args)


def test_restarted_trigger_does_not_print_lines_again(cluster):
    handle = cluster("echo first-line; sleep 1.5; echo second-line")
    first = SkyLaunchTrigger(handle=handle.to_dict(), poll_interval=0.1)
    first._log = printed_before = _Lines()

    async def until_first_line():
        async for _ in first.run():
            pass

    async def run_then_stop():  # the triggerer stops: the trigger is cancelled mid-poll
        task = asyncio.ensure_future(until_first_line())
        while printed_before.lines != ["first-line"]:
            await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run_then_stop())
    restarted = _rebuild(first)  # same kwargs as at deferral: offsets [0]
    restarted._log = printed_after = _Lines()
    [event] = _events(restarted)
    assert event["status"] == "finished"
    assert printed_after.lines == ["second-line"]


def test_rebuilt_trigger_resumes_from_its_offset(cluster):
    handle = cluster("echo first-line; sleep 1.5; echo second-line")
    time.sleep(0.3)
    first = runner.poll(handle, [0])
    assert "first-line" in first.new_log and "second-line" not in first.new_log
    # a triggerer restart: a fresh trigger from the serialised kwargs, resuming at the offset
    resumed = _rebuild(SkyLaunchTrigger(handle=handle.to_dict(), offsets=first.offsets, poll_interval=0.1))
    resumed._log = printed = _Lines()
    [event] = _events(resumed)
    assert event["status"] == "finished"
    assert printed.lines == ["second-line"]


def test_preempted_node_yields_preempted(cluster):
    handle = cluster("sleep 30")
    local.preempt(handle.nodes()[0].instance_id)
    [event] = _events(SkyLaunchTrigger(handle=handle.to_dict(), poll_interval=0.1))
    assert event["status"] == "preempted"


def test_deadline_passed_yields_timeout(cluster):
    handle = cluster("echo waiting; sleep 30")
    [event] = _events(SkyLaunchTrigger(handle=handle.to_dict(), poll_interval=0.1, deadline=time.time() + 0.3))
    assert event["status"] == "timeout" and "waiting" in runner.resume_event(event)["log_tail"]


def test_on_kill_tears_the_cluster_down(cluster):
    handle = cluster("sleep 30")
    asyncio.run(SkyLaunchTrigger(handle=handle.to_dict()).on_kill())
    assert local.describe("trig", "local-a", {}) == []


def test_trigger_refuses_a_node_whose_host_key_changed(cluster):
    import asyncssh

    from airflow_provider_sky.launch import ssh

    handle = cluster("sleep 30").to_dict()
    handle["instances"][0]["host_key"] = " ".join(ssh.generate_keypair()[1].split()[:2])
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        _events(SkyLaunchTrigger(handle=handle, poll_interval=0.1))
