"""Fixtures for overlay tests: a private state directory, source trees, and a leak check.

Every test ends with no gateway process and no job directory left, whatever happened in it.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from airflow_provider_sky.overlay.fleet import GatewayProcess
from airflow_provider_sky.overlay.vms import VmPlacement
from airflow_provider_sky.planner.plan import PlanEdge, TransferPlan
from tests.launch.conftest import moto_ec2, moto_ec2_server, sshd_available  # noqa: F401 - shared with launch tests
from tests.launch.test_backend_aws import ssh_via_local  # noqa: F401 - gives moto's EC2 instances a local sshd
from tests.testbed.conftest import make_testbed, netns_ready  # noqa: F401 - fixtures shared with the testbed tests


class _Gateway(psutil.Process):
    """A gateway process whose command line was read once (a zombie's can no longer be read)."""

    def __init__(self, pid: int, cmdline: list[str]) -> None:
        super().__init__(pid)
        self._argv = cmdline

    def cmdline(self) -> list[str]:
        return self._argv


def gateway_processes() -> list[psutil.Process]:
    """Live gateway daemons on this machine (zombies and processes gone meanwhile are not counted)."""
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmd = proc.info.get("cmdline") or []
        if "airflow_provider_sky.gateway.serve" in cmd and proc.info.get("status") != psutil.STATUS_ZOMBIE:
            try:
                found.append(_Gateway(proc.pid, list(cmd)))
            except psutil.Error:
                continue
    return found


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """SKY_STATE_DIR for the test (gateways inherit it); afterwards nothing of the job may remain."""
    state = tmp_path / "state"
    monkeypatch.setenv("SKY_STATE_DIR", str(state))
    yield state
    leftovers = [p for p in gateway_processes() if str(state) in " ".join(p.cmdline())]
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    assert not leftovers, f"gateway processes survived the test: {[p.pid for p in leftovers]}"
    jobs = state / "overlay-jobs"
    assert not jobs.exists() or not os.listdir(jobs), f"job directories survived: {os.listdir(jobs)}"


def write_tree(root: Path, sizes: dict[str, int], seed: int = 1) -> dict[str, bytes]:
    """Files of pseudo-random bytes (incompressible), returned by relative name."""
    import random

    rng = random.Random(seed)
    out = {}
    for name, size in sizes.items():
        data = rng.randbytes(size)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out[name] = data
    return out


def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def triangle_plan(direct_gbps: float = 0.02, relay_gbps: float = 0.2, source: str = "local:tb-src",
                  relay: str = "local:tb-relay", dest: str = "local:tb-dst") -> TransferPlan:  # fmt: skip
    """The triangle as the planner would route it at full throughput: relayed path plus direct link."""
    return TransferPlan(
        source=source, destinations=[dest], objective="throughput", throughput_gbps=direct_gbps + relay_gbps,
        egress_usd_per_gb=0.0, vm_usd_per_gb=0.0,
        edges=[
            PlanEdge(source, relay, relay_gbps, 4, 0.0, relay_gbps),
            PlanEdge(relay, dest, relay_gbps, 4, 0.0, relay_gbps),
            PlanEdge(source, dest, direct_gbps, 1, 0.0, direct_gbps),
        ],
        vms={source: 1, relay: 1, dest: 1},
    )  # fmt: skip


def one_vm_gateway(region: str, options: dict, job_dir: Path) -> tuple[VmPlacement, GatewayProcess, dict]:
    """Start one gateway on a VM of ``region``'s cloud through VmPlacement; return it and its /health."""
    import asyncio

    from airflow_provider_sky.overlay.client import ControlClient
    from airflow_provider_sky.overlay.runner import _write_job_dir

    gateway_id = re.sub(r"[^a-z0-9]+", "-", region).strip("-") + "-0"
    _write_job_dir(job_dir, job_dir.name, {gateway_id: None})  # the runner's CA, token and identities
    directory = job_dir / "gateways" / gateway_id
    placement = VmPlacement({"sky-dag": "vm_dag", "sky-run": "run-1", "sky-task": "copy"}, options)
    process = placement.start_gateway(gateway_id, region, directory, memory_mb=64, idle_timeout_s=60)

    async def health() -> dict:
        async with ControlClient(job_dir, timeout=10.0) as client:
            return await client.health(process.control_url)

    try:
        return placement, process, asyncio.run(health())
    except BaseException:
        placement.release([process])
        raise


def secrets_in_requests(requests: list[tuple[str, str, object]], job_dir: Path) -> list[str]:
    """Which of the job's secrets (token, private keys) any recorded cloud API request carried."""
    import base64

    from airflow_provider_sky.gateway.tls import read_token

    secrets = {"job token": read_token(job_dir)}
    for key in job_dir.rglob("*key*"):
        secrets[str(key.relative_to(job_dir))] = "".join(key.read_text().splitlines()[1:-1])[:64]
    sent = " ".join(str(body) for _, _, body in requests)
    blobs = re.findall(r"[A-Za-z0-9+/]{200,}", sent)  # user data / customData travel base64-encoded
    decoded = " ".join(base64.b64decode(b[: len(b) // 4 * 4]).decode("latin-1") for b in blobs)
    return [name for name, value in secrets.items() if value and (value in sent or value in decoded)]

