"""Fixtures for launch tests: private state dir, sshd availability, moto EC2 with capacity errors.

Every test here runs with its own ``SKY_STATE_DIR`` and, afterwards, must leave nothing behind:
no sshd or job process started by the test, no local VM directory, no cluster state dir, no
running moto instance. The leak check kills what it finds, then fails the test, so one leak
cannot cascade into the next test.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from airflow_provider_sky.launch.backends import local
from airflow_provider_sky.launch.plan import Candidate, LaunchPlan

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect this folder's ``live`` tests unless the env vars they name are set (even in CI).

    ``@pytest.mark.live(env=("VAR", ...))``: every named variable must be non-empty. Deselected
    rather than skipped: they talk to real clouds, not to a service this project installs, so
    their absence is a choice of the person running the suite, not a broken machine.
    """
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("live") if HERE in item.path.parents else None
        needs = marker.kwargs.get("env", ()) if marker else ()
        if marker is not None and (not needs or not all(os.environ.get(name) for name in needs)):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def sshd_available() -> str:
    """Path of sshd; a missing sshd skips locally but FAILS in CI, where it must be installed."""
    path = local.sshd_path()
    if path is None:
        message = "OpenSSH sshd not found (run scripts/bootstrap.sh)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _leaked_processes(root: Path) -> list[psutil.Process]:
    """This test's leftovers: our sshd/bash children, and processes of local VMs under ``root``
    (others run tests on the same machine; their VMs live under other state dirs)."""
    me = psutil.Process()
    leaked = [p for p in me.children(recursive=True) if _name(p) in ("sshd", "sshd-session", "bash")]
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
        except psutil.Error:
            continue
        if local.ENV_MARKER in env and env.get(local.ENV_ROOT, "").startswith(str(root)) and proc not in leaked:
            leaked.append(proc)
    return [p for p in leaked if _running(p)]


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.Error:
        return ""


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.fixture(autouse=True)
def sky_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Private state dir per test, and the no-leftovers check after it."""
    root = tmp_path / "sky-state"
    monkeypatch.setenv("SKY_STATE_DIR", str(root))
    monkeypatch.delenv(local.ENV_CAPACITY, raising=False)
    yield root
    deadline = time.monotonic() + 3
    leaked = _leaked_processes(root)
    while leaked and time.monotonic() < deadline:  # processes already killed may take a moment
        time.sleep(0.05)
        leaked = _leaked_processes(root)
    vms = sorted(p.name for p in (root / "local-vms").glob("*")) if (root / "local-vms").exists() else []
    clusters = sorted(p.name for p in (root / "clusters").glob("*")) if (root / "clusters").exists() else []
    for proc in leaked:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    assert not leaked, f"test left processes running: {[(p.pid, _name(p)) for p in leaked]}"
    assert not vms, f"test left local VM dirs: {vms}"
    assert not clusters, f"test left cluster state dirs: {clusters}"


@pytest.fixture
def make_local_plan():
    """Build a plan over local zones, e.g. ``make_local_plan("local-a1", "local-b1")``."""
    return local_plan


def local_candidates(*zones: str, spot: bool = False, price: float = 0.01) -> list[Candidate]:
    """Candidates on the local cloud: zone ``local-a1`` belongs to region ``local-a``."""
    return [Candidate("local", z[:-1], z, "local-small", spot, price, total_hourly_usd=price) for z in zones]


def local_plan(*zones: str, spot: bool = False, name: str = "test") -> LaunchPlan:
    return LaunchPlan(name, local_candidates(*zones, spot=spot))


# --------------------------------------------------------------------------- moto EC2


def cloud_init_console(host_keys: list[str], hostname: str = "ip-172-31-5-6") -> str:
    """A first-boot serial console log as an Ubuntu cloud image prints it, with ``host_keys``.

    The shape of cloud-init's ``keys_to_console`` output (syslog-prefixed fingerprints, then the
    bare key block) between kernel and cloud-init lines, with the serial console's CRLF endings.
    """
    lines = [
        "[    0.000000] Linux version 5.15.0-1051-aws (buildd@lcy02-amd64-034) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04)",
        "[    6.412345] cloud-init[512]: Cloud-init v. 23.3.3-0ubuntu0~22.04.1 running 'init' at Wed, 02 Dec 2026",
        "[    6.512345] cloud-init[512]: ci-info: +++++++++++++++++++++++Net device info+++++++++++++++++++++++",
        "[    7.112345] cloud-init[512]: Generating public/private ed25519 key pair.",
        "<14>Dec  2 14:00:07 cloud-init: #############################################################",
        "<14>Dec  2 14:00:07 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----",
        *(f"<14>Dec  2 14:00:07 cloud-init: 256 SHA256:{'x' * 43} root@{hostname} ({k.split()[0]})" for k in host_keys),
        "<14>Dec  2 14:00:07 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----",
        "<14>Dec  2 14:00:07 cloud-init: #############################################################",
        "-----BEGIN SSH HOST KEY KEYS-----",
        *(f"{' '.join(k.split()[:2])} root@{hostname}" for k in host_keys),
        "-----END SSH HOST KEY KEYS-----",
        "[    9.812345] cloud-init[721]: Cloud-init v. 23.3.3-0ubuntu0~22.04.1 finished at Wed, 02 Dec 2026. "
        "Datasource DataSourceEc2Local.  Up 9.80 seconds",
    ]  # fmt: skip
    return "\r\n".join(lines) + "\r\n"


def _fresh_host_key() -> str:
    from airflow_provider_sky.launch import ssh

    return ssh.generate_keypair()[1]


class MotoEC2:
    """A moto server whose RunInstances fails in the zones/regions written to its config, and
    whose GetConsoleOutput returns the console text written there (see moto_capacity.py)."""

    def __init__(self, endpoint: str, config: Path) -> None:
        self.endpoint = endpoint
        self.config = config
        self._lock = threading.Lock()

    def _update(self, **changes: object) -> None:
        self._edit(lambda config: config | changes)

    def _edit(self, change: Callable[[dict], dict]) -> None:
        """Read, change and write the config as one step: gateways launch from several threads (a
        console written between another thread's read and write would be lost), and the server
        reads the file on every call."""
        with self._lock:
            config = change(json.loads(self.config.read_text() or "{}"))
            staged = self.config.with_suffix(".tmp")
            staged.write_text(json.dumps(config))
            staged.replace(self.config)

    def fail(self, capacity: list[str] = (), quota: list[str] = ()) -> None:  # type: ignore[assignment]
        self._update(capacity=list(capacity), quota=list(quota))

    def console(self, cluster: str, text: str | None) -> None:
        """What the consoles of ``cluster``'s instances show ("*": any cluster's); None: moto's own."""
        def change(config: dict) -> dict:
            consoles = dict(config.get("console", {}))
            if text is None:
                consoles.pop(cluster, None)
            else:
                consoles[cluster] = text
            return config | {"console": consoles}

        self._edit(change)

    def reset(self) -> None:
        """No injected errors; every VM boots like a stock cloud-init image (its console shows host keys)."""
        with self._lock:
            self.config.write_text("{}")
        self.console("*", cloud_init_console([_fresh_host_key()]))

    def client(self, region: str):
        import boto3

        return boto3.client("ec2", region_name=region, endpoint_url=self.endpoint)

    def live_instances(self, region: str) -> list[str]:
        out = []
        pages = self.client(region).describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
        )
        for reservation in pages["Reservations"]:
            out += [i["InstanceId"] for i in reservation["Instances"]]
        return out


