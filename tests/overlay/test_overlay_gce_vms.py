"""A gateway on a GCE VM: provisioned by the gcp module over recorded API shapes (no emulator
exists), in the grid region's zone, started over SSH, and deleted on release."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch import state
from airflow_provider_sky.launch.backends import gcp
from tests.launch.conftest import reach_through_local_sshd
from tests.launch.test_backend_gcp import OPTIONS as GCE_OPTIONS
from tests.launch.test_backend_gcp import replay  # noqa: F401 - the real compute_v1 clients over recordings
from tests.overlay.conftest import one_vm_gateway, secrets_in_requests

pytestmark = pytest.mark.sshd


def test_a_gateway_on_gce_runs_in_the_grid_zone_and_its_vm_is_deleted(
    replay, sshd_available, tmp_path: Path, monkeypatch  # noqa: F811 - the fixture imported above
) -> None:  # fmt: skip
    reach_through_local_sshd(monkeypatch, gcp)
    job_dir = tmp_path / "0123456789ab"
    cluster = "sky-gw-0123456789ab-gcp-us-central1-b-0"
    adapter = replay("gcp_launch_ok", "gcp_terminate", "gcp_describe_gone").rename({"gcp-c1": cluster})
    options = {"gcp": GCE_OPTIONS | {"gateway_instance_type": "n2-standard-2", "gateway_python": sys.executable}}

    placement, process, health = one_vm_gateway("gcp:us-central1-b", options, job_dir)
    try:
        insert = adapter.requests[0]
        assert insert[0] == "POST" and insert[1].endswith("/zones/us-central1-b/instances")  # the grid's zone
        labels = insert[2]["labels"]
        assert labels["sky-cluster"] == cluster and labels["sky-managed"] == "true" and labels["sky-dag"] == "vm_dag"
        assert "sky-expires" in labels
        assert not secrets_in_requests(adapter.requests, tmp_path / "0123456789ab")  # they went by SFTP
        assert health["gateway_id"] == process.gateway_id
        assert state.list_clusters() == [cluster]
    finally:
        placement.release([process])
    assert [m for m, _, _ in adapter.requests[-4:]] == ["GET", "DELETE", "POST", "GET"]  # deleted, confirmed
    assert state.list_clusters() == []


def test_a_vm_whose_image_cannot_run_the_gateway_is_deleted_and_the_error_says_how_to_fix_it(
    replay, sshd_available, tmp_path: Path, monkeypatch  # noqa: F811 - the fixture imported above
) -> None:  # fmt: skip
    reach_through_local_sshd(monkeypatch, gcp)
    cluster = "sky-gw-0123456789ab-gcp-us-central1-b-0"
    adapter = replay("gcp_launch_ok", "gcp_terminate", "gcp_describe_gone").rename({"gcp-c1": cluster})
    options = {"gcp": GCE_OPTIONS | {"gateway_instance_type": "n2-standard-2", "gateway_setup": "exit 3"}}
    with pytest.raises(SkyUserError, match=r"could not be set up on .*exit status 3") as info:
        one_vm_gateway("gcp:us-central1-b", options, tmp_path / "0123456789ab")
    assert "gateway_setup and gateway_python in backend_options" in info.value.fix
    assert [m for m, _, _ in adapter.requests[-4:]] == ["GET", "DELETE", "POST", "GET"]  # deleted, confirmed
    assert state.list_clusters() == []
