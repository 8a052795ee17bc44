"""Pinned requirement files for the container images, derived from ``uv.lock``.

Why: the gateway image must hold the gateway's own needs without Airflow, and the package's
dependencies list Airflow, so the wheel goes in with ``--no-deps`` next to a requirements file.
Writing that file by hand would drift from the lock; here it is the lock's dependency closure
of a few roots, each package at the version the lock chose. The worker's file is the closure of
the project itself (Airflow included), so a base without Airflow gets the locked versions too.

The lock is read with ``tomllib`` and edge markers are evaluated for the images' platform
(Linux, CPython 3.11), so neither uv nor the network is needed to (re)write or check the files.

    python -m airflow_provider_sky.devtools.images write    # rewrite docker/*-requirements.txt
    python -m airflow_provider_sky.devtools.images check    # exit 1 if they differ from the lock
"""

from __future__ import annotations

import argparse
import platform
import re
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from packaging.markers import Marker

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "airflow-provider-sky"

# What `airflow-sky gateway serve` imports beyond the standard library (daemon, control API,
# TLS, frames, stages, the stores). tests/images checks the image starts a gateway with these.
GATEWAY_ROOTS = (
    "aiohttp",
    "azure-identity",
    "azure-storage-blob",
    "boto3",
    "cryptography",
    "google-cloud-storage",
    "google-crc32c",
    "psutil",
    "zstandard",
)

# The images run CPython 3.11 on Linux (bookworm's python3, python:3.11-slim, apache/airflow's).
IMAGE_ENVIRONMENT = {
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "python_version": "3.11",
    "python_full_version": "3.11.2",
    "platform_machine": platform.machine() or "x86_64",
}

HEADER = (
    "# {what}\n"
    "# Written by `python -m airflow_provider_sky.devtools.images write` from uv.lock; do not edit.\n"
)
FILES = {
    "gateway": ("docker/gateway-requirements.txt", "The gateway image: the gateway daemon's needs, no Airflow."),
    "worker": ("docker/worker-requirements.txt", "The worker image on a base without Airflow: the whole project."),
}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _applies(edge: dict[str, Any]) -> bool:
    marker = edge.get("marker")
    return marker is None or Marker(marker).evaluate(dict(IMAGE_ENVIRONMENT))


class Lock:
    """The packages of a uv.lock by (name, version), and their dependency edges."""

    def __init__(self, path: Path) -> None:
        doc = tomllib.loads(path.read_text())
        self.packages: dict[tuple[str, str], dict[str, Any]] = {
            (normalize(p["name"]), p["version"]): p for p in doc["package"]
        }

    def find(self, edge: dict[str, Any]) -> tuple[str, str]:
        """The package an edge names: by its version when the lock holds several of that name."""
        name = normalize(edge["name"])
        found = [key for key in self.packages if key[0] == name and edge.get("version") in (None, key[1])]
        if len(found) != 1:
            raise LookupError(f"uv.lock has {len(found)} packages matching {edge}")
        return found[0]

    def edges(self, key: tuple[str, str], extras: Iterable[str] = ()) -> list[dict[str, Any]]:
        package = self.packages[key]
        out = list(package.get("dependencies", []))
        for extra in extras:
            out += package.get("optional-dependencies", {}).get(extra, [])
        return [edge for edge in out if _applies(edge)]

    def closure(self, roots: Iterable[dict[str, Any]]) -> dict[str, str]:
        """Every package the roots need on the images' platform, name -> locked version."""
        pinned: dict[str, str] = {}
        seen: set[tuple[str, str, tuple[str, ...]]] = set()
        todo = [edge for edge in roots if _applies(edge)]
        while todo:
            edge = todo.pop()
            key = self.find(edge)
            extras = tuple(sorted(edge.get("extra", [])))
            if (*key, extras) in seen:
                continue
            seen.add((*key, extras))
            pinned[key[0]] = key[1]
            todo += self.edges(key, extras)
        pinned.pop(PROJECT, None)
        return dict(sorted(pinned.items()))

    def project_edges(self) -> list[dict[str, Any]]:
        return self.edges(self.find({"name": PROJECT}))


def requirements(image: str, lock_path: Path = ROOT / "uv.lock") -> str:
    """The text of one image's requirements file."""
    lock = Lock(lock_path)
    if image == "gateway":
        roots = [{"name": name} for name in GATEWAY_ROOTS]
        pinned = lock.closure(roots)
        if "apache-airflow" in pinned or "apache-airflow-core" in pinned:
            raise AssertionError("a gateway root pulls in Airflow")
    else:
        pinned = lock.closure(lock.project_edges())
    body = "".join(f"{name}=={version}\n" for name, version in pinned.items())
    return HEADER.format(what=FILES[image][1]) + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_sky.devtools.images")
    parser.add_argument("action", choices=["write", "check"])
    args = parser.parse_args(argv)
    stale = []
    for image, (relative, _) in FILES.items():
        path, text = ROOT / relative, requirements(image)
        if args.action == "write":
            path.write_text(text)
        elif not path.exists() or path.read_text() != text:
            stale.append(relative)
    if stale:
        print(f"out of date with uv.lock: {', '.join(stale)} (run the write action)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