@pytest.fixture(scope="session")
def moto_ec2_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoEC2]:
    config = tmp_path_factory.mktemp("moto") / "capacity.json"
    config.write_text("{}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(config.parent / "moto.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "moto_capacity.py"), str(port), str(config)],
        stdout=log, stderr=log, start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.close()
                pytest.fail(f"moto did not start: {(config.parent / 'moto.log').read_text()[-800:]}")
            time.sleep(0.1)
    try:
        yield MotoEC2(f"http://127.0.0.1:{port}", config)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
        log.close()


AWS_REGIONS = ("us-east-1", "us-west-2")


@pytest.fixture
def moto_ec2(moto_ec2_server: MotoEC2, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoEC2]:
    """The moto server with fake credentials and no injected errors; asserts no VM is left after."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    moto_ec2_server.reset()
    yield moto_ec2_server
    moto_ec2_server.reset()
    left = {r: moto_ec2_server.live_instances(r) for r in AWS_REGIONS}
    for region, ids in left.items():
        if ids:
            moto_ec2_server.client(region).terminate_instances(InstanceIds=ids)
    assert not any(left.values()), f"test left EC2 instances running: {left}"


# --------------------------------------------------------------------------- reachable cloud VMs


def reach_through_local_sshd(
    monkeypatch: pytest.MonkeyPatch, module: object, console: Callable[[str, str], None] | None = None
) -> None:
    """Give every VM a cloud module launches an SSH endpoint: a local sshd standing in for the VM.

    Emulated and replayed clouds hand out addresses nothing listens on; the API calls stay the
    cloud module's own, only the address fields of each Instance come from a local-backend VM.
    With ``console(cluster, text)`` (a cloud whose console the test controls, e.g. moto's) the
    local sshd starts first and the cluster's console shows that sshd's host key in cloud-init's
    shape, so the module pins the key the "VM" really serves; without it the recorded console's
    key is replaced by the local sshd's.
    """
    from airflow_provider_sky.launch import ssh
    from airflow_provider_sky.launch.backends.base import ProvisionRequest

    real_launch, real_terminate = module.launch, module.terminate  # type: ignore[attr-defined]
    local_region = f"local-{module.CLOUD}"  # type: ignore[attr-defined]
    fields = ("ssh_host", "ssh_port", "ssh_user", "remote_root", "sandboxed")

    def local_vms(request: ProvisionRequest, nodes: int) -> list:
        private, public = ssh.generate_keypair(comment=request.cluster_name)  # one key: one console text
        local_request = ProvisionRequest(**{**request.__dict__, "cloud": "local", "region": local_region, "zone": None,
                                            "num_nodes": nodes, "host_key_private": private,
                                            "host_key_public": public})  # fmt: skip
        return local.launch(local_request, {})

    def launch(request, options):
        if console is None:
            instances = real_launch(request, options)
            for instance, vm in zip(instances, local_vms(request, len(instances)), strict=True):
                for field in (*fields, "host_key"):
                    setattr(instance, field, getattr(vm, field))
            return instances
        vms = local_vms(request, request.num_nodes)
        console(request.cluster_name, cloud_init_console([vms[0].host_key]))
        try:
            instances = real_launch(request, options)
        except BaseException:
            local.terminate(request.cluster_name, local_region, {})
            raise
        for instance, vm in zip(instances, vms, strict=True):
            for field in fields:
                setattr(instance, field, getattr(vm, field))
        return instances

    def terminate(cluster_name, region, options):
        real_terminate(cluster_name, region, options)
        local.terminate(cluster_name, local_region, {})

    monkeypatch.setattr(module, "launch", launch)
    monkeypatch.setattr(module, "terminate", terminate)
