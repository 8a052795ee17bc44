"""GCE module on recorded request/response shapes (no emulator exists), plus an opt-in live test."""

from __future__ import annotations

import json
import os

import pytest

from airflow_provider_sky.launch import ssh
from airflow_provider_sky.launch.backends import gcp
from airflow_provider_sky.launch.backends.base import TAG_CLUSTER, CapacityError, ProvisionRequest, QuotaError
from airflow_provider_sky.launch.console_keys import HostKeyUnavailable
from tests.launch.replay import ReplayAdapter, heartbeat_once

OPTIONS = {"project": "sky-proj"}
# The ed25519 host key the recorded serial port output of gcp-c1-0 prints (next to an ECDSA key).
RECORDED_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII3gEo/2CSTng31GTaiwaJlPKDxysAkJuAisL9gmiDwZ"


@pytest.fixture
def replay(monkeypatch):
    """Mount a replay of the named recordings under the real google-cloud-compute clients."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import compute_v1

    adapters: list[ReplayAdapter] = []

    def use(*names: str) -> ReplayAdapter:
        adapter = ReplayAdapter(*names)
        adapters.append(adapter)

        def clients(options):
            instances = compute_v1.InstancesClient(credentials=AnonymousCredentials())
            operations = compute_v1.ZoneOperationsClient(credentials=AnonymousCredentials())
            for client in (instances, operations):
                client._transport._session.mount("https://", adapter)
            return gcp.Clients(instances, operations, options["project"])

        monkeypatch.setattr(gcp, "_clients", clients)
        return adapter

    yield use
    for adapter in adapters:
        adapter.assert_done()


def _request(zone: str, spot: bool = False) -> ProvisionRequest:
    host_private, host_public = ssh.generate_keypair()  # a pair a caller could hand (the runner hands none): never sent
    return ProvisionRequest("gcp-c1", "gcp", zone.rsplit("-", 1)[0], zone, "n2-standard-2", spot, 1,
                            "ssh-ed25519 AAAAuser", host_key_private=host_private, host_key_public=host_public,
                            tags={TAG_CLUSTER: "gcp-c1", "sky-managed": "true", "sky-dag": "train_dag",
                                  "sky-run": "manual__2026-11-23T10:00:00"})


def test_launch_inserts_labelled_instance_and_reports_its_address(replay):
    adapter = replay("gcp_launch_ok")
    [node] = gcp.launch(_request("us-central1-b"), OPTIONS)
    assert (node.instance_id, node.zone, node.ssh_host, node.state) == ("gcp-c1-0", "us-central1-b",
                                                                         "34.123.45.67", "running")
    assert node.host_key == RECORDED_HOST_KEY  # read from serial port 1, where cloud-init printed it
    labels = adapter.requests[0][2]["labels"]
    assert labels["sky-run"] == "manual__2026-11-23t10-00-00"  # sanitised to GCE's label rules


def test_instance_metadata_carries_the_login_key_and_no_private_key(replay):
    adapter = replay("gcp_launch_ok")
    gcp.launch(_request("us-central1-b"), OPTIONS)
    metadata = {item["key"]: item["value"] for item in adapter.requests[0][2]["metadata"]["items"]}
    assert metadata["ssh-keys"] == "sky:ssh-ed25519 AAAAuser"
    assert "PRIVATE KEY" not in json.dumps(adapter.requests) and "ssh_keys" not in metadata["user-data"]


def test_a_serial_console_without_host_keys_deletes_the_vm_and_names_it_with_the_fix(replay):
    adapter = replay("gcp_launch_no_host_keys", "gcp_terminate")
    with pytest.raises(HostKeyUnavailable) as info:
        gcp.launch(_request("us-central1-b"), OPTIONS | {"host_key_timeout": 0})
    assert str(info.value).startswith("VM gcp-c1-0 (gcp us-central1-b) printed no SSH host keys")
    assert '{"gcp": {"host_key_timeout": SECONDS}}' in str(info.value)
    assert [(m, p.rsplit("/", 1)[-1]) for m, p, _ in adapter.requests[3:]] == [
        ("GET", "serialPort"), ("GET", "instances"), ("DELETE", "gcp-c1-0"), ("POST", "wait")]


def test_pool_exhausted_in_operation_is_a_zone_capacity_error(replay):
    replay("gcp_zone_exhausted")
    with pytest.raises(CapacityError) as info:
        gcp.launch(_request("us-central1-a"), OPTIONS)
    assert (info.value.code, info.value.scope, info.value.zone) == ("ZONE_RESOURCE_POOL_EXHAUSTED", "zone",
                                                                      "us-central1-a")


def test_regional_quota_at_insert_is_a_region_quota_error(replay):
    replay("gcp_quota_exceeded")
    with pytest.raises(QuotaError) as info:
        gcp.launch(_request("us-west1-a"), OPTIONS)
    assert (info.value.scope, info.value.region) == ("region", "us-west1")


def test_spot_request_asks_for_spot_provisioning(monkeypatch):
    body = gcp.instance_body(_request("us-central1-b", spot=True), "gcp-c1-0", OPTIONS)
    assert body["scheduling"] == {"provisioning_model": "SPOT", "instance_termination_action": "DELETE"}


def test_terminate_deletes_and_waits(replay):
    adapter = replay("gcp_terminate")
    gcp.terminate("gcp-c1", "us-central1", OPTIONS)
    assert [m for m, _, _ in adapter.requests] == ["GET", "DELETE", "POST"]


def test_describe_and_list_tagged(replay):
    replay("gcp_describe_gone", "gcp_list_tagged")
    assert gcp.describe("gcp-c1", "us-central1", OPTIONS) == []
    assert [i.tags[TAG_CLUSTER] for i in gcp.list_tagged(OPTIONS)] == ["gcp-c1"]


@pytest.mark.live(env=("SKY_LIVE_GCP_PROJECT", "GOOGLE_APPLICATION_CREDENTIALS"))
def test_live_gcp_launch_and_terminate():
    """Creates and deletes one e2-micro in the given project (costs cents)."""
    from airflow_provider_sky.launch.runner import make_tags

    options = {"project": os.environ["SKY_LIVE_GCP_PROJECT"]}
    request = ProvisionRequest("sky-live-gcp", "gcp", "us-central1", "us-central1-a", "e2-micro", False, 1,
                               "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBkjF3p8j0Ow0NvXhYd9zqCj3a3R0F1d0QjQm6lW0QxS",
                               tags=make_tags("sky-live-gcp", ttl_seconds=3600))
    try:
        assert len(gcp.launch(request, options)) == 1
    finally:
        gcp.terminate("sky-live-gcp", "us-central1", options)
    assert gcp.describe("sky-live-gcp", "us-central1", options) == []


def test_replay_rejects_a_request_whose_shape_differs_from_the_recording(replay, monkeypatch):
    adapter = replay("gcp_launch_ok")
    real_body = gcp.instance_body
    monkeypatch.setattr(gcp, "instance_body", lambda *a: real_body(*a) | {"description": "extra key"})
    with pytest.raises(AssertionError, match="description"):
        gcp.launch(_request("us-central1-b"), OPTIONS)
    adapter.pending.clear()


def test_the_owners_heartbeat_merges_into_the_instances_labels_under_their_fingerprint(replay):
    """The janitor counts a GCE cluster's TTL from its last heartbeat: the beat must reach the labels."""
    adapter = replay("gcp_set_labels")
    method, body = heartbeat_once(adapter, "gcp", "gcp-c1", "us-central1", OPTIONS, ttl=3600, now=1_800_000_000)
    assert method == "POST" and body["labels"]["sky-heartbeat"] == "1800000000"
    assert body["labels"]["sky-expires"] == "1800003600"
    assert body["labels"]["sky-run"] == "manual__2026-11-23t10-00-00"  # the labels it had are kept
