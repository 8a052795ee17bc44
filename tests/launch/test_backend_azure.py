"""Azure module on recorded ARM request/response shapes (no emulator exists), plus an opt-in live test."""

from __future__ import annotations

import base64
import json
import os

import pytest
import yaml

from airflow_provider_sky.launch import ssh
from airflow_provider_sky.launch.backends import azure
from airflow_provider_sky.launch.backends.base import TAG_CLUSTER, CapacityError, ProvisionRequest, QuotaError
from airflow_provider_sky.launch.console_keys import HostKeyUnavailable
from tests.launch.replay import ReplayAdapter, heartbeat_once

SUBSCRIPTION = "00000000-1111-2222-3333-444444444444"
OPTIONS = {
    "subscription_id": SUBSCRIPTION,
    "resource_group": "sky-rg",
    "subnet_id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/sky-rg/providers/Microsoft.Network/"
    "virtualNetworks/sky-vnet/subnets/default",
}
# The ed25519 host key in the recorded boot diagnostics serial log of az-c1-0 (next to an ECDSA key).
RECORDED_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMZ8jH8xhFVsfqpeeWUyMNqPTYxVnbrm0Kq3G0Dea/46"


class _Credential:
    """A token credential that never talks to Entra ID."""

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken("replayed-token", 4102444800)

    def get_token_info(self, *scopes, options=None):
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo("replayed-token", 4102444800)


