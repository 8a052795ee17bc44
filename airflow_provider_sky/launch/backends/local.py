"""The embedded default cloud: every "VM" is an OpenSSH ``sshd`` on a loopback port.

Each VM gets its own directory (host key, config, authorized key, home), its own sshd process
group, and an environment marker (``SKY_LOCAL_VM``, in sshd's own environment and set for every
session with ``SetEnv``) so terminate can find and kill sshd and detached jobs that left its
process group, even when the launcher died before it could record sshd's pid. The VM's record
(``meta.json``) is written before sshd starts, so a VM is never running without one.

Regions and zones are plain names (``local-a``, ``local-a1``...) with a capacity, so failover can
be exercised without a cloud. Capacity comes from ``options["capacity"]`` or the environment
variable ``SKY_LOCAL_CAPACITY`` (JSON text, or a path to a JSON file), e.g.
``{"local-a1": 0, "local-a2": 0, "local-b1": 1}``:

- a **zone** key caps the VMs alive in that zone; going over raises :class:`CapacityError`;
- a **region** key caps the VMs alive in the whole region; going over raises
  :class:`QuotaError` (region-scoped, as a cloud quota would be);
- names not listed have no limit.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from airflow_provider_sky.errors import SkyError, SkyUserError
from airflow_provider_sky.launch.backends.base import (
    TAG_CLUSTER,
    CapacityError,
    Instance,
    ProvisionRequest,
    QuotaError,
)
from airflow_provider_sky.launch.ssh import generate_keypair

CLOUD = "local"
ENV_CAPACITY = "SKY_LOCAL_CAPACITY"
ENV_MARKER = "SKY_LOCAL_VM"
ENV_ROOT = "SKY_LOCAL_VMS_ROOT"  # beside the marker: which state dir's VM a process belongs to
SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")


def sshd_path() -> str | None:
    """Absolute path of sshd (it refuses to start from a relative path), or None."""
    for path in SSHD_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    found = shutil.which("sshd")
    return os.path.abspath(found) if found else None


def vms_root() -> Path:
    from airflow_provider_sky.launch.state import state_root

    root = state_root() / "local-vms"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def load_capacity(options: Mapping[str, Any]) -> dict[str, int]:
    """Capacity map from options, else from ``SKY_LOCAL_CAPACITY`` (JSON or file path)."""
    if options.get("capacity") is not None:
        return {str(k): int(v) for k, v in dict(options["capacity"]).items()}
    raw = os.environ.get(ENV_CAPACITY, "").strip()
    if not raw:
        return {}
    fix = 'set it like {"local-a1": 0, "local-b1": 2} or to the path of such a file'
    if raw.startswith(("{", "[", '"')) or raw[0].isdigit():
        text = raw
    else:
        try:
            text = Path(raw).read_text()
        except OSError as exc:
            problem = f"{ENV_CAPACITY} names file {raw!r}, which cannot be read ({exc.strerror})"
            raise SkyUserError(problem, fix) from exc
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise SkyUserError(f"{ENV_CAPACITY} is not a JSON object of name -> count ({exc})", fix) from exc
    if not isinstance(doc, dict):
        raise SkyUserError(f"{ENV_CAPACITY} is JSON {type(doc).__name__}, not an object of name -> count", fix)
    bad = {k: v for k, v in doc.items() if isinstance(v, bool) or not isinstance(v, int) or v < 0}
    if bad:
        raise SkyUserError(f"{ENV_CAPACITY} gives counts that are not whole numbers >= 0: {bad}", fix)
    return {str(k): v for k, v in doc.items()}


def check_options(options: Mapping[str, Any]) -> None:
    """Settings are read before the runner creates anything (see ``runner.check_cloud_settings``)."""
    load_capacity(options)


def _alive(meta: Mapping[str, Any]) -> bool:
    try:
        proc = psutil.Process(int(meta["pid"]))
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False  # no pid yet: sshd was never started, or its launcher died first


def _all_meta() -> list[dict[str, Any]]:
    out = []
    for meta_path in vms_root().glob("*/meta.json"):
        try:
            out.append(json.loads(meta_path.read_text()))
        except (OSError, ValueError):
            continue  # a VM being created or removed right now
    return out


def _check_capacity(request: ProvisionRequest, capacity: Mapping[str, int]) -> None:
    alive = [m for m in _all_meta() if _alive(m)]
    if request.region in capacity:
        used = sum(1 for m in alive if m["region"] == request.region)
        if used + request.num_nodes > capacity[request.region]:
            raise QuotaError(
                f"local region {request.region} quota is {capacity[request.region]} VMs, "
                f"{used} in use, {request.num_nodes} requested",
                cloud=CLOUD, region=request.region, zone=request.zone, code="QuotaExceeded",
            )
    zone = request.zone or request.region
    if zone in capacity:
        used = sum(1 for m in alive if (m["zone"] or m["region"]) == zone)
        if used + request.num_nodes > capacity[zone]:
            raise CapacityError(
                f"local zone {zone} has capacity for {capacity[zone]} VMs, {used} in use, "
                f"{request.num_nodes} requested",
                cloud=CLOUD, region=request.region, zone=request.zone, code="InsufficientCapacity",
            )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sshd_config(vm_dir: Path, port: int, instance_id: str) -> str:
    return "\n".join([
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {vm_dir / 'ssh_host_ed25519_key'}",
        f"AuthorizedKeysFile {vm_dir / 'authorized_keys'}",
        f"PidFile {vm_dir / 'sshd.pid'}",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "PrintMotd no",
        "LogLevel ERROR",
        "Subsystem sftp internal-sftp",
        # HOME: sessions start in the VM's own home, so the host user's ~/.bashrc (which bash
        # sources for ssh commands) never runs on a "VM", nor takes locks a killed VM would leave.
        f"SetEnv {ENV_MARKER}={instance_id} {ENV_ROOT}={vm_dir.parent} HOME={vm_dir / 'home'}",
        "",
    ])


def _start_vm(request: ProvisionRequest, rank: int) -> Instance:
    sshd = sshd_path()
    if sshd is None:
        raise SkyUserError(
            "OpenSSH sshd is not installed", "run scripts/bootstrap.sh (Debian: openssh-server)"
        )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege-separation dir sshd insists on
    instance_id = f"{request.cluster_name}-{rank}-{uuid.uuid4().hex[:6]}"
    vm_dir = vms_root() / instance_id
    (vm_dir / "home").mkdir(parents=True, mode=0o700)
    if request.host_key_private:
        host_private, host_public = request.host_key_private, request.host_key_public
    else:
        host_private, host_public = generate_keypair(comment=instance_id)
    key_file = vm_dir / "ssh_host_ed25519_key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(host_private)
    (vm_dir / "authorized_keys").write_text(request.ssh_public_key.strip() + "\n")
    port = _free_port()
    (vm_dir / "sshd_config").write_text(_sshd_config(vm_dir, port, instance_id))
    instance = Instance(
        instance_id=instance_id, cloud=CLOUD, region=request.region, zone=request.zone,
        instance_type=request.instance_type, state="running", ssh_host="127.0.0.1", ssh_port=port,
        ssh_user=getpass.getuser(), host_key=host_public.split(" ")[0] + " " + host_public.split(" ")[1],
        remote_root=str(vm_dir / "home"), sandboxed=True, tags=dict(request.tags), launched_at=time.time(),
    )
    meta = instance.to_dict() | {"pid": None, "use_spot": request.use_spot}
    _write_meta(vm_dir, meta)
    with open(vm_dir / "sshd.log", "wb") as log:
        proc = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(vm_dir / "sshd_config")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env={**os.environ, ENV_MARKER: instance_id, ENV_ROOT: str(vm_dir.parent)},
        )
    _write_meta(vm_dir, meta | {"pid": proc.pid})
    _wait_listening(proc, port, vm_dir)
    return instance


def _write_meta(vm_dir: Path, meta: Mapping[str, Any]) -> None:
    """Replace the VM's record atomically (a concurrent reader sees the old or the new one)."""
    tmp = vm_dir / ".meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(vm_dir / "meta.json")


