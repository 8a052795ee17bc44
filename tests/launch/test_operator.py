"""SkyLaunchOperator: deferral, worker mode, failures with log tails, no secrets leaking."""

from __future__ import annotations

import asyncio
import inspect
import json
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_sky.launch import runner, state
from airflow_provider_sky.operators.launch import SkyLaunchOperator

pytestmark = pytest.mark.sshd


def _context(try_number: int = 1) -> dict:
    ti = SimpleNamespace(dag_id="dag", task_id="train", run_id="manual__1", map_index=-1, try_number=try_number,
                         xcom_push=lambda key, value: None)  # the plan view's XCom and link (tests/ui)
    return {"ti": ti}


def _operator(run: str, **kwargs) -> SkyLaunchOperator:
    plan = kwargs.pop("plan", None)
    return SkyLaunchOperator(task_id="train", task={"name": "op", "resources": {"cloud": "local"}, "run": run},
                             plan=plan, poll_interval=0.1, **kwargs)


def _run_deferred(op: SkyLaunchOperator, context: dict):
    """What Airflow does: execute, run the trigger to its event, resume with it."""
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger

    async def first_event():
        async for event in trigger.run():
            return event.payload

    event = asyncio.run(first_event())
    assert not deferred.value.kwargs  # resuming must need nothing but the event
    return deferred.value, getattr(op, deferred.value.method_name)(context, event=event)


def test_every_user_argument_is_templated():
    not_templated = {"self", "kwargs", "deferrable", "secrets", "assets"}  # secrets: kept out of the serialized
    # DAG; assets: Assets are registered when the DAG is parsed, before any rendering
    params = set(inspect.signature(SkyLaunchOperator.__init__).parameters) - not_templated
    assert params <= set(SkyLaunchOperator.template_fields)


def test_default_deferrable_follows_airflow_config(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "true")
    import importlib

    import airflow_provider_sky.operators.launch as module

    importlib.reload(module)
    try:
        assert module.SkyLaunchOperator(task_id="t", task={"run": "true"}).deferrable is True
    finally:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE")
        importlib.reload(module)


def test_deferred_launch_fails_over_and_returns_json_result(sshd_available, make_local_plan):
    plan = make_local_plan("local-a1", "local-b1").to_dict()
    op = _operator("echo trained", deferrable=True, plan=plan,
                   backend_options={"local": {"capacity": {"local-a1": 0}}})

    deferred, result = _run_deferred(op, _context())

    assert result["exit_code"] == 0 and result["candidate"]["zone"] == "local-b1"
    assert [a["outcome"] for a in result["attempts"]] == ["capacity", "launched"]
    assert result["cost_estimate_usd"] >= 0 and result["seconds"] > 0
    serialised = json.dumps({"xcom": result, "trigger": deferred.trigger.serialize()[1]})
    assert "PRIVATE KEY" not in serialised
    assert state.list_clusters() == []  # torn down


def test_failing_command_fails_the_task_with_its_log_tail(sshd_available, make_local_plan):
    op = _operator("echo about-to-fail; echo boom >&2; exit 7", deferrable=True,
                   plan=make_local_plan("local-a1").to_dict())
    with pytest.raises(runner.JobFailed) as info:
        _run_deferred(op, _context())
    assert info.value.exit_code == 7
    assert "about-to-fail" in str(info.value) and "boom" in str(info.value)
    assert state.list_clusters() == []


def test_worker_mode_runs_the_same_steps(sshd_available, make_local_plan):
    op = _operator("echo in-worker", deferrable=False, plan=make_local_plan("local-a2").to_dict())
    result = op.execute(_context())
    assert result["exit_code"] == 0 and result["candidate"]["zone"] == "local-a2"
    assert state.list_clusters() == []


def test_secrets_are_masked_and_not_in_the_result(sshd_available, make_local_plan):
    op = SkyLaunchOperator(
        task_id="train", deferrable=False, plan=make_local_plan("local-a1").to_dict(), poll_interval=0.1,
        task={"name": "s", "secrets": {"TOKEN": "s3cr3t-value"}, "run": 'test "$TOKEN" = s3cr3t-value'},
    )
    result = op.execute(_context())
    assert result["exit_code"] == 0
    assert "s3cr3t-value" not in json.dumps(result)


def test_keep_cluster_leaves_it_up_with_an_expiry_tag(sshd_available, make_local_plan):
    op = _operator("true", deferrable=False, keep_cluster=True, autostop_minutes=5,
                   plan=make_local_plan("local-a1").to_dict())
    result = op.execute(_context())
    record = state.load_record(result["cluster_name"])
    try:
        assert result["kept"] is True and record is not None
        expires = int(record["tags"]["sky-expires"])
        import time

        assert 0 < expires - time.time() <= 5 * 60
    finally:
        runner.teardown_by_name(result["cluster_name"], log=lambda _: None)


