"""The local cloud: sshd VMs with pinned host keys, capacities, and clean termination."""

from __future__ import annotations

import os
from pathlib import Path

import paramiko
import pytest

from airflow_provider_sky.launch import ssh, state
from airflow_provider_sky.launch.backends import local
from airflow_provider_sky.launch.backends.base import TAG_CLUSTER, CapacityError, ProvisionRequest, QuotaError

pytestmark = pytest.mark.sshd


def _request(cluster: str, zone: str = "local-a1", nodes: int = 1) -> ProvisionRequest:
    _, public = state.ensure_cluster_key(cluster)
    return ProvisionRequest(cluster, "local", zone[:-1], zone, "local-small", False, nodes, public,
                            tags={TAG_CLUSTER: cluster})


def test_launched_vm_answers_ssh_only_with_its_pinned_host_key(sshd_available):
    [vm] = local.launch(_request("c1"), {})
    key_path = state.cluster_dir("c1") / state.PRIVATE_KEY
    try:
        client = ssh.connect(vm.ssh_host, vm.ssh_port, vm.ssh_user, key_path, vm.host_key)
        code, out, _ = ssh.run(client, "echo ok")
        client.close()
        assert (code, out.strip()) == (0, "ok")
        _, other_host_key = ssh.generate_keypair()
        with pytest.raises(paramiko.BadHostKeyException):
            ssh.connect(vm.ssh_host, vm.ssh_port, vm.ssh_user, key_path, other_host_key)
        with pytest.raises(ssh.NodeUnreachable):
            ssh.connect(vm.ssh_host, vm.ssh_port, vm.ssh_user, key_path, None)
    finally:
        local.terminate("c1", "local-a", {})
        state.remove_cluster("c1")
    assert local.describe("c1", "local-a", {}) == []


def test_cluster_key_is_private_to_the_owner():
    key_path, public = state.ensure_cluster_key("c2")
    try:
        assert oct(os.stat(key_path).st_mode & 0o777) == "0o600"
        assert public.startswith("ssh-ed25519 ")
    finally:
        state.remove_cluster("c2")


def test_zone_without_capacity_raises_capacity_error_scoped_to_the_zone():
    with pytest.raises(CapacityError) as info:
        local.launch(_request("c3", "local-a1"), {"capacity": {"local-a1": 0}})
    state.remove_cluster("c3")
    assert (info.value.scope, info.value.zone) == ("zone", "local-a1")


def test_region_quota_raises_quota_error_scoped_to_the_region(monkeypatch):
    monkeypatch.setenv(local.ENV_CAPACITY, '{"local-a": 0}')
    with pytest.raises(QuotaError) as info:
        local.launch(_request("c4", "local-a2"), {})
    state.remove_cluster("c4")
    assert (info.value.scope, info.value.region) == ("region", "local-a")


def test_capacity_counts_running_vms(sshd_available):
    local.launch(_request("c5", "local-b1"), {"capacity": {"local-b1": 1}})
    try:
        with pytest.raises(CapacityError):
            local.launch(_request("c6", "local-b1"), {"capacity": {"local-b1": 1}})
    finally:
        local.terminate("c5", "local-b", {})
        state.remove_cluster("c5")
        state.remove_cluster("c6")


def test_preempted_vm_is_reported_terminated_until_cleaned_up(sshd_available):
    [vm] = local.launch(_request("c7"), {})
    local.preempt(vm.instance_id)
    try:
        [seen] = local.describe("c7", "local-a", {})
        assert seen.state == "terminated"
    finally:
        local.terminate("c7", "local-a", {})
        state.remove_cluster("c7")


def test_vm_sessions_live_in_the_vm_home_and_never_run_the_host_users_bashrc(sshd_available):
    [vm] = local.launch(_request("c-home"), {})
    key_path = state.cluster_dir("c-home") / state.PRIVATE_KEY
    (Path(vm.remote_root) / ".bashrc").write_text("echo from-the-vm-bashrc\n")
    try:
        client = ssh.connect(vm.ssh_host, vm.ssh_port, vm.ssh_user, key_path, vm.host_key)
        code, out, _ = ssh.run(client, 'echo "home=$HOME"')
        client.close()
    finally:
        local.terminate("c-home", "local-a", {})
        state.remove_cluster("c-home")
    # bash sources $HOME/.bashrc for ssh commands: the VM's own, never the host user's
    assert code == 0 and out.splitlines() == ["from-the-vm-bashrc", f"home={vm.remote_root}"]
