"""SkyLaunchTrigger: serialisable, restartable, and one terminal event per job."""

from __future__ import annotations

import asyncio
import importlib
import time

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


def test_failing_job_event_carries_the_log_tail(cluster):
    handle = cluster("echo the-last-words; exit 3")
    [event] = _events(SkyLaunchTrigger(handle=handle.to_dict(), poll_interval=0.1))
    assert event["exit_code"] == 3
    assert "the-last-words" in event["log_tail"]


class _Lines:
    """Stands in for the trigger's logger to see exactly which job lines it printed."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, fmt: str, *args: object) -> None:
        self.lines.append(fmt % args)


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
    assert event["status"] == "timeout" and "waiting" in event["log_tail"]


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
