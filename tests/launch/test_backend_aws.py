"""AWS EC2 module against moto in server mode, with injected capacity and quota errors.

moto's instance IPs are not reachable, so the end-to-end test gives each EC2 instance an SSH
endpoint from the local backend: a local sshd whose host key the instance's console shows in
cloud-init's shape (moto's own console is a kernel log without keys; see moto_capacity.py), so
the module pins, from GetConsoleOutput, the key that sshd really serves.
"""

from __future__ import annotations

import base64

import paramiko
import pytest
import yaml

from airflow_provider_sky.launch import runner, ssh, state
from airflow_provider_sky.launch.backends import aws
from airflow_provider_sky.launch.backends.base import TAG_CLUSTER, CapacityError, ProvisionRequest, QuotaError
from airflow_provider_sky.launch.console_keys import HostKeyUnavailable
from airflow_provider_sky.launch.plan import Candidate, LaunchPlan
from airflow_provider_sky.launch.task import TaskSpec
from tests.launch.conftest import cloud_init_console, reach_through_local_sshd

OPTIONS = {"image_id": "ami-12c6146b", "regions": ["us-east-1", "us-west-2"]}


@pytest.fixture
def options(moto_ec2):
    return OPTIONS | {"endpoint_url": moto_ec2.endpoint}


def _request(cluster: str, zone: str, nodes: int = 1) -> ProvisionRequest:
    host_private, host_public = ssh.generate_keypair()  # a pair a caller could hand (the runner hands none): never sent
    return ProvisionRequest(cluster, "aws", zone[:-1], zone, "t3.micro", False, nodes, "ssh-ed25519 AAAAtest",
                            host_key_private=host_private, host_key_public=host_public,
                            tags={TAG_CLUSTER: cluster, "sky-managed": "true", "sky-dag": "d"})


def _user_data(moto_ec2, instance_id: str) -> str:
    raw = moto_ec2.client("us-east-1").describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    return base64.b64decode(raw["UserData"]["Value"]).decode()


def test_launch_tags_instances_and_terminate_removes_them(options, moto_ec2):
    instances = aws.launch(_request("aws1", "us-east-1b", nodes=2), options)
    assert len(instances) == 2 and {i.zone for i in instances} == {"us-east-1b"}
    assert all(i.tags[TAG_CLUSTER] == "aws1" and i.tags["sky-dag"] == "d" for i in instances)
    assert "ssh-ed25519 AAAAtest" in _user_data(moto_ec2, instances[0].instance_id)

    aws.terminate("aws1", "us-east-1", options)

    assert aws.describe("aws1", "us-east-1", options) == []


def test_user_data_carries_the_login_key_and_no_private_key(options, moto_ec2):
    [instance] = aws.launch(_request("aws-ud", "us-east-1b"), options)
    try:
        text = _user_data(moto_ec2, instance.instance_id)
        config = yaml.safe_load(text)
        assert "PRIVATE KEY" not in text and "ssh_keys" not in config
        assert config["ssh_authorized_keys"] == ["ssh-ed25519 AAAAtest"]
        assert config["ssh_deletekeys"] is True and config["ssh"] == {"emit_keys_to_console": True}
    finally:
        aws.terminate("aws-ud", "us-east-1", options)


def test_the_host_key_is_pinned_from_the_console_output(options, moto_ec2):
    ecdsa = paramiko.ECDSAKey.generate()
    ed25519 = ssh.generate_keypair()[1]
    moto_ec2.console("aws-hk", cloud_init_console([f"{ecdsa.get_name()} {ecdsa.get_base64()}", ed25519]))
    [instance] = aws.launch(_request("aws-hk", "us-east-1b"), options)
    aws.terminate("aws-hk", "us-east-1", options)
    assert instance.host_key == " ".join(ed25519.split()[:2])  # ed25519 preferred over ecdsa


def test_a_console_without_host_keys_deletes_the_vm_and_names_it_with_the_fix(options, moto_ec2):
    moto_ec2.console("*", None)  # moto's own console output: a kernel log, no cloud-init key block
    with pytest.raises(HostKeyUnavailable) as info:
        aws.launch(_request("aws-nokey", "us-east-1b"), options | {"host_key_timeout": 0})
    message = str(info.value)
    assert message.startswith("VM i-") and "(aws us-east-1b) printed no SSH host keys" in message
    assert 'Fix: use an image whose cloud-init runs the keys_to_console module' in message
    assert '{"aws": {"host_key_timeout": SECONDS}}' in message
    assert (info.value.code, info.value.scope) == ("HostKeyNotFound", "cloud")
    assert moto_ec2.live_instances("us-east-1") == []


def test_a_bad_host_key_timeout_is_refused_before_any_vm_starts(options, moto_ec2):
    from airflow_provider_sky.errors import SkyUserError

    with pytest.raises(SkyUserError, match=r"aws.host_key_timeout='soon' is not a number of seconds"):
        aws.launch(_request("aws-bad", "us-east-1b"), options | {"host_key_timeout": "soon"})
    assert moto_ec2.live_instances("us-east-1") == []


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
def ssh_via_local(monkeypatch, moto_ec2):
    """Give every EC2 instance a reachable SSH endpoint: a local sshd whose host key its console shows."""
    reach_through_local_sshd(monkeypatch, aws, console=moto_ec2.console)


@pytest.mark.sshd
def test_the_pinned_host_key_is_the_key_the_vm_serves(options, moto_ec2, ssh_via_local, sshd_available):
    [instance] = aws.launch(_request("aws-served", "us-east-1b"), options)
    try:
        with paramiko.Transport((instance.ssh_host, instance.ssh_port)) as transport:
            transport.start_client(timeout=10)
            served = transport.get_remote_server_key()
        assert instance.host_key == f"{served.get_name()} {served.get_base64()}"
    finally:
        aws.terminate("aws-served", "us-east-1", options)


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
