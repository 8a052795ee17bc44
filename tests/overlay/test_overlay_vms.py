"""Gateways on VMs of the embedded local cloud (sshd "VMs" started over SSH): provisioned like
launches, with zone failover, tags the janitor reads, and nothing left after teardown."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from airflow_provider_sky.launch import state
from airflow_provider_sky.launch.backends import local as local_cloud
from airflow_provider_sky.launch.backends.base import TAG_CLUSTER, TAG_EXPIRES, TAG_MANAGED
from airflow_provider_sky.overlay import runner
from airflow_provider_sky.overlay.vms import VmPlacement
from airflow_provider_sky.overlay.watch import watch
from airflow_provider_sky.transfer.request import CopyRequest
from tests.overlay.conftest import read_tree, triangle_plan, write_tree

pytestmark = pytest.mark.sshd
SRC, RELAY, DST = "local:local-a", "local:relay-r", "local:local-b"


def test_gateways_on_local_vms_copy_through_the_relay_and_leave_nothing(sshd_available, tmp_path: Path,
                                                                         monkeypatch) -> None:  # fmt: skip
    monkeypatch.setenv("SKY_LOCAL_CAPACITY", json.dumps({"local-a1": 0}))  # the first zone is full
    src, dst = tmp_path / "src", tmp_path / "dst"
    sent = write_tree(src, {"a.bin": 7_000_000, "b.txt": 500})
    placement = VmPlacement({"sky-dag": "overlay_dag", "sky-run": "run-1", "sky-task": "copy"})
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/")
    handle = runner.start(request, triangle_plan(source=SRC, relay=RELAY, dest=DST), {f"file://{dst}/": DST},
                          placement)  # fmt: skip
    try:
        vms = local_cloud.list_tagged({})
        assert len(vms) == 3 and all(vm.tags[TAG_MANAGED] == "true" for vm in vms)
        assert all(float(vm.tags[TAG_EXPIRES]) > time.time() for vm in vms)
        assert {vm.tags["sky-dag"] for vm in vms} == {"overlay_dag"}
        source_vm = next(vm for vm in vms if vm.region == "local-a")
        assert source_vm.zone == "local-a2"  # failed over from the full zone, as a launch would
        outcomes = [a["outcome"] for a in placement.attempts if a["region"] == "local-a"]
        assert outcomes == ["capacity", "launched"]
        assert sorted(state.list_clusters()) == sorted(vm.tags[TAG_CLUSTER] for vm in vms)
        outcome = asyncio.run(watch(handle, timeout_s=60))
    except BaseException:
        runner.teardown(handle)
        raise
    summary = runner.finish(handle, outcome)
    assert read_tree(dst) == sent and summary.destinations[0].objects_copied == 2
    assert outcome.edges[f"{SRC}->{RELAY}"]["bytes"] > 0
    assert local_cloud.list_tagged({}) == [] and state.list_clusters() == []


def test_the_janitor_deletes_gateway_vms_a_dead_runner_left_once_their_run_is_over(sshd_available, tmp_path):
    from airflow_provider_sky.cli import janitor

    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, {"a.bin": 1000})
    placement = VmPlacement({"sky-dag": "overlay_dag", "sky-run": "run-2", "sky-task": "copy"})
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/")
    handle = runner.start(request, triangle_plan(source=SRC, relay=RELAY, dest=DST), {f"file://{dst}/": DST},
                          placement)  # fmt: skip
    try:  # the worker "dies" here: no watch, no teardown
        running = janitor.sweep(["local"], run_is_over=lambda dag, run: False)
        assert [v.reason for v in running] == [None, None, None]  # a live run's gateways stay
        gone = janitor.sweep(["local"], run_is_over=lambda dag, run: run == "run-2")
        assert len([v for v in gone if v.reason]) == 3
        assert local_cloud.list_tagged({}) == [] and state.list_clusters() == []
    finally:
        runner.teardown(handle)
