"""Gateways on VMs from the compute backends, started over SSH: ``gateway_cloud="vm"``.

Each gateway is a one-node cluster in its region's own cloud (``aws:us-east-1`` -> EC2 in
us-east-1, ``gcp:us-central1-a`` -> GCE in that zone, ``azure:eastus``, ``local:*`` -> the
embedded sshd cloud), provisioned exactly as a launch is (``launch.runner.provision``): the same
zone failover on capacity errors, the same tags (``sky-managed``, ``sky-cluster``,
``sky-expires``, DAG/run/task), the same pinned SSH host keys and state records, so
``airflow-sky janitor`` finds and deletes gateway VMs a dead worker left.

The gateway software is started over SSH on every cloud (not cloud-init: SSH is what reports
failures back, and the job's certificate and token must not sit in user data, which any
process on the VM can read from the metadata service). Its identity directory (certificate,
key, token, store settings) goes up by SFTP; an optional setup command runs (by default: install
this package's version with pip when the image lacks it); the daemon starts detached; its
``ready.json`` (the ports it bound) comes back the same way. Teardown deletes the clusters,
which kills everything that ran on them.

Per-cloud options (``backend_options={"aws": {...}}``, the launcher's options plus these):
``gateway_instance_type`` (default: Skyplane's gateway types, which the grid's rates were
measured with), ``gateway_python`` (the VM's interpreter, default ``python3``),
``gateway_setup`` (a shell command run before the daemon starts, or ``""`` for none) and
``gateway_ports`` (``[control, data]``, default 8470 and 8471: open them to the worker and the
other gateways in the security group or firewall).
"""

from __future__ import annotations

import ipaddress
import json
import posixpath
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_sky.errors import SkyError, SkyUserError
from airflow_provider_sky.overlay.fleet import GatewayProcess, gateway_argv

if TYPE_CHECKING:
    from airflow_provider_sky.launch.task import TaskSpec

# A gateway needs cores and a NIC, not memory: Skyplane's defaults, which the packaged grid's
# per-VM rates were measured with.
GATEWAY_INSTANCE = {"local": "local.medium", "aws": "m5.8xlarge", "gcp": "n2-standard-32", "azure": "Standard_D32_v5"}
GATEWAY_PORTS = (8470, 8471)  # control, data: one gateway per VM, so fixed ports a firewall can name
READY_TIMEOUT_S = 30.0
SETUP_TIMEOUT_S = 600.0
GATEWAY_TTL_S = 6 * 3600.0  # the janitor's safety net for a gateway VM whose teardown never ran


@dataclass
class _Task:
    """What ``launch.runner.provision`` reads of a task (its name and node count): a gateway is no task."""

    name: str
    num_nodes: int = 1
    workdir: str | None = None  # nothing to upload: the gateway's files go up by SFTP after start
    file_mounts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackendSite:
    """Where a grid region's gateways go in its compute backend."""

    cloud: str
    region: str
    zone: str | None = None  # GCE grid regions are zones (``gcp:us-central1-a``): that zone first


def backend_site(region: str) -> BackendSite:
    """``aws:us-east-1`` -> aws/us-east-1; ``gcp:us-central1-a`` -> gcp/us-central1, zone us-central1-a."""
    from airflow_provider_sky.launch.backends.base import CLOUDS

    cloud, _, name = region.partition(":")
    if cloud not in CLOUDS or not name:
        raise SkyUserError(
            f"Gateways cannot run in {region!r}: no compute backend for {cloud!r}",
            f"plan over regions of {', '.join(CLOUDS)}, or use overlay='never' (the direct path)",
        )
    if cloud == "gcp" and name.count("-") >= 2:
        return BackendSite(cloud, name.rsplit("-", 1)[0], name)
    return BackendSite(cloud, name)


def _zones(site: BackendSite, instance_type: str) -> list[str | None]:
    """The site's own zone first, then the catalog's other zones for the type, else just the region."""
    from airflow_provider_sky.launch.catalog.sources import load_catalog

    catalog = load_catalog(site.cloud)
    zones = sorted({
        catalog.zone_names[catalog.zone[i]]
        for i in range(len(catalog))
        if catalog.has_zones and catalog.region_names[catalog.region[i]] == site.region
        and catalog.itype_names[catalog.itype[i]] == instance_type
    })  # fmt: skip
    if site.zone:
        return [site.zone, *(z for z in zones if z != site.zone)]
    return list(zones) or [None]


