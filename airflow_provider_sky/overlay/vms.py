"""Gateways on VMs from the compute backends, started over SSH: ``gateway_cloud="local"``.

Each gateway is a one-node cluster provisioned exactly as a launch is (``launch.runner.provision``):
the same zone failover on capacity errors, the same tags (``sky-managed``, ``sky-cluster``,
``sky-expires``, DAG/run/task), the same pinned SSH host keys and state records, so
``airflow-sky janitor`` finds and deletes gateway VMs a dead worker left. The gateway software
is started over SSH: its identity directory (certificate, key, token) goes up by SFTP, the
daemon starts detached, and its ``ready.json`` (the ports it bound) comes back the same way.
Teardown deletes the clusters, which kills everything that ran on them.

Today the embedded ``local`` cloud (sshd "VMs" on loopback) is the backend this runs on; the
cloud backends need a gateway image and reachable addresses, see docs/overlay.md.
"""

from __future__ import annotations

import json
import posixpath
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_sky.errors import SkyError, SkyUserError
from airflow_provider_sky.overlay.fleet import GatewayProcess, gateway_argv

GATEWAY_INSTANCE = {"local": "local.medium"}  # a gateway needs cores and a NIC, not memory
READY_TIMEOUT_S = 30.0
GATEWAY_TTL_S = 6 * 3600.0  # the janitor's safety net for a gateway VM whose teardown never ran


@dataclass
class _Task:
    """What ``launch.runner.provision`` reads of a task: its name and node count."""

    name: str
    num_nodes: int = 1


def backend_region(region: str) -> tuple[str, str]:
    """``local:local-a`` -> (``local``, ``local-a``): the grid's region id as a compute backend sees it."""
    cloud, _, name = region.partition(":")
    if cloud != "local" or not name:
        raise SkyUserError(
            f"Gateway VMs for {region} would need the {cloud} compute backend, which cannot start gateways yet",
            "use overlay='never' (the direct path), or plan over local:* regions or a live testbed",
        )
    return cloud, name


def _zones(cloud: str, region: str, instance_type: str) -> list[str | None]:
    """The catalog's zones for the gateway type in ``region``, or just the region when it lists none."""
    from airflow_provider_sky.launch.catalog.sources import load_catalog

    catalog = load_catalog(cloud)
    zones = sorted({
        catalog.zone_names[catalog.zone[i]]
        for i in range(len(catalog))
        if catalog.has_zones and catalog.region_names[catalog.region[i]] == region
        and catalog.itype_names[catalog.itype[i]] == instance_type
    })  # fmt: skip
    return list(zones) or [None]


@dataclass
class VmPlacement:
    """Gateways on compute-backend VMs, one single-node cluster each."""

    tags: dict[str, str] = field(default_factory=dict)  # DAG/run/task tags from the operator
    options: dict[str, Any] = field(default_factory=dict)  # backend options (e.g. local capacities)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    name: str = "local"

    # -- the addresses a VM gateway has are its own ------------------------------------------
    def data_host(self, from_region: str, to_region: str) -> str:
        raise AssertionError("VM gateways are dialled at their own host (GatewayProcess.host)")

    def store_endpoint(self, region: str, scheme: str) -> str | None:
        return None

    def to_doc(self) -> dict[str, Any]:
        return {"kind": "vm", "tags": self.tags, "options": self.options}

    # -- start and release ------------------------------------------------------------------
    def start_gateway(
        self, gateway_id: str, region: str, directory: Path, *, memory_mb: int, idle_timeout_s: float
    ) -> GatewayProcess:
        from airflow_provider_sky.launch import runner as launch_runner
        from airflow_provider_sky.launch.plan import Candidate, LaunchPlan

        cloud, backend = backend_region(region)
        instance_type = GATEWAY_INSTANCE[cloud]
        job_id = directory.parent.parent.name  # <jobs root>/<job id>/gateways/<gateway id>
        cluster = f"sky-gw-{job_id}-{gateway_id}"[:60]
        zones = _zones(cloud, backend, instance_type)
        candidates = [Candidate(cloud, backend, zone, instance_type, False, 0.0) for zone in zones]
        tags = launch_runner.make_tags(cluster, ttl_seconds=GATEWAY_TTL_S) | self.tags
        attempts: list[Any] = []
        try:
            handle, attempts = launch_runner.provision(
                _Task(cluster), LaunchPlan(cluster, candidates), cluster_name=cluster, tags=tags,
                options={cloud: self.options}, attempts=attempts, log=lambda line: None,
            )  # fmt: skip
        finally:
            self.attempts.extend({"gateway": gateway_id} | a.__dict__ for a in attempts)
        try:
            return self._start_on(handle, gateway_id, region, directory, memory_mb, idle_timeout_s)
        except BaseException:
            launch_runner.teardown(handle, log=lambda line: None)
            raise

    def _start_on(
        self, handle: Any, gateway_id: str, region: str, directory: Path, memory_mb: int, idle: float
    ) -> GatewayProcess:
        from airflow_provider_sky.launch import job, ssh

        node = handle.nodes()[0]
        host = node.ssh_host or ""
        client = ssh.connect(host, node.ssh_port, node.ssh_user, handle.key_path, node.host_key)
        try:
            remote = job.remote_path(node, f"~/sky-gateway/{gateway_id}")
            sftp = client.open_sftp()
            try:
                ssh.upload_tree(sftp, directory, remote)
                argv = gateway_argv(gateway_id, Path(remote), f"{host}:0", f"{host}:0", memory_mb, idle)
                argv[0] = sys.executable if node.cloud == "local" else "python3"
                command = (f"cd {shlex.quote(remote)} || exit 1; nohup setsid {shlex.join(argv)} > gateway.log 2>&1 "
                           "< /dev/null & echo $!")  # fmt: skip
                code, out, err = ssh.run(client, command)
                if code != 0:
                    raise SkyError(f"could not start gateway {gateway_id} on {node.instance_id}: {err.strip() or out}")
                ready = _wait_ready(sftp, posixpath.join(remote, "ready.json"), posixpath.join(remote, "gateway.log"))
            finally:
                sftp.close()
        finally:
            client.close()
        return GatewayProcess(
            gateway_id, region, f"https://{host}:{ready['control_port']}", int(ready["data_port"]),
            int(out.strip() or 0), time.time(), host=host, cluster=handle.cluster_name,
        )  # fmt: skip

    def release(self, processes: list[GatewayProcess]) -> None:
        """Delete each gateway's cluster (its processes die with it) and its state record."""
        from airflow_provider_sky.launch import runner as launch_runner

        errors = []
        for process in processes:
            if process.cluster:
                try:
                    launch_runner.teardown_by_name(process.cluster, log=lambda line: None)
                except SkyError as exc:  # the state record stays: the janitor retries
                    errors.append(str(exc))
        if errors:
            raise SkyError("; ".join(errors))


def _wait_ready(sftp: Any, path: str, log_path: str) -> dict[str, Any]:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with sftp.open(path) as fh:
                return json.loads(fh.read())
        except (OSError, ValueError):
            time.sleep(0.1)
    try:
        with sftp.open(log_path) as fh:
            tail = fh.read()[-800:].decode(errors="replace")
    except OSError:
        tail = ""
    raise SkyError(f"the gateway did not report ready within {READY_TIMEOUT_S:.0f} s: {tail.strip() or 'no log'}")