@pytest.fixture
def replay(monkeypatch):
    """Run the real ComputeManagementClient over a requests session that replays recordings."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from azure.mgmt.compute import ComputeManagementClient

    adapters: list[ReplayAdapter] = []

    def use(*names: str) -> ReplayAdapter:
        adapter = ReplayAdapter(*names)
        adapters.append(adapter)
        session = requests.Session()
        session.mount("https://", adapter)

        def client(options):
            return ComputeManagementClient(_Credential(), options["subscription_id"], polling_interval=0,
                                           transport=RequestsTransport(session=session, session_owner=False))

        monkeypatch.setattr(azure, "_client", client)
        monkeypatch.setattr(azure, "_blob_session", lambda: session)  # the serial log blob, by its SAS URL
        return adapter

    yield use
    for adapter in adapters:
        adapter.assert_done()


def _request(zone: str | None = None, spot: bool = False) -> ProvisionRequest:
    host_private, host_public = ssh.generate_keypair()  # a pair a caller could hand (the runner hands none): never sent
    return ProvisionRequest("az-c1", "azure", "eastus", zone, "Standard_D2s_v5", spot, 1, "ssh-ed25519 AAAAuser",
                            host_key_private=host_private, host_key_public=host_public,
                            tags={TAG_CLUSTER: "az-c1", "sky-managed": "true", "sky-dag": "train_dag",
                                  "sky-run": "manual__2026-11-23T10:00:00+00:00"})


def test_launch_creates_vm_with_nic_and_ip_that_die_with_it(replay):
    adapter = replay("azure_launch_ok")
    [node] = azure.launch(_request(), OPTIONS)
    assert (node.instance_id, node.region, node.ssh_host, node.state) == ("az-c1-0", "eastus", "20.51.10.7",
                                                                           "running")
    assert node.host_key == RECORDED_HOST_KEY  # from the boot diagnostics serial log
    assert node.tags["sky-run"] == "manual__2026-11-23T10:00:00+00:00"
    assert adapter.requests[0][0] == "PUT"


def test_custom_data_carries_the_login_key_and_no_private_key(replay):
    adapter = replay("azure_launch_ok")
    azure.launch(_request(), OPTIONS)
    properties = adapter.requests[0][2]["properties"]
    custom_data = base64.b64decode(properties["osProfile"]["customData"]).decode()
    assert "PRIVATE KEY" not in json.dumps(adapter.requests) and "PRIVATE KEY" not in custom_data
    assert "ssh_keys" not in yaml.safe_load(custom_data)
    assert properties["diagnosticsProfile"] == {"bootDiagnostics": {"enabled": True}}


def test_a_serial_log_without_host_keys_deletes_the_vm_and_names_it_with_the_fix(replay):
    adapter = replay("azure_launch_no_host_keys", "azure_terminate")
    with pytest.raises(HostKeyUnavailable) as info:
        azure.launch(_request(), OPTIONS | {"host_key_timeout": 0})
    assert str(info.value).startswith("VM az-c1-0 (azure eastus) printed no SSH host keys")
    assert '{"azure": {"host_key_timeout": SECONDS}}' in str(info.value)
    assert [m for m, _, _ in adapter.requests[5:]] == ["POST", "GET", "GET", "DELETE", "GET"]


def test_sku_not_available_is_a_capacity_error_blocking_the_region(replay):
    replay("azure_sku_not_available")
    with pytest.raises(CapacityError) as info:
        azure.launch(_request(), OPTIONS)
    assert (info.value.code, info.value.scope) == ("SkuNotAvailable", "region")


def test_allocation_failed_in_the_async_operation_is_a_capacity_error(replay):
    replay("azure_allocation_failed")
    with pytest.raises(CapacityError) as info:
        azure.launch(_request(), OPTIONS)
    assert info.value.code == "AllocationFailed"


def test_core_quota_is_a_region_quota_error(replay):
    replay("azure_quota_exceeded")
    with pytest.raises(QuotaError) as info:
        azure.launch(_request(), OPTIONS)
    assert (info.value.code, info.value.scope, info.value.region) == ("OperationNotAllowed", "region", "eastus")


def test_spot_and_zone_shape_the_body():
    body = azure.vm_body(_request(zone="eastus-2", spot=True), "az-c1-0", OPTIONS)
    assert body["zones"] == ["2"]
    assert body["properties"]["priority"] == "Spot" and body["properties"]["evictionPolicy"] == "Delete"


def test_terminate_deletes_and_waits(replay):
    adapter = replay("azure_terminate")
    azure.terminate("az-c1", "eastus", OPTIONS)
    assert [m for m, _, _ in adapter.requests] == ["GET", "DELETE", "GET"]


def test_list_tagged_finds_managed_vms(replay):
    replay("azure_list_tagged")
    assert [i.tags[TAG_CLUSTER] for i in azure.list_tagged(OPTIONS)] == ["az-c1"]


@pytest.mark.live(env=("SKY_LIVE_AZURE_SUBSCRIPTION", "SKY_LIVE_AZURE_RESOURCE_GROUP", "SKY_LIVE_AZURE_SUBNET_ID",
                       "AZURE_CLIENT_ID"))
def test_live_azure_launch_and_terminate():
    """Creates and deletes one Standard_B1s in the given resource group (costs cents)."""
    from airflow_provider_sky.launch.runner import make_tags

    options = {"subscription_id": os.environ["SKY_LIVE_AZURE_SUBSCRIPTION"],
               "resource_group": os.environ["SKY_LIVE_AZURE_RESOURCE_GROUP"],
               "subnet_id": os.environ["SKY_LIVE_AZURE_SUBNET_ID"]}
    request = ProvisionRequest("sky-live-az", "azure", os.environ.get("SKY_LIVE_AZURE_REGION", "eastus"), None,
                               "Standard_B1s", False, 1,
                               "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBkjF3p8j0Ow0NvXhYd9zqCj3a3R0F1d0QjQm6lW0QxS",
                               tags=make_tags("sky-live-az", ttl_seconds=3600))
    try:
        assert len(azure.launch(request, options)) == 1
    finally:
        azure.terminate("sky-live-az", request.region, options)
    assert azure.describe("sky-live-az", request.region, options) == []


def test_the_owners_heartbeat_patches_the_vms_tags_keeping_the_others(replay):
    """The janitor counts an Azure cluster's TTL from its last heartbeat: the beat must reach the VM's tags."""
    adapter = replay("azure_set_tags")
    method, body = heartbeat_once(adapter, "azure", "az-c1", "eastus", OPTIONS, ttl=7200, now=1_800_000_000)
    assert method == "PATCH" and body["tags"]["sky-heartbeat"] == "1800000000"
    assert body["tags"]["sky-expires"] == "1800007200"
    assert body["tags"]["sky-run"] == "manual__2026-11-23T10:00:00+00:00"
