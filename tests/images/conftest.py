"""Fixtures for the image tests: the images built once per session by docker/build.sh.

Builds run with podman (chroot isolation) on the debootstrap base docker/make-local-base.sh
caches under .tools/images; containers are worked with buildah. Without root or those tools the
tests skip with the reason, and in CI (CI=true) they fail, as the emulator tests do. The worker
image is built in CI and, elsewhere, with SKY_IMAGE_TESTS=all (see ``worker_image``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TAG = "test"
TOOLS = ("podman", "buildah", "debootstrap")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "images: builds container images with podman (slow: minutes on a cold cache)")


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"image tooling unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"image tooling unavailable: {reason}")


def build(image: str) -> str:
    """Build one image (``gateway`` or ``worker``) and return its name; the build's time is printed."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        unavailable(f"not installed: {', '.join(missing)} (scripts/bootstrap.sh installs them)")
    if os.geteuid() != 0:
        unavailable("podman build --isolation chroot and debootstrap need root")
    started = time.monotonic()
    env = {**os.environ, "ENGINE": "podman", "TAG": TAG}
    done = subprocess.run(
        ["docker/build.sh", image], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, f"docker/build.sh {image} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    print(f"built {image} image in {time.monotonic() - started:.0f} s")
    return f"localhost/airflow-sky-{image}:{TAG}"


def buildah(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(["buildah", *args], capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"buildah {' '.join(args)}: {done.stderr.strip()}"
    return done.stdout.strip()


def mounted(path: str) -> bool:
    return any(line.split()[1] == path for line in Path("/proc/mounts").read_text().splitlines())


@pytest.fixture(scope="session")
def gateway_image() -> str:
    return build("gateway")


@pytest.fixture(scope="session")
def worker_image() -> str:
    # Installing Airflow's ~180 packages into a bare base takes 3-5 min on a cold cache: CI pays it
    # (the "both images build and their tests pass"); a local run opts in.
    if os.environ.get("SKY_IMAGE_TESTS") != "all" and os.environ.get("CI") != "true":
        pytest.skip("the worker image build takes minutes: set SKY_IMAGE_TESTS=all to build and check it (CI does)")
    return build("worker")


def run_in(container: str, *argv: str, volumes: tuple[str, ...] = (), timeout: float = 120) -> str:
    """Run a command inside a buildah working container (chroot isolation, host network)."""
    mounts = [arg for volume in volumes for arg in ("-v", volume)]
    return buildah("run", "--isolation", "chroot", "--network", "host", *mounts, container, "--", *argv,
                   timeout=timeout)  # fmt: skip


@pytest.fixture
def container_of() -> Iterator[Callable[[str], tuple[str, str]]]:
    """``container_of(image)`` makes a working container; afterwards it is removed and unmounted."""
    made: list[tuple[str, str]] = []

    def make(image: str) -> tuple[str, str]:
        name = buildah("from", "--pull-never", image)
        made.append((name, buildah("mount", name)))
        return made[-1]

    yield make
    for name, root in made:
        buildah("rm", name)
        assert name not in buildah("containers", "--format", "{{.ContainerName}}").split()
        assert not mounted(root), f"{root} is still mounted after buildah rm"
