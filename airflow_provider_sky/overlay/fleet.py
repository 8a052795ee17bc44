"""Where gateways run, and how they reach each other: a placement starts gateway processes.

A placement answers four questions per region: how to start a process there, where the
runner reaches its control API, which address a gateway in one region dials to reach one in
another (in the testbed that picks the shaped link between the two namespaces), and which
store endpoint a gateway there sees. ``LoopbackPlacement`` runs every gateway on 127.0.0.1
(no shaping); ``testbed.placement`` runs each inside its region's network namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psutil

from airflow_provider_sky.errors import SkyError

READY_TIMEOUT_S = 20.0


class Placement(Protocol):
    """Where gateways run: starts them, says how they reach each other, releases them."""

    name: str

    def start_gateway(
        self, gateway_id: str, region: str, directory: Path, *, memory_mb: int, idle_timeout_s: float
    ) -> GatewayProcess: ...

    def data_host(self, from_region: str, to_region: str) -> str: ...

    def store_endpoint(self, region: str, scheme: str) -> str | None: ...

    def release(self, processes: list[GatewayProcess]) -> None: ...

    def to_doc(self) -> dict[str, Any]: ...


class ProcessPlacement:
    """Gateways as processes started by ``spawn`` (subclasses say where and how they are reached)."""

    name = "process"

    def spawn(self, region: str, argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, **popen)

    def control_host(self, region: str) -> str:
        return "127.0.0.1"

    def bind_host(self, region: str) -> str:
        return "127.0.0.1"

    def start_gateway(
        self, gateway_id: str, region: str, directory: Path, *, memory_mb: int, idle_timeout_s: float
    ) -> GatewayProcess:
        return start_gateway(self, gateway_id, region, directory, memory_mb=memory_mb, idle_timeout_s=idle_timeout_s)

    def release(self, processes: list[GatewayProcess]) -> None:
        for process in processes:
            if gateway_alive(process.pid, process.gateway_id):
                kill_gateway(process.pid, process.gateway_id)


@dataclass
class LoopbackPlacement(ProcessPlacement):
    """Every gateway a local process on 127.0.0.1: for tests, `airflow-sky` without clouds, benchmarks."""

    endpoints: dict[str, dict[str, str]] = field(default_factory=dict)  # region -> scheme -> URL
    name: str = "loopback"

    def data_host(self, from_region: str, to_region: str) -> str:
        return "127.0.0.1"

    def store_endpoint(self, region: str, scheme: str) -> str | None:
        return self.endpoints.get(region, {}).get(scheme)

    def to_doc(self) -> dict[str, Any]:
        return {"kind": self.name, "endpoints": self.endpoints}


def placement_from_doc(doc: dict[str, Any]) -> Placement:
    """The placement a handle recorded, so a re-plan in the triggerer can start gateways like launch did."""
    if doc.get("kind") == "testbed":
        from airflow_provider_sky.testbed.placement import TestbedPlacement

        return TestbedPlacement(doc["layout"], doc.get("endpoints", {}))
    if doc.get("kind") == "vm":
        from airflow_provider_sky.overlay.vms import VmPlacement

        return VmPlacement(doc.get("tags", {}), doc.get("options", {}))
    return LoopbackPlacement(doc.get("endpoints", {}))


@dataclass
class GatewayProcess:
    """One running gateway as the runner records it (plain data: goes into the trigger's handle)."""

    gateway_id: str
    region: str
    control_url: str
    data_port: int
    pid: int
    started_at: float
    host: str = ""  # its own address, when peers dial it there (VMs); "" when the placement says
    cluster: str = ""  # the compute cluster it runs on (VM placements)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gateway_argv(gateway_id: str, directory: Path, control: str, data: str, memory_mb: int, idle: float) -> list[str]:
    return [
        sys.executable, "-m", "airflow_provider_sky.gateway.serve", "--id", gateway_id, "--dir", str(directory),
        "--control", control, "--data", data, "--memory-mb", str(memory_mb), "--idle-timeout", str(idle),
    ]  # fmt: skip


def start_gateway(
    placement: ProcessPlacement, gateway_id: str, region: str, directory: Path, *, memory_mb: int, idle_timeout_s: float
) -> GatewayProcess:
    """Start one gateway process and wait for its ready line (ports it bound)."""
    control_host = placement.control_host(region)
    argv = gateway_argv(
        gateway_id, directory, f"{control_host}:0", f"{placement.bind_host(region)}:0", memory_mb, idle_timeout_s
    )
    log = open(directory / "gateway.log", "ab")  # noqa: SIM115 - handed to the child
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        proc = placement.spawn(
            region, argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, env=env,
            start_new_session=True,
        )  # fmt: skip
    finally:
        log.close()
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT_S
    line = b""
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
        elif proc.poll() is not None:
            break
    proc.stdout.close()
    try:
        doc = json.loads(line)
    except ValueError:
        kill_gateway(proc.pid)
        tail = (directory / "gateway.log").read_text(errors="replace")[-800:]
        raise SkyError(f"gateway {gateway_id} in {region} did not start: {tail.strip() or 'no output'}") from None
    return GatewayProcess(
        gateway_id, region, f"https://{control_host}:{doc['control_port']}", int(doc["data_port"]), proc.pid,
        time.time(),
    )  # fmt: skip


def _is_gateway(proc: psutil.Process, gateway_id: str) -> bool:
    with contextlib.suppress(psutil.Error):
        cmd = proc.cmdline()
        return "airflow_provider_sky.gateway.serve" in cmd and gateway_id in cmd
    return False


def gateway_alive(pid: int, gateway_id: str) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and _is_gateway(proc, gateway_id)
    except psutil.Error:
        return False


def kill_gateway(pid: int, gateway_id: str | None = None, timeout: float = 5.0) -> None:
    """Kill a gateway's process group, checking first that the PID is still that gateway."""
    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        return
    if gateway_id is not None and not _is_gateway(proc, gateway_id):
        return  # the PID was reused by something else: not ours to kill
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(psutil.Error):
        proc.wait(timeout=timeout)
