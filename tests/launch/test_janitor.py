"""`airflow-sky janitor`: deletes expired or finished clusters, keeps live and kept ones."""

from __future__ import annotations

import time

import pytest

from airflow_provider_sky.cli import janitor
from airflow_provider_sky.cli.main import main
from airflow_provider_sky.launch import runner, state
from airflow_provider_sky.launch.backends import aws, local
from airflow_provider_sky.launch.task import TaskSpec

TASK = TaskSpec.from_dict({"name": "j", "run": "true"})


def _cluster(name: str, plan, **tag_args) -> runner.ClusterHandle:
    tags = runner.make_tags(name, dag_id="dag", run_id=tag_args.pop("run_id", "r1"), **tag_args)
    handle, _ = runner.provision(TASK, plan, cluster_name=name, tags=tags, log=lambda _: None)
    return handle


@pytest.mark.sshd
def test_janitor_deletes_expired_and_finished_runs_only(sshd_available, make_local_plan):
    plan = make_local_plan("local-a1")
    _cluster("expired", plan, ttl_seconds=-10)
    _cluster("finished", plan, run_id="done-run")
    _cluster("kept", plan, run_id="done-run", keep=True, ttl_seconds=600)
    _cluster("live", plan, run_id="running-run")
    over = {"done-run": True, "running-run": False}.get

    dry = janitor.sweep(["local"], dry_run=True, run_is_over=lambda dag, run: over(run))
    assert {v.cluster for v in dry if v.reason} == {"expired", "finished"}
    assert len(local.list_tagged({})) == 4  # dry run deleted nothing

    janitor.sweep(["local"], run_is_over=lambda dag, run: over(run))

    assert sorted({i.tags["sky-cluster"] for i in local.list_tagged({})}) == ["kept", "live"]
    assert sorted(state.list_clusters()) == ["kept", "live"]
    for name in ("kept", "live"):
        runner.teardown_by_name(name, log=lambda _: None)


@pytest.mark.sshd
def test_janitor_cli_dry_run_prints_a_table(sshd_available, make_local_plan, capsys):
    _cluster("old", make_local_plan("local-b1"), ttl_seconds=-5)
    try:
        assert main(["janitor", "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert "would delete" in out and "old" in out and "TTL passed" in out
        assert len(local.list_tagged({})) == 1
    finally:
        runner.teardown_by_name("old", log=lambda _: None)


def test_judge_ignores_untagged_vms_and_unknown_run_state():
    from airflow_provider_sky.launch.backends.base import Instance

    foreign = Instance("i-1", "aws", "us-east-1", None, "t3", "running", tags={"Name": "someone-elses"})
    unknown = Instance("i-2", "aws", "us-east-1", None, "t3", "running",
                       tags=runner.make_tags("c", dag_id="d", run_id="r"))
    verdicts = janitor.judge([foreign, unknown], now=time.time(), run_is_over=lambda d, r: None)
    assert [(v.cluster, v.reason) for v in verdicts] == [("c", None)]


def test_janitor_deletes_expired_ec2_instances(moto_ec2):
    from airflow_provider_sky.launch.backends.base import ProvisionRequest

    options = {"endpoint_url": moto_ec2.endpoint, "image_id": "ami-12c6146b", "regions": ["us-east-1"]}
    for name, ttl in (("ec2-old", -1), ("ec2-new", 3600)):
        aws.launch(ProvisionRequest(name, "aws", "us-east-1", "us-east-1a", "t3.micro", False, 1, "ssh-ed25519 A",
                                    tags=runner.make_tags(name, ttl_seconds=ttl)), options)

    janitor.sweep(["aws"], options={"aws": options}, run_is_over=lambda d, r: None)

    assert [i.tags["sky-cluster"] for i in aws.list_tagged(options)] == ["ec2-new"]
    aws.terminate("ec2-new", "us-east-1", options)
