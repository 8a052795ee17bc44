"""Gateways on EC2 VMs (moto server), provisioned like launches and started over SSH.

moto's instances are not reachable, so each EC2 instance gets an SSH endpoint from the local
backend (``ssh_via_local``, the launch tests' fixture): the EC2 API calls, tags, waiters and
terminations are moto's; the gateway daemon, its mTLS data channel and the store I/O are real.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_sky.launch import state
from airflow_provider_sky.launch.backends.base import TAG_CLUSTER, TAG_EXPIRES, TAG_HEARTBEAT, TAG_MANAGED
from airflow_provider_sky.overlay import runner
from airflow_provider_sky.overlay.vms import VmPlacement, backend_site, listen_addresses, setup_command
from airflow_provider_sky.overlay.watch import watch
from airflow_provider_sky.transfer.request import CopyRequest
from tests.launch.test_backend_aws import OPTIONS as EC2_OPTIONS
from tests.overlay.conftest import read_tree, triangle_plan

SRC, RELAY, DST = "aws:us-east-1", "aws:us-west-2", "aws:eu-west-1"


def _tags(instance: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in instance.get("Tags", [])}


def _live(moto, region: str) -> list[dict]:
    pages = moto.client(region).describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )
    return [i for r in pages["Reservations"] for i in r["Instances"]]


@pytest.mark.sshd
def test_gateways_on_ec2_copy_s3_through_a_relay_and_terminate_every_instance(
    moto_ec2, ssh_via_local, sshd_available, fresh_bucket, tmp_path: Path
) -> None:  # fmt: skip
    bucket = fresh_bucket("s3")
    sent = {"big.bin": bytes(range(256)) * 30_000, "small.txt": b"hello ec2 gateways\n"}
    for name, data in sent.items():
        bucket.store.put(bucket.bucket, name, data, hashlib.md5(data).digest(), {})
    dst = tmp_path / "dst"
    options = {"aws": EC2_OPTIONS | {"endpoint_url": moto_ec2.endpoint, "gateway_python": sys.executable}}
    placement = VmPlacement({"sky-dag": "ec2_dag", "sky-run": "run-1", "sky-task": "copy"}, options)
    request = CopyRequest.build(bucket.url, f"file://{dst}/")
    credentials = bucket.emulator.credentials
    handle = runner.start(request, triangle_plan(source=SRC, relay=RELAY, dest=DST), {f"file://{dst}/": DST},
                          placement, credentials)  # fmt: skip
    try:
        by_region = {r: _live(moto_ec2, r.split(":")[1]) for r in (SRC, RELAY, DST)}
        assert {r: len(v) for r, v in by_region.items()} == {SRC: 1, RELAY: 1, DST: 1}
        tags = [_tags(i) for v in by_region.values() for i in v]
        assert all(t[TAG_MANAGED] == "true" and t["sky-dag"] == "ec2_dag" and TAG_EXPIRES in t for t in tags)
        assert {i["InstanceType"] for v in by_region.values() for i in v} == {"m5.8xlarge"}
        assert sorted(state.list_clusters()) == sorted(t[TAG_CLUSTER] for t in tags)
        for region, instances in by_region.items():  # as if the last beat were long ago
            moto_ec2.client(region.split(":")[1]).create_tags(
                Resources=[i["InstanceId"] for i in instances], Tags=[{"Key": TAG_HEARTBEAT, "Value": "1"}])
        handle.options["heartbeat_interval_s"] = 0.0  # beat at every poll
        outcome = asyncio.run(watch(handle, timeout_s=60))
        beats = [int(_tags(i)[TAG_HEARTBEAT]) for r in (SRC, RELAY, DST) for i in _live(moto_ec2, r.split(":")[1])]
        assert len(beats) == 3 and min(beats) > time.time() - 300  # the watch moved every gateway's TTL
    except BaseException:
        runner.teardown(handle, credentials=credentials)
        raise
    summary = runner.finish(handle, outcome, credentials)
    assert read_tree(dst) == sent and summary.destinations[0].objects_copied == 2
    assert outcome.edges[f"{SRC}->{RELAY}"]["bytes"] > 0 and outcome.edges[f"{RELAY}->{DST}"]["bytes"] > 0
    assert all(_live(moto_ec2, r.split(":")[1]) == [] for r in (SRC, RELAY, DST))
    assert state.list_clusters() == []


def test_grid_regions_map_to_their_clouds_zones_first() -> None:
    site = backend_site("gcp:us-central1-a")
    assert (site.cloud, site.region, site.zone) == ("gcp", "us-central1", "us-central1-a")
    assert (backend_site("aws:us-east-1").region, backend_site("azure:eastus").zone) == ("us-east-1", None)
    with pytest.raises(Exception, match="no compute backend for 'lambda'"):
        backend_site("lambda:us-east-1")


def test_cloud_gateways_listen_on_every_interface_at_fixed_ports_and_loopback_vms_take_free_ports() -> None:
    assert listen_addresses("34.1.2.3", {}) == ("0.0.0.0:8470", "0.0.0.0:8471")
    assert listen_addresses("34.1.2.3", {"gateway_ports": [9000, 9001]}) == ("0.0.0.0:9000", "0.0.0.0:9001")
    assert listen_addresses("127.0.0.1", {}) == ("127.0.0.1:0", "127.0.0.1:0")


def test_setup_installs_this_version_only_when_the_image_lacks_it() -> None:
    from airflow_provider_sky.get_provider_info import VERSION

    command = setup_command("python3", {})
    assert command.startswith("python3 -c 'import airflow_provider_sky.gateway.serve' 2>/dev/null || ")
    assert f"pip install --quiet --user airflow-provider-sky=={VERSION}" in command
    assert setup_command("python3", {"gateway_setup": ""}) == ""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "is neither JSON nor a literal mapping"),
        ('["aws"]', "is a list, not a mapping"),
        ('{"aws": "ami-1"}', "must map clouds to mappings"),
        ('{"lambda": {}}', "unknown cloud(s) lambda"),
    ],
)
def test_backend_options_arrive_as_text_and_are_parsed_strictly(value: str, message: str) -> None:
    from airflow_provider_sky.errors import SkyUserError
    from airflow_provider_sky.params import parse_backend_options

    with pytest.raises(SkyUserError, match=re.escape(message)):
        parse_backend_options("backend_options", value)
    assert parse_backend_options("backend_options", '{"aws": {"image_id": "ami-1"}}') == {"aws": {"image_id": "ami-1"}}
