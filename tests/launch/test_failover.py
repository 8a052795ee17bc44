"""Failover: zone, then region, then cloud, in plan order, skipping what an error blocked."""

from __future__ import annotations

import pytest

from airflow_provider_sky.launch import runner
from airflow_provider_sky.launch.task import TaskSpec

pytestmark = pytest.mark.sshd

TASK = TaskSpec.from_dict({"name": "fo", "resources": {"cloud": "local"}, "run": "echo done"})


def test_failover_through_zones_lands_in_the_third_and_lists_two_failures(sshd_available, make_local_plan):
    plan = make_local_plan("local-a1", "local-a2", "local-b1")
    options = {"local": {"capacity": {"local-a1": 0, "local-a2": 0, "local-b1": 1}}}
    logged: list[str] = []

    result = runner.launch_task(TASK, plan, options=options, log=logged.append)

    assert result.candidate["zone"] == "local-b1"
    assert [(a["zone"], a["outcome"]) for a in result.attempts] == [
        ("local-a1", "capacity"), ("local-a2", "capacity"), ("local-b1", "launched"),
    ]
    assert all(a["seconds"] >= 0 for a in result.attempts)
    assert sum("attempt failed: capacity" in line for line in logged) == 2


def test_region_quota_blocks_the_other_zones_of_that_region(sshd_available, make_local_plan):
    plan = make_local_plan("local-a1", "local-a2", "local-b1")
    handle, attempts = runner.provision(TASK, plan, cluster_name="quota", log=lambda _: None,
                                        options={"local": {"capacity": {"local-a": 0}}})
    runner.teardown(handle, log=lambda _: None)

    assert [(a.zone, a.outcome) for a in attempts] == [
        ("local-a1", "quota"), ("local-a2", "skipped"), ("local-b1", "launched"),
    ]
    assert "region local:local-a is blocked" in attempts[1].error


def test_exhausted_candidates_give_one_error_listing_every_attempt(make_local_plan):
    plan = make_local_plan("local-a1", "local-b1")
    options = {"local": {"capacity": {"local-a1": 0, "local-b1": 0}}}

    with pytest.raises(runner.AllCandidatesFailed) as info:
        runner.launch_task(TASK, plan, options=options, log=lambda _: None, cluster_name="none-left")
    assert runner.state.list_clusters() == []  # no key or record left behind

    message = str(info.value)
    assert "all 2 candidates tried failed" in message
    assert "local:local-a/local-a1" in message and "local:local-b/local-b1" in message
    assert message.count("capacity") >= 2
    assert "Fix:" in message


def test_without_failover_only_the_first_candidate_is_tried(make_local_plan):
    plan = make_local_plan("local-a1", "local-b1")
    with pytest.raises(runner.AllCandidatesFailed) as info:
        runner.provision(TASK, plan, cluster_name="nofo", failover=False, log=lambda _: None,
                         options={"local": {"capacity": {"local-a1": 0}}})
    assert [a.zone for a in info.value.attempts] == ["local-a1"]


def test_spot_preemption_relaunches_on_next_candidate_and_reruns(
    sshd_available, make_local_plan, monkeypatch
):
    from airflow_provider_sky.launch.backends import local

    plan = make_local_plan("local-a1", "local-b1", spot=True)
    task = TaskSpec.from_dict({"name": "spot", "run": "echo run-$SKY_NODE_RANK; sleep 1.5; echo finished"})
    started = []
    real_start = runner.start_job

    def start_and_preempt_first(handle, task, log, store_credentials=None):
        real_start(handle, task, log=log)
        started.append(handle.candidate["zone"])
        if len(started) == 1:
            local.preempt(handle.nodes()[0].instance_id)

    monkeypatch.setattr(runner, "start_job", start_and_preempt_first)
    result = runner.launch_task(task, plan, max_restarts=1, log=lambda _: None, poll_interval=0.2)

    assert started == ["local-a1", "local-b1"]
    assert result.restarts == 1 and result.exit_code == 0
    assert [a["outcome"] for a in result.attempts] == ["launched", "preempted", "skipped", "launched"]


def test_preemption_beyond_max_restarts_fails(sshd_available, make_local_plan, monkeypatch):
    from airflow_provider_sky.launch.backends import local

    plan = make_local_plan("local-a1", "local-b1", spot=True)
    task = TaskSpec.from_dict({"name": "spot", "run": "sleep 5"})
    real_start = runner.start_job

    def start_and_preempt(handle, task, log, store_credentials=None):
        real_start(handle, task, log=log)
        local.preempt(handle.nodes()[0].instance_id)

    monkeypatch.setattr(runner, "start_job", start_and_preempt)
    with pytest.raises(runner.JobFailed, match="lost a node"):
        runner.launch_task(task, plan, max_restarts=0, log=lambda _: None, poll_interval=0.2)


def test_the_runner_hands_no_host_private_key_to_any_cloud_module(make_local_plan, monkeypatch):
    """VMs make their own host keys; a private key made by the launcher would have to travel to them."""
    from airflow_provider_sky.launch.backends import local

    seen = []
    original = local.launch

    def recording_launch(request, options):
        seen.append(request)
        return original(request, options)

    monkeypatch.setattr(local, "launch", recording_launch)
    plan = make_local_plan("local-a1", "local-b1")
    with pytest.raises(runner.AllCandidatesFailed):
        runner.provision(TASK, plan, cluster_name="nokey", log=lambda _: None,
                         options={"local": {"capacity": {"local-a1": 0, "local-b1": 0}}})
    assert len(seen) == 2
    assert all(r.host_key_private == "" and r.host_key_public == "" for r in seen)
