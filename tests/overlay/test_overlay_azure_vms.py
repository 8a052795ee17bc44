"""A gateway on an Azure VM: provisioned by the azure module over recorded ARM shapes (no
emulator exists), started over SSH, and deleted (with its NIC and IP) on release."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from airflow_provider_sky.launch import state
from airflow_provider_sky.launch.backends import azure
from tests.launch.conftest import reach_through_local_sshd
from tests.launch.test_backend_azure import OPTIONS as AZURE_OPTIONS
from tests.launch.test_backend_azure import replay  # noqa: F401 - the real ComputeManagementClient over recordings
from tests.overlay.conftest import one_vm_gateway, secrets_in_requests

pytestmark = pytest.mark.sshd


def test_a_gateway_on_an_azure_vm_is_tagged_started_over_ssh_and_deleted(
    replay, sshd_available, tmp_path: Path, monkeypatch  # noqa: F811 - the fixture imported above
) -> None:  # fmt: skip
    reach_through_local_sshd(monkeypatch, azure)
    cluster = "sky-gw-0123456789ab-azure-eastus-0"
    adapter = replay("azure_launch_ok", "azure_terminate", "azure_describe_gone").rename({"az-c1": cluster})
    options = {"azure": AZURE_OPTIONS | {"gateway_instance_type": "Standard_D2s_v5", "gateway_python": sys.executable}}

    placement, process, health = one_vm_gateway("azure:eastus", options, tmp_path / "0123456789ab")
    try:
        method, path, body = adapter.requests[0]
        assert method == "PUT" and path.endswith(f"/virtualMachines/{cluster}-0")
        assert body["tags"]["sky-cluster"] == cluster and body["tags"]["sky-dag"] == "vm_dag"
        assert "sky-expires" in body["tags"] and body["location"] == "eastus"
        assert not secrets_in_requests(adapter.requests, tmp_path / "0123456789ab")  # they went by SFTP
        assert health["gateway_id"] == process.gateway_id
        assert state.list_clusters() == [cluster]
    finally:
        placement.release([process])
    assert [m for m, _, _ in adapter.requests[-4:]] == ["GET", "DELETE", "GET", "GET"]  # deleted, confirmed
    assert state.list_clusters() == []