def _wait_listening(proc: subprocess.Popen, port: int, vm_dir: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            detail = (vm_dir / "sshd.log").read_text(errors="replace")[-500:]
            raise SkyError(f"local sshd exited with {proc.returncode}: {detail.strip()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise SkyError(f"local sshd did not listen on port {port} within {timeout:.0f}s")


def launch(request: ProvisionRequest, options: Mapping[str, Any]) -> list[Instance]:
    _check_capacity(request, load_capacity(options))
    started: list[Instance] = []
    try:
        for rank in range(request.num_nodes):
            started.append(_start_vm(request, rank))
    except BaseException:
        terminate(request.cluster_name, request.region, options)
        raise
    return started


def describe(cluster_name: str, region: str, options: Mapping[str, Any]) -> list[Instance]:
    out = []
    for meta in _all_meta():
        if meta.get("tags", {}).get(TAG_CLUSTER) != cluster_name:
            continue
        instance = Instance.from_dict(meta)
        instance.state = "running" if _alive(meta) else "terminated"
        out.append(instance)
    return sorted(out, key=lambda i: i.instance_id)


def _marked(instance_id: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(ENV_MARKER) == instance_id:
                found.append(proc)
        except psutil.Error:
            continue  # gone, or mid-exec: the next sweep sees it
    return found


def _kill_marked(instance_id: str, rounds: int = 5) -> None:
    """Kill every process of the VM's sessions, sweeping again for ones forked meanwhile."""
    for _ in range(rounds):
        victims = _marked(instance_id)
        if not victims:
            return
        for proc in victims:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        _wait_gone(victims)


def _wait_gone(procs: list[psutil.Process], timeout: float = 2.0) -> None:
    """Wait until processes exit; a zombie counts as gone (PID 1 in a container may never reap it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in procs if _exists(p)]
        if not alive:
            return
        time.sleep(0.02)


def _exists(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _kill_vm(vm_dir: Path, meta: Mapping[str, Any]) -> None:
    if meta.get("pid") is None:  # sshd may have started unrecorded: its marker finds it
        _kill_marked(meta["instance_id"])
        shutil.rmtree(vm_dir, ignore_errors=True)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(int(meta["pid"]), signal.SIGKILL)
    with contextlib.suppress(psutil.Error):
        sshd = psutil.Process(int(meta["pid"]))
        if sshd.ppid() == os.getpid():
            sshd.wait(timeout=3)  # reap our own child
        else:
            _wait_gone([sshd])
    _kill_marked(meta["instance_id"])
    shutil.rmtree(vm_dir, ignore_errors=True)


def terminate(cluster_name: str, region: str, options: Mapping[str, Any]) -> None:
    for meta in _all_meta():
        if meta.get("tags", {}).get(TAG_CLUSTER) == cluster_name:
            _kill_vm(vms_root() / meta["instance_id"], meta)


def set_tags(cluster_name: str, region: str, options: Mapping[str, Any], tags: Mapping[str, str]) -> None:
    """Merge ``tags`` into every VM of the cluster (the heartbeat's path)."""
    for meta in _all_meta():
        if meta.get("tags", {}).get(TAG_CLUSTER) == cluster_name:
            _write_meta(vms_root() / meta["instance_id"], meta | {"tags": {**meta["tags"], **tags}})


def preempt(instance_id: str) -> None:
    """Simulate a spot preemption: the VM vanishes but its record stays until terminate."""
    meta = json.loads((vms_root() / instance_id / "meta.json").read_text())
    with contextlib.suppress(ProcessLookupError):
        os.killpg(int(meta["pid"]), signal.SIGKILL)
    # SIGKILL is asynchronous: wait until sshd is really gone, so describe() never sees it alive.
    with contextlib.suppress(psutil.Error):
        psutil.Process(int(meta["pid"])).wait(timeout=10)
    _kill_marked(instance_id)


def list_tagged(options: Mapping[str, Any]) -> list[Instance]:
    out = []
    for meta in _all_meta():
        instance = Instance.from_dict(meta)
        instance.state = "running" if _alive(meta) else "terminated"
        out.append(instance)
    return out
