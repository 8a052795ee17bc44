"""The gateway image: built on the local base, its daemons relay a real overlay transfer.

Every gateway of the job runs inside one working container of the image (``buildah run``, host
network, the gateway's job directory and the data bind-mounted at the same paths), while the
runner drives the copy from the host, as a worker would drive gateway VMs.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest

from airflow_provider_sky.overlay.fleet import GatewayProcess, LoopbackPlacement
from airflow_provider_sky.overlay.runner import run_overlay
from airflow_provider_sky.transfer.request import CopyRequest
from tests.images.conftest import run_in
from tests.overlay.conftest import gateway_processes, read_tree, triangle_plan, write_tree

pytestmark = [pytest.mark.images, pytest.mark.timeout(900)]  # a cold build: base, pip installs
MiB = 1024 * 1024
IMAGE_UID = 8470  # the image's `sky` user (docker/Dockerfile.gateway)
IMAGE_PYTHON = "/opt/sky/bin/python"
IMAGE_SERVE = "/opt/sky/lib/python3.11/site-packages/airflow_provider_sky/gateway/serve.py"  # the installed wheel's


def chown_tree(path: Path, uid: int) -> None:
    for entry in [path, *path.rglob("*")]:
        os.chown(entry, uid, -1, follow_symlinks=False)


class ImagePlacement(LoopbackPlacement):
    """Gateways on 127.0.0.1, each one a ``buildah run`` of the image's interpreter in ``container``."""

    def __init__(self, container: str, data: Path) -> None:
        super().__init__()
        self.container, self.data = container, data
        self.seen: list[dict[str, Any]] = []  # per gateway: the daemon's pid, uid, root and installed serve.py

    def spawn(self, region: str, argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
        directory = Path(argv[argv.index("--dir") + 1])
        chown_tree(directory, IMAGE_UID)  # the runner's keys are 0600: the image's user must read them
        command = [
            "buildah", "run", "--isolation", "chroot", "--network", "host",
            "-v", f"{directory}:{directory}", "-v", f"{self.data}:{self.data}",
            self.container, "--", IMAGE_PYTHON, *argv[1:],
        ]  # fmt: skip
        return subprocess.Popen(command, **popen)

    def start_gateway(
        self, gateway_id: str, region: str, directory: Path, *, memory_mb: int, idle_timeout_s: float
    ) -> GatewayProcess:
        process = super().start_gateway(
            gateway_id, region, directory, memory_mb=memory_mb, idle_timeout_s=idle_timeout_s
        )
        for child in psutil.Process(process.pid).children(recursive=True):
            if child.cmdline()[:1] == [IMAGE_PYTHON]:
                # /proc/PID/root is the root the process sees (buildah binds the container's there).
                self.seen.append({"id": gateway_id, "pid": child.pid, "uid": child.uids().real,
                                  "root": os.stat(f"/proc/{child.pid}/root"),
                                  "serve": os.lstat(f"/proc/{child.pid}/root{IMAGE_SERVE}")})  # fmt: skip
        return process


def test_a_transfer_through_gateways_inside_the_image_arrives_byte_identical(
    gateway_image: str, container_of: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKY_STATE_DIR", str(tmp_path / "state"))
    container, root = container_of(gateway_image)
    # The image holds the gateway without Airflow.
    assert "No module named 'airflow'" in run_in(container, IMAGE_PYTHON, "-c", (
        "import airflow_provider_sky.gateway.serve\n"
        "try:\n    import airflow\nexcept ImportError as e:\n    print(e)"
    ))  # fmt: skip
    data = tmp_path / "data"
    src, dst = data / "src", data / "dst"
    sent = write_tree(src, {"big.bin": 9 * MiB + 5, "nested/small.txt": 1000, "empty": 0})
    dst.mkdir()
    chown_tree(data, IMAGE_UID)
    placement = ImagePlacement(container, data)
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/", mode="cp", chunk_size=1 * MiB,
                                multipart_threshold=4 * MiB)  # fmt: skip
    summary, _, outcome = run_overlay(
        request, triangle_plan(), {f"file://{dst}/": "local:tb-dst"}, placement, timeout_s=120
    )

    assert read_tree(dst) == sent
    assert summary.destinations[0].objects_copied == 3
    # Every byte left the source gateway over the overlay (split between the relay and the direct link).
    edges = outcome.edges
    from_source = edges["local:tb-src->local:tb-relay"]["bytes"] + edges["local:tb-src->local:tb-dst"]["bytes"]
    assert from_source == sum(map(len, sent.values()))
    assert edges["local:tb-src->local:tb-relay"]["bytes"] == edges["local:tb-relay->local:tb-dst"]["bytes"]
    # Each of the three daemons ran inside the image: its root is the container's, its
    # installed package the image's, its user the image's.
    assert sorted(g["id"] for g in placement.seen) == sorted(outcome.gateways)
    for gateway in placement.seen:
        assert os.path.samestat(gateway["root"], os.stat(root)) and not os.path.samestat(gateway["root"], os.stat("/"))
        assert os.path.samestat(gateway["serve"], os.lstat(f"{root}{IMAGE_SERVE}"))
        assert gateway["uid"] == IMAGE_UID
        assert not psutil.pid_exists(gateway["pid"]) or psutil.Process(gateway["pid"]).status() == "zombie"
    assert not [p for p in gateway_processes() if str(tmp_path) in " ".join(p.cmdline())]
    assert not list((tmp_path / "state" / "overlay-jobs").glob("*"))


def test_the_gateway_image_starts_the_daemon_as_its_own_user_and_stays_slim(
    gateway_image: str, container_of: Any
) -> None:
    config = json.loads(subprocess.run(["podman", "image", "inspect", gateway_image], capture_output=True,
                                       text=True, check=True).stdout)[0]  # fmt: skip
    base = json.loads(subprocess.run(["podman", "image", "inspect", config["Config"]["Labels"]["sky.base.image"]],
                                     capture_output=True, text=True, check=True).stdout)[0]  # fmt: skip
    assert config["Config"]["User"] == "sky"
    assert set(config["Config"]["ExposedPorts"]) == {"8470/tcp", "8471/tcp"}
    entrypoint = config["Config"]["Entrypoint"]
    assert entrypoint == ["airflow-sky", "gateway", "serve"]
    container, _ = container_of(gateway_image)
    assert "--memory-mb" in run_in(container, *entrypoint, "--help")
    # What the image adds to its base (venv, SDKs, the package): measured 119 MB.
    assert config["Size"] - base["Size"] < 160_000_000, (config["Size"], base["Size"])