def listen_addresses(host: str, options: dict[str, Any]) -> tuple[str, str]:
    """``host:port`` for the control and data listeners of a gateway whose VM is reached at ``host``.

    A cloud VM's public address is not on its NIC, so the daemon listens on every interface at
    fixed ports; VMs of the embedded cloud share loopback, so each takes free ports on its own
    address.
    """
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return f"{host}:0", f"{host}:0"
    control, data = (int(p) for p in options.get("gateway_ports", GATEWAY_PORTS))
    return f"0.0.0.0:{control}", f"0.0.0.0:{data}"


def setup_command(python: str, options: dict[str, Any]) -> str:
    """The shell command that makes the gateway importable on the VM (a no-op when it already is)."""
    if "gateway_setup" in options:
        return str(options["gateway_setup"])
    from airflow_provider_sky.get_provider_info import VERSION

    py = shlex.quote(python)
    package = shlex.quote(f"airflow-provider-sky=={VERSION}")
    return (f"{py} -c 'import airflow_provider_sky.gateway.serve' 2>/dev/null || "
            f"{py} -m pip install --quiet --user {package}")  # fmt: skip


@dataclass
class VmPlacement:
    """Gateways on compute-backend VMs, one single-node cluster each, in each region's own cloud."""

    tags: dict[str, str] = field(default_factory=dict)  # DAG/run/task tags from the operator
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # cloud -> backend + gateway options
    attempts: list[dict[str, Any]] = field(default_factory=list)
    name: str = "vm"

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

        site = backend_site(region)
        options = dict(self.options.get(site.cloud, {}))
        instance_type = str(options.get("gateway_instance_type") or GATEWAY_INSTANCE[site.cloud])
        job_id = directory.parent.parent.name  # <jobs root>/<job id>/gateways/<gateway id>
        cluster = f"sky-gw-{job_id}-{gateway_id}"[:60].rstrip("-")  # a valid VM name on every cloud
        candidates = [Candidate(site.cloud, site.region, zone, instance_type, False, 0.0)
                      for zone in _zones(site, instance_type)]  # fmt: skip
        tags = launch_runner.make_tags(cluster, ttl_seconds=GATEWAY_TTL_S) | self.tags
        attempts: list[Any] = []
        try:
            handle, attempts = launch_runner.provision(
                cast("TaskSpec", _Task(cluster)), LaunchPlan(cluster, candidates), cluster_name=cluster, tags=tags,
                options={site.cloud: options}, attempts=attempts, log=lambda line: None,
            )  # fmt: skip
        finally:
            self.attempts.extend({"gateway": gateway_id} | a.__dict__ for a in attempts)
        try:
            return self._start_on(handle, gateway_id, region, directory, memory_mb, idle_timeout_s, options)
        except BaseException:
            launch_runner.teardown(handle, log=lambda line: None)
            raise

    def _start_on(
        self, handle: Any, gateway_id: str, region: str, directory: Path, memory_mb: int, idle: float,
        options: dict[str, Any],
    ) -> GatewayProcess:  # fmt: skip
        from airflow_provider_sky.launch import job, ssh

        node = handle.nodes()[0]
        host = node.ssh_host or ""
        python = sys.executable if node.cloud == "local" else str(options.get("gateway_python") or "python3")
        client = ssh.connect(host, node.ssh_port, node.ssh_user, handle.key_path, node.host_key)
        try:
            remote = job.remote_path(node, f"~/sky-gateway/{gateway_id}")
            sftp = client.open_sftp()
            try:
                ssh.upload_tree(sftp, directory, remote)
                if node.cloud != "local":  # the embedded cloud runs this very interpreter: nothing to set up
                    _run_setup(client, python, options, node.instance_id)
                control, data = listen_addresses(host, options)
                argv = gateway_argv(gateway_id, Path(remote), control, data, memory_mb, idle)
                argv[0] = python
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


def _run_setup(client: Any, python: str, options: dict[str, Any], instance_id: str) -> None:
    from airflow_provider_sky.launch import ssh

    command = setup_command(python, options)
    if not command:
        return
    code, out, err = ssh.run(client, command, timeout=SETUP_TIMEOUT_S)
    if code != 0:
        tail = (err.strip() or out.strip())[-600:] or f"exit status {code}"
        raise SkyUserError(
            f"The gateway software could not be set up on {instance_id}: {tail}",
            "use an image with airflow-provider-sky installed (docker/ builds one), or set gateway_setup "
            "and gateway_python in backend_options",
        )


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