def test_trigger_failure_resumes_into_teardown(sshd_available, make_local_plan):
    op = _operator("sleep 30", deferrable=True, plan=make_local_plan("local-a1").to_dict())
    context = _context()
    with pytest.raises(TaskDeferred):
        op.execute(context)
    assert state.list_clusters() == [op.cluster_name_for(context)]
    with pytest.raises(Exception, match=r"[Tt]imeout"):
        op.resume_execution("__fail__", {"error": "Trigger timeout"}, context)
    assert state.list_clusters() == []


def test_deferred_spot_preemption_relaunches_and_defers_again(sshd_available, make_local_plan, monkeypatch):
    from airflow_provider_sky.launch.backends import local

    real_start = runner.start_job
    starts: list[str] = []

    def start_then_preempt_first(handle, task, log, store_credentials=None):
        real_start(handle, task, log=log)
        starts.append(handle.candidate["zone"])
        if len(starts) == 1:
            local.preempt(handle.nodes()[0].instance_id)

    monkeypatch.setattr(runner, "start_job", start_then_preempt_first)
    op = _operator("echo survived", deferrable=True, max_restarts=1,
                   plan=make_local_plan("local-a1", "local-b1", spot=True).to_dict())
    context = _context()
    with pytest.raises(TaskDeferred) as first:
        op.execute(context)

    async def first_event(trigger):
        async for event in trigger.run():
            return event.payload

    event = asyncio.run(first_event(first.value.trigger))
    assert event["status"] == "preempted"
    with pytest.raises(TaskDeferred) as second:
        op.execute_complete(context, event=event)
    result = op.execute_complete(context, event=asyncio.run(first_event(second.value.trigger)))

    assert starts == ["local-a1", "local-b1"]
    assert result["restarts"] == 1 and result["candidate"]["zone"] == "local-b1"
    assert [a["outcome"] for a in result["attempts"]] == ["launched", "preempted", "skipped", "launched"]


def test_deferred_job_whose_process_vanished_fails_at_once_saying_so(sshd_available, make_local_plan):
    import os
    import signal
    import time

    op = _operator("echo about-to-vanish; sleep 60", deferrable=True, plan=make_local_plan("local-a1").to_dict())
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(_context())
    time.sleep(0.5)
    [pid_file] = list(state.state_root().glob("local-vms/*/home/.sky/job/pid"))
    os.kill(int(pid_file.read_text()), signal.SIGKILL)

    async def first_event():
        async for event in deferred.value.trigger.run():
            return event.payload

    started = time.monotonic()
    event = asyncio.run(first_event())
    with pytest.raises(runner.JobFailed) as info:
        op.execute_complete(_context(), event=event)
    assert time.monotonic() - started < 5
    assert "'vanished'" in str(info.value) and "about-to-vanish" in str(info.value)
    assert state.list_clusters() == []


def test_the_polling_owner_refreshes_the_heartbeat(sshd_available, make_local_plan, monkeypatch):
    from airflow_provider_sky.launch.backends import local

    beats: list[str] = []
    real_set_tags = local.set_tags

    def recording_set_tags(cluster_name, region, options, tags):
        real_set_tags(cluster_name, region, options, tags)
        [vm] = local.describe(cluster_name, region, options)
        beats.append(vm.tags["sky-heartbeat"])

    monkeypatch.setattr(runner, "HEARTBEAT_SECONDS", 0.5)
    monkeypatch.setattr(local, "set_tags", recording_set_tags)
    op = _operator("sleep 2.5", deferrable=False, plan=make_local_plan("local-a1").to_dict())
    op.execute(_context())
    assert len(beats) >= 2 and beats == sorted(beats) and beats[-1] > beats[0]


def test_a_retry_first_deletes_the_cluster_an_earlier_try_left_behind(sshd_available, make_local_plan):
    """Try 1 ended before its teardown (as when Airflow fails a task resuming from deferral)."""
    plan = make_local_plan("local-a1").to_dict()
    left = _operator("true", deferrable=False, keep_cluster=True, plan=plan).execute(_context(try_number=1))
    assert state.load_record(left["cluster_name"]) is not None

    result = _operator("true", deferrable=False, plan=plan).execute(_context(try_number=2))

    assert result["exit_code"] == 0 and result["cluster_name"] != left["cluster_name"]
    assert state.load_record(left["cluster_name"]) is None
    assert state.list_clusters() == []
