"""Nothing outlives a launch: SIGTERM tears down, SIGKILL leaves what `airflow-sky janitor` removes.

The launches here are real `airflow-sky launch` processes on the local backend (sshd VMs); the
package's own leak check (conftest ``sky_state``) then asserts no sshd, job process, VM dir or
cluster state is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from airflow_provider_sky.cli import janitor
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch import runner, state
from airflow_provider_sky.launch.backends import aws, local
from airflow_provider_sky.launch.backends.base import TAG_HEARTBEAT
from airflow_provider_sky.launch.plan import Candidate, LaunchPlan
from airflow_provider_sky.launch.task import TaskSpec

TASK_YAML = """\
name: leak
resources: {cloud: local}
run: |
  echo job-is-running
  sleep 60
"""


def _marked_processes() -> list[psutil.Process]:
    """Live processes of this test's local VMs (sessions and jobs carry the VM's marker)."""
    root = str(local.vms_root())
    out = []
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
            if env.get(local.ENV_ROOT) == root and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(proc)
        except psutil.Error:
            continue
    return out


def _sshd_pids() -> list[int]:
    return [json.loads(p.read_text())["pid"] for p in local.vms_root().glob("*/meta.json")]


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _start_launch(tmp_path: Path, sky_state: Path) -> subprocess.Popen:
    task = tmp_path / "leak.yaml"
    task.write_text(TASK_YAML)
    env = {**os.environ, "SKY_STATE_DIR": str(sky_state), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_sky.cli.main", "launch", str(task), "--cloud", "local"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if "job-is-running" in line:
            return proc
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"the launch never ran its job:\n{''.join(seen)[-2000:]}")


@pytest.mark.sshd
def test_sigterm_mid_run_tears_the_cluster_down(sshd_available, tmp_path, sky_state):
    proc = _start_launch(tmp_path, sky_state)
    [sshd] = _sshd_pids()
    assert _running(sshd) and _marked_processes() and state.list_clusters()  # sshd and the job run now

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)

    assert "tore down sky-leak-" in out
    assert not _running(sshd) and _marked_processes() == []
    assert state.list_clusters() == [] and list((sky_state / "local-vms").iterdir()) == []


@pytest.mark.sshd
def test_janitor_removes_a_killed_launch_and_keeps_one_whose_owner_lives(
    sshd_available, tmp_path, sky_state, make_local_plan
):
    alive = runner.make_tags("owner-alive")  # owned by this (living) test process
    runner.provision(TaskSpec.from_dict({"run": "true"}), make_local_plan("local-b1"), cluster_name="owner-alive",
                     tags=alive, log=lambda _: None)  # fmt: skip
    proc = _start_launch(tmp_path, sky_state)
    [killed] = [c for c in state.list_clusters() if c != "owner-alive"]
    sshd_pids = _sshd_pids()
    proc.kill()
    proc.communicate(timeout=30)
    assert all(_running(pid) for pid in sshd_pids) and _marked_processes()  # SIGKILL left sshd and the job

    env = {**os.environ, "SKY_STATE_DIR": str(sky_state)}
    done = subprocess.run([sys.executable, "-m", "airflow_provider_sky.cli.main", "janitor"],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip

    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if killed in line)
    assert "deleted" in row and "owner process is gone" in row
    assert state.list_clusters() == ["owner-alive"]
    assert {i.tags["sky-cluster"] for i in local.list_tagged({})} == {"owner-alive"}
    assert all(p.environ()[local.ENV_MARKER].startswith("owner-alive") for p in _marked_processes())
    [alive_sshd] = _sshd_pids()
    assert [pid for pid in sshd_pids if _running(pid)] == [alive_sshd]
    runner.teardown_by_name("owner-alive", log=lambda _: None)


def test_janitor_removes_a_record_left_before_any_vm_existed(make_local_plan):
    record = {"cluster_name": "half", "candidate": make_local_plan("local-a1").candidates[0].to_dict(),
              "instances": [], "key_path": "", "tags": runner.make_tags("half") | {"sky-owner-pid": "999999999"}}
    state.ensure_cluster_key("half")
    state.save_record("half", record)

    [verdict] = janitor.sweep(["local"], run_is_over=lambda d, r: None)

    assert verdict.cluster == "half" and "owner process is gone" in (verdict.reason or "")
    assert state.list_clusters() == []


def test_a_reused_pid_is_not_the_owner():
    from airflow_provider_sky.launch import owner

    mine = owner.this_process()
    assert owner.is_gone(mine) is False
    assert owner.is_gone(mine | {"sky-owner-started": str(int(mine["sky-owner-started"]) - 500)}) is True
    assert owner.is_gone({}) is None


AWS_OPTIONS = {"image_id": "ami-12c6146b", "regions": ["us-east-1"]}


def _aws_cluster(name: str, options: dict) -> runner.ClusterHandle:
    from airflow_provider_sky.launch.backends.base import ProvisionRequest

    tags = runner.make_tags(name, ttl_seconds=3600)
    aws.launch(ProvisionRequest(name, "aws", "us-east-1", "us-east-1a", "t3.micro", False, 1, "ssh-ed25519 A",
                                tags=tags), options)  # fmt: skip
    candidate = Candidate("aws", "us-east-1", "us-east-1a", "t3.micro", False, 0.01).to_dict()
    return runner.ClusterHandle(name, candidate, [], "", options=options, tags=tags)


def test_janitor_deletes_a_cloud_cluster_whose_heartbeat_is_older_than_its_ttl(moto_ec2):
    options = AWS_OPTIONS | {"endpoint_url": moto_ec2.endpoint}
    stale, fresh = _aws_cluster("beat-stale", options), _aws_cluster("beat-fresh", options)
    runner.heartbeat(stale, now=time.time() - 2 * 3600)  # its owner stopped beating 2 h ago (TTL 1 h)
    runner.heartbeat(fresh)

    janitor.sweep(["aws"], options={"aws": options}, run_is_over=lambda d, r: None)

    [left] = aws.list_tagged(options)
    assert left.tags["sky-cluster"] == "beat-fresh" and left.tags[TAG_HEARTBEAT] == fresh.tags[TAG_HEARTBEAT]
    aws.terminate("beat-fresh", "us-east-1", options)


def test_capacity_errors_on_every_zone_leave_no_key_dir_or_record(moto_ec2):
    options = AWS_OPTIONS | {"endpoint_url": moto_ec2.endpoint}
    moto_ec2.fail(capacity=["us-east-1a", "us-east-1b"])
    plan = LaunchPlan("full", [Candidate("aws", "us-east-1", z, "t3.micro", False, 0.01)
                               for z in ("us-east-1a", "us-east-1b")])  # fmt: skip
    with pytest.raises(runner.AllCandidatesFailed, match=r"all 2 candidates tried failed"):
        runner.provision(TaskSpec.from_dict({"run": "true"}), plan, cluster_name="full",
                         options={"aws": options}, log=lambda _: None)  # fmt: skip
    assert not state.cluster_dir("full").exists()


def test_an_unexpected_provisioning_error_leaves_no_key_dir(make_local_plan, monkeypatch):
    monkeypatch.setattr(local, "sshd_path", lambda: None)
    with pytest.raises(SkyUserError, match="sshd is not installed"):
        runner.provision(TaskSpec.from_dict({"run": "true"}), make_local_plan("local-a1"), cluster_name="nosshd",
                         log=lambda _: None)  # fmt: skip
    assert not state.cluster_dir("nosshd").exists()
    assert list((state.state_root() / "local-vms").iterdir()) == []
