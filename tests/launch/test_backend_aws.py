"""AWS EC2 module against moto in server mode, with injected capacity and quota errors.

moto's instance IPs are not reachable, so the end-to-end test gives each EC2 instance an SSH
endpoint from the local backend (a local sshd with the same host key the EC2 user data carries).
"""

from __future__ import annotations

import base64

import pytest

from airflow_provider_sky.launch import runner, state
from airflow_provider_sky.launch.backends import aws
from airflow_provider_sky.launch.backends.base import TAG_CLUSTER, CapacityError, ProvisionRequest, QuotaError
from airflow_provider_sky.launch.plan import Candidate, LaunchPlan
from airflow_provider_sky.launch.task import TaskSpec
from tests.launch.conftest import reach_through_local_sshd

OPTIONS = {"image_id": "ami-12c6146b", "regions": ["us-east-1", "us-west-2"]}


@pytest.fixture
def options(moto_ec2):
    return OPTIONS | {"endpoint_url": moto_ec2.endpoint}


def _request(cluster: str, zone: str, nodes: int = 1) -> ProvisionRequest:
    return ProvisionRequest(cluster, "aws", zone[:-1], zone, "t3.micro", False, nodes, "ssh-ed25519 AAAAtest",
                            tags={TAG_CLUSTER: cluster, "sky-managed": "true", "sky-dag": "d"})


def test_launch_tags_instances_and_terminate_removes_them(options, moto_ec2):
    instances = aws.launch(_request("aws1", "us-east-1b", nodes=2), options)
    assert len(instances) == 2 and {i.zone for i in instances} == {"us-east-1b"}
    assert all(i.tags[TAG_CLUSTER] == "aws1" and i.tags["sky-dag"] == "d" for i in instances)
    raw = moto_ec2.client("us-east-1").describe_instance_attribute(
        InstanceId=instances[0].instance_id, Attribute="userData")
    assert "ssh-ed25519 AAAAtest" in base64.b64decode(raw["UserData"]["Value"]).decode()

    aws.terminate("aws1", "us-east-1", options)

    assert aws.describe("aws1", "us-east-1", options) == []


def test_insufficient_capacity_in_a_zone_is_a_zone_scoped_capacity_error(options, moto_ec2):
    moto_ec2.fail(capacity=["us-east-1a"])
    with pytest.raises(CapacityError) as info:
        aws.launch(_request("aws2", "us-east-1a"), options)
    assert (info.value.code, info.value.scope, info.value.zone) == ("InsufficientInstanceCapacity", "zone",
                                                                      "us-east-1a")


def test_vcpu_limit_is_a_region_scoped_quota_error(options, moto_ec2):
    moto_ec2.fail(quota=["us-west-2"])
    with pytest.raises(QuotaError) as info:
        aws.launch(_request("aws3", "us-west-2a"), options)
    assert (info.value.code, info.value.scope) == ("VcpuLimitExceeded", "region")


def test_list_tagged_finds_managed_instances_in_every_region(options):
    aws.launch(_request("aws4", "us-west-2b"), options)
    try:
        assert [i.tags[TAG_CLUSTER] for i in aws.list_tagged(options)] == ["aws4"]
    finally:
        aws.terminate("aws4", "us-west-2", options)


@pytest.fixture
def ssh_via_local(monkeypatch):
    """Give every EC2 instance a reachable SSH endpoint: a local sshd with the requested host key."""
    reach_through_local_sshd(monkeypatch, aws)


@pytest.mark.sshd
def test_task_fails_over_from_a_full_zone_and_runs_over_ssh(options, moto_ec2, ssh_via_local, sshd_available):
    moto_ec2.fail(capacity=["us-east-1a"], quota=["us-west-2"])
    plan = LaunchPlan("aws-task", [
        Candidate("aws", "us-west-2", "us-west-2a", "t3.micro", False, 0.0104),
        Candidate("aws", "us-west-2", "us-west-2b", "t3.micro", False, 0.0104),
        Candidate("aws", "us-east-1", "us-east-1a", "t3.micro", False, 0.0104),
        Candidate("aws", "us-east-1", "us-east-1b", "t3.micro", False, 0.0104),
    ])
    task = TaskSpec.from_dict({"name": "aws-task", "run": "echo on-ec2"})
    lines: list[str] = []

    result = runner.launch_task(task, plan, options={"aws": options}, log=lines.append)

    assert [(a["zone"], a["outcome"]) for a in result.attempts] == [
        ("us-west-2a", "quota"), ("us-west-2b", "skipped"), ("us-east-1a", "capacity"), ("us-east-1b", "launched"),
    ]
    assert "on-ec2" in lines
    assert moto_ec2.live_instances("us-east-1") == [] and state.list_clusters() == []
