"""Our copy engine against rclone, the same data between the same emulators, in one run.

Routes, both from fake-gcs-server on loopback:
- gs -> azure: fake-gcs-server -> Azurite (Azure Blob), the issue's route. Azurite is one
  Node.js process, so it can be the ceiling for both tools; the run measures that (below).
- gs -> file: fake-gcs-server -> a local directory, where the emulator is far from its ceiling
  and the tools, not the emulator, decide.
Two workloads: (a) a few large objects (3 x 256 MiB), (b) 5,000 objects of 4 KiB. Each is copied
by `airflow-sky cp` (our engine, default settings), by rclone with its defaults, and by rclone at
our concurrency. Every run writes to a fresh container/directory that is checked (object count
and bytes) and then deleted. Peak RSS is the copying process's own high-water mark (wait4); CPU
seconds are counted for the copying process and for each emulator's process group.

Emulator ceilings are measured first with a tight client (raw keep-alive http.client in 16
processes, no SDK): requests/s for 4 KiB GET and PUT, MB/s for 16 MiB GET and PUT.

Then the sync case (bench/copy_sync.py): re-syncing 3,000 unchanged objects onto each store.

Writes bench/results/copy_vs_rclone.json and prints a table. Targets from the issue: >= 1.2x
rclone's throughput on (a) and >= 2x on (b), with our peak memory inside
concurrency x chunk size plus a constant.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from airflow_provider_sky.devtools.emulators import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    Emulators,
    azurite_connection_string,
    running_emulators,
    start_azurite,
)
from bench.copy_sync import run_sync_cases

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
AIRFLOW_SKY = REPO / ".venv" / "bin" / "airflow-sky"
SOURCE_BUCKET = "bench-source"
OUR_CONCURRENCY = 16
OUR_CHUNK_MIB = 16
MiB = 1024 * 1024
ROUTES = ("gs -> azure", "gs -> file")
CEILING_CLIENTS = 16  # processes of the tight client
CEILING_SMALL_REQUESTS = 2000
CEILING_LARGE_REQUESTS = 32  # of 16 MiB
CEILING_BUCKET = "bench-ceiling"


@dataclass(frozen=True)
class Workload:
    name: str
    count: int
    size: int

    @property
    def total_bytes(self) -> int:
        return self.count * self.size


WORKLOADS = (
    Workload("large", int(os.environ.get("SKY_BENCH_LARGE_COUNT", "3")), 256 * MiB),
    Workload("small", int(os.environ.get("SKY_BENCH_SMALL_COUNT", "5000")), 4 * 1024),
)


@dataclass
class RunResult:
    route: str
    workload: str
    tool: str
    seconds: float
    objects: int
    bytes: int
    mb_per_s: float
    objects_per_s: float
    peak_rss_mib: float
    exit_code: int
    cpu_s: float  # the copying process (user + system)
    fake_gcs_cpu_s: float
    azurite_cpu_s: float
    load_average_1m: float  # of the whole machine around the run: other work on it shows here


def _group_cpu(pgid: int) -> float:
    """User + system CPU seconds of every live process in process group `pgid`."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the command: state ppid pgrp ... utime(11) stime(12)
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _timed_process(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, str, float]:
    """Run `cmd`; return (seconds, peak RSS MiB, exit code, stderr tail, CPU s) for that process alone.

    The command is started by /usr/bin/time, a small C program, because Linux carries a
    process's RSS high-water mark across exec: a child forked from this (large) Python process
    would report at least this process's RSS as its own peak.
    """
    started = time.monotonic()
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss_file:
        timed = ["/usr/bin/time", "-q", "-o", rss_file.name, "-f", "%M %U %S", *cmd]
        proc = subprocess.Popen(timed, env=env, stdout=subprocess.DEVNULL, stderr=err)
        proc.wait()
        seconds = time.monotonic() - started
        err.seek(0)
        tail = err.read()[-2000:].decode(errors="replace")
        fields = rss_file.read().split()[-3:]
    max_kib, user, system = int(fields[0]), float(fields[1]), float(fields[2])
    return seconds, max_kib / 1024, proc.returncode, tail, user + system


# -- emulator ceilings (tight client) ------------------------------------------------------------


def _ceiling_worker(args: tuple[str, str, list[str], bytes | None, dict[str, str]]) -> int:
    base, method, paths, body, headers = args
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    received = 0
    for path in paths:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
        received += len(data)
    conn.close()
    return received


def _rate(base: str, method: str, paths: list[str], body: bytes | None, headers: dict[str, str]) -> tuple[float, int]:
    """(seconds, bytes received) for `paths` spread over CEILING_CLIENTS processes."""
    jobs = [(base, method, paths[i::CEILING_CLIENTS], body, headers) for i in range(CEILING_CLIENTS)]
    with multiprocessing.get_context("fork").Pool(CEILING_CLIENTS) as pool:
        started = time.monotonic()
        received = sum(pool.map(_ceiling_worker, jobs))
        return time.monotonic() - started, received


def _ceilings(emulators: Emulators) -> dict[str, float]:
    """What each emulator sustains for the requests a copy sends, with no SDK in the way.

    Run after the copies, on a fresh Azurite, in a bucket of its own, so it slows no copy down.
    """
    _fresh_azurite(emulators)
    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    gcs = emulators.gcs.endpoint
    az = emulators.azure.credentials.azure.account_url or ""
    container = "bench-ceiling"
    BlobServiceClient.from_connection_string(_azure_conn_str(emulators)).create_container(container)
    sas = generate_container_sas(
        AZURITE_ACCOUNT, container, account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, write=True, create=True, add=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    small, large = os.urandom(4096), os.urandom(16 * MiB)
    octet = {"Content-Type": "application/octet-stream"}
    az_headers = {"x-ms-version": "2021-08-06"}
    n, m = CEILING_SMALL_REQUESTS, CEILING_LARGE_REQUESTS
    out: dict[str, float] = {}
    emulators.gcs.create_bucket(CEILING_BUCKET)
    upload = f"/upload/storage/v1/b/{CEILING_BUCKET}/o?uploadType=media&name="
    media = f"/storage/v1/b/{CEILING_BUCKET}/o/"
    seconds, _ = _rate(gcs, "POST", [f"{upload}ceiling%2Fs{i}" for i in range(n)], small, octet)
    out["fake_gcs_put_4k_per_s"] = round(n / seconds)
    seconds, _ = _rate(gcs, "GET", [f"{media}ceiling%2Fs{i}?alt=media" for i in range(n)], None, {})
    out["fake_gcs_get_4k_per_s"] = round(n / seconds)
    seconds, _ = _rate(gcs, "POST", [f"{upload}ceiling%2Fl{i}" for i in range(m)], large, octet)
    out["fake_gcs_put_16m_mb_per_s"] = round(m * len(large) / seconds / 1e6)
    seconds, got = _rate(gcs, "GET", [f"{media}ceiling%2Fl{i}?alt=media" for i in range(m)], None, {})
    out["fake_gcs_get_16m_mb_per_s"] = round(got / seconds / 1e6)
    prefix = f"{urlsplit(az).path}/{container}"
    blob_put = {**az_headers, "x-ms-blob-type": "BlockBlob"}
    seconds, _ = _rate(az, "PUT", [f"{prefix}/s{i}?{sas}" for i in range(n)], small, blob_put)
    out["azurite_put_4k_per_s"] = round(n / seconds)
    seconds, _ = _rate(az, "GET", [f"{prefix}/s{i}?{sas}" for i in range(n)], None, az_headers)
    out["azurite_get_4k_per_s"] = round(n / seconds)
    blocks = [quote(base64.b64encode(f"{i:06d}".encode()).decode()) for i in range(m)]
    seconds, _ = _rate(az, "PUT", [f"{prefix}/l?comp=block&blockid={b}&{sas}" for b in blocks], large, az_headers)
    out["azurite_put_block_16m_mb_per_s"] = round(m * len(large) / seconds / 1e6)
    _drop_container(emulators, container)
    return out


def _rclone_env(emulators: Emulators, container: str) -> dict[str, str]:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    azure = emulators.azure.credentials.azure
    token = generate_container_sas(
        azure.account_name, container, account_key=azure.account_key,
        permission=ContainerSasPermissions(read=True, write=True, delete=True, list=True, add=True, create=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=3),
    )
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update({
        "RCLONE_CONFIG_GCS_TYPE": "gcs",
        "RCLONE_CONFIG_GCS_ENDPOINT": emulators.gcs.endpoint.rstrip("/") + "/storage/v1/",
        "RCLONE_CONFIG_GCS_ANONYMOUS": "true",
        "RCLONE_CONFIG_GCS_PROJECT_NUMBER": "1",
        "RCLONE_CONFIG_GCS_BUCKET_POLICY_ONLY": "true",
        "RCLONE_CONFIG_AZ_TYPE": "azureblob",
        "RCLONE_CONFIG_AZ_SAS_URL": f"{azure.account_url}/{container}?{token}",
        "RCLONE_CONFIG_LOCAL_TYPE": "local",
    })
    return env


def _azure_conn_str(emulators: Emulators) -> str:
    return azurite_connection_string(emulators.azure.credentials.azure.account_url or "")


def _sky_env(emulators: Emulators) -> dict[str, str]:
    env = dict(os.environ)
    env["AZURE_STORAGE_CONNECTION_STRING"] = _azure_conn_str(emulators)
    env["STORAGE_EMULATOR_HOST"] = emulators.gcs.endpoint
    env.setdefault("GOOGLE_CLOUD_PROJECT", "bench")
    return env


def _make_local_dataset(root: Path, workload: Workload) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if workload.size >= MiB:
        block = os.urandom(MiB)
        for i in range(workload.count):
            with (root / f"large-{i:02d}.bin").open("wb") as handle:
                for j in range(workload.size // MiB):
                    handle.write(block[j % 97:] + block[: j % 97])  # distinct content per MiB, cheap to make
    else:
        for i in range(workload.count):
            (root / f"obj-{i:05d}").write_bytes(os.urandom(workload.size))


def _load_source(emulators: Emulators, local: Path, workload: Workload) -> None:
    env = _rclone_env(emulators, "unused")
    target = f"gcs:{SOURCE_BUCKET}/{workload.name}"
    cmd = ["rclone", "copy", "--transfers", "16", "--checkers", "16", str(local), target]
    subprocess.run(cmd, env=env, check=True, capture_output=True)


def _check_destination(emulators: Emulators, container: str, workload: Workload) -> tuple[int, int]:
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(_azure_conn_str(emulators))
    blobs = list(service.get_container_client(container).list_blobs())
    return len(blobs), sum(b.size for b in blobs)


def _fresh_container(emulators: Emulators, name: str) -> None:
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient.from_connection_string(_azure_conn_str(emulators)).create_container(name)


def _drop_container(emulators: Emulators, name: str) -> None:
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient.from_connection_string(_azure_conn_str(emulators)).delete_container(name)


def _commands(route: str, workload: Workload, dest: str) -> dict[str, list[str]]:
    """`dest` is a container name (gs -> azure) or a directory (gs -> file)."""
    source_gs = f"gs://{SOURCE_BUCKET}/{workload.name}/"
    rclone_src = f"gcs:{SOURCE_BUCKET}/{workload.name}"
    if route == "gs -> azure":
        ours_dst, rclone_dst = f"azure://{AZURITE_ACCOUNT}/{dest}/", f"az:{dest}"
        at_our_concurrency = [
            "--azureblob-upload-concurrency", str(OUR_CONCURRENCY), "--azureblob-chunk-size", f"{OUR_CHUNK_MIB}M",
        ]
    else:
        ours_dst, rclone_dst = f"file://{dest}/", dest
        at_our_concurrency = ["--multi-thread-streams", str(OUR_CONCURRENCY)]
    return {
        "airflow-sky": [str(AIRFLOW_SKY), "cp", "--no-progress", source_gs, ours_dst],
        "rclone (defaults)": ["rclone", "copy", rclone_src, rclone_dst],
        f"rclone (--transfers {OUR_CONCURRENCY})": [
            "rclone", "copy", "--transfers", str(OUR_CONCURRENCY), "--checkers", str(OUR_CONCURRENCY),
            *at_our_concurrency, rclone_src, rclone_dst,
        ],
    }


def _check_directory(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def _load_workload(emulators: Emulators, workload: Workload, work: Path) -> None:
    _make_local_dataset(work / workload.name, workload)
    _load_source(emulators, work / workload.name, workload)
    shutil.rmtree(work / workload.name)


def _fresh_azurite(emulators: Emulators) -> None:
    """Replace Azurite by a new, empty one.

    Azurite keeps every blob (and, for a while, deleted ones) in one Node.js heap, and its cost
    per request grows with it: measured here, rclone's 5,000 small objects cost Azurite 12.5 ms
    of CPU each when they came after our run, against ~3.5 ms on an empty Azurite. Each tool
    gets an empty one, so the order of the runs decides nothing.
    """
    emulators.azure.stop()
    emulators.azure = start_azurite()


def _run_workload(emulators: Emulators, route: str, workload: Workload, work: Path) -> list[RunResult]:
    results = []
    for index, tool in enumerate(_commands(route, workload, "x")):
        if route == "gs -> azure":
            _fresh_azurite(emulators)
            dest = f"bench-{workload.name}-{index}"
            _fresh_container(emulators, dest)
        else:
            dest = str(work / f"out-{workload.name}-{index}")
            Path(dest).mkdir()
        cmd = _commands(route, workload, dest)[tool]
        env = _sky_env(emulators) if tool == "airflow-sky" else _rclone_env(emulators, dest)
        gcs_group, azurite_group = emulators.gcs.pid, emulators.azure.pid
        gcs_before, azurite_before = _group_cpu(gcs_group), _group_cpu(azurite_group)
        load_before = os.getloadavg()[0]
        seconds, rss, code, tail, cpu = _timed_process(cmd, env)
        gcs_cpu, azurite_cpu = _group_cpu(gcs_group) - gcs_before, _group_cpu(azurite_group) - azurite_before
        load = round(max(load_before, os.getloadavg()[0]), 2)
        if route == "gs -> azure":
            objects, nbytes = _check_destination(emulators, dest, workload)
            _drop_container(emulators, dest)
        else:
            objects, nbytes = _check_directory(Path(dest))
            shutil.rmtree(dest)
        if code != 0 or (objects, nbytes) != (workload.count, workload.total_bytes):
            print(f"  {tool} failed (exit {code}, {objects} objects, {nbytes} bytes): {tail}", file=sys.stderr)
            code = code or 1
        results.append(RunResult(
            route, workload.name, tool, round(seconds, 3), objects, nbytes, round(nbytes / seconds / 1e6, 2),
            round(objects / seconds, 1), round(rss, 1), code, round(cpu, 2), round(gcs_cpu, 2),
            round(azurite_cpu, 2), load,
        ))
        print(f"  {route:<11} {workload.name:<6} {tool:<24} {seconds:7.2f} s  {nbytes / seconds / 1e6:8.1f} MB/s"
              f"  {objects / seconds:8.1f} obj/s  RSS {rss:6.1f} MiB  CPU own {cpu:5.2f} s"
              f"  fake-gcs {gcs_cpu:5.2f} s  Azurite {azurite_cpu:5.2f} s  load {load}", flush=True)
    return results


def _baseline_rss(emulators: Emulators, work: Path) -> float:
    """Peak RSS of `airflow-sky cp` moving one tiny object on the same route (gs -> azure).

    The constant part of our memory: the interpreter with the same store SDKs imported, one
    pool of workers started, and no chunk of any size in flight.
    """
    container = "bench-baseline"
    _fresh_container(emulators, container)
    tiny = Workload("baseline", 1, 1024)
    _load_workload(emulators, tiny, work)
    cmd = [
        str(AIRFLOW_SKY), "cp", "--no-progress", f"gs://{SOURCE_BUCKET}/{tiny.name}/",
        f"azure://{AZURITE_ACCOUNT}/{container}/",
    ]
    _, rss, code, tail, _ = _timed_process(cmd, _sky_env(emulators))
    _drop_container(emulators, container)
    if code:
        raise RuntimeError(f"baseline copy failed: {tail}")
    return rss


def _ratios(results: list[RunResult]) -> dict[str, dict[str, dict[str, float]]]:
    ratios: dict[str, dict[str, dict[str, float]]] = {}
    for route, workload in sorted({(r.route, r.workload) for r in results}):
        runs = [r for r in results if r.route == route and r.workload == workload]
        ours = next(r for r in runs if r.tool == "airflow-sky")
        ratios.setdefault(route, {})[workload] = {
            f"vs {r.tool}": round(ours.mb_per_s / r.mb_per_s, 2) if r.mb_per_s else 0.0
            for r in runs if r.tool != "airflow-sky"
        }
    return ratios


EMULATOR_BOUND_CORES = 0.9  # an emulator this busy (CPU s per wall s) is the ceiling: Azurite is one process


def _bounds(results: list[RunResult]) -> dict[str, dict[str, str]]:
    """Per route and workload, per tool: which emulator, if any, was the ceiling (from CPU per wall s)."""
    out: dict[str, dict[str, str]] = {}
    for r in results:
        busiest = max(("fake-gcs-server", r.fake_gcs_cpu_s), ("Azurite", r.azurite_cpu_s), key=lambda kv: kv[1])
        cores = busiest[1] / r.seconds
        verdict = (
            f"{busiest[0]}-bound ({cores:.2f} cores busy)"
            if cores >= EMULATOR_BOUND_CORES
            else f"not emulator-bound (busiest: {busiest[0]}, {cores:.2f} cores)"
        )
        out.setdefault(f"{r.route} / {r.workload}", {})[r.tool] = verdict
    return out


def _emulator_load(results: list[RunResult]) -> dict[str, dict[str, dict[str, float]]]:
    """Per run, each emulator's CPU per wall second (1.0 = one core busy): Azurite is one Node process."""
    load: dict[str, dict[str, dict[str, float]]] = {}
    for r in results:
        load.setdefault(f"{r.route} / {r.workload}", {})[r.tool] = {
            "fake_gcs_cores": round(r.fake_gcs_cpu_s / r.seconds, 2),
            "azurite_cores": round(r.azurite_cpu_s / r.seconds, 2),
            "own_cores": round(r.cpu_s / r.seconds, 2),
        }
    return load


def main() -> int:
    if shutil.which("rclone") is None:
        print("rclone is not installed: run `make setup`", file=sys.stderr)
        return 1
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="sky-bench-") as tmp, running_emulators() as emulators:
        from airflow_provider_sky.devtools.demo import create_demo_buckets

        create_demo_buckets(emulators, SOURCE_BUCKET)
        try:
            baseline = _baseline_rss(emulators, Path(tmp))
            for workload in WORKLOADS:
                _load_workload(emulators, workload, Path(tmp))
                for route in ROUTES:
                    results.extend(_run_workload(emulators, route, workload, Path(tmp)))
            ceilings = _ceilings(emulators)
            print(f"  emulator ceilings (tight client): {json.dumps(ceilings)}", flush=True)
            sync_unchanged = run_sync_cases(emulators, Path(tmp))
        finally:
            emulators.azure.stop()  # possibly a replacement started here (see _fresh_azurite)
    ratios = _ratios(results)
    bound_mib = OUR_CONCURRENCY * OUR_CHUNK_MIB
    ours_large = [r for r in results if r.workload == "large" and r.tool == "airflow-sky"]
    peak = max(r.peak_rss_mib for r in ours_large)
    memory = {
        "baseline_rss_mib": round(baseline, 1),
        "bound_mib_concurrency_x_chunk": bound_mib,
        "large_peak_rss_mib": peak,
        "large_peak_above_baseline_mib": round(peak - baseline, 1),
        "within_bound": peak - baseline <= bound_mib,
    }
    report = {
        "routes": {
            "gs -> azure": "fake-gcs-server -> Azurite (loopback): the issue's route",
            "gs -> file": "fake-gcs-server -> local directory: the emulator is not the ceiling",
        },
        "cpus": os.cpu_count(),
        "our_settings": {"concurrency": OUR_CONCURRENCY, "chunk_mib": OUR_CHUNK_MIB},
        "rclone_version": subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.split("\n")[0],
        "emulator_ceilings": ceilings,
        "runs": [asdict(r) for r in results],
        "throughput_ratio_ours_over_rclone": ratios,
        "emulator_cores_busy": _emulator_load(results),
        "emulator_bound": _bounds(results),
        "targets": {"large_vs_rclone": 1.2, "small_vs_rclone": 2.0},
        "memory": memory,
        "sync_unchanged": sync_unchanged,
    }
    (RESULTS / "copy_vs_rclone.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n| route | workload | tool | MB/s | objects/s | peak RSS MiB | CPU s (own / fake-gcs / Azurite) |")
    print("|---|---|---|---:|---:|---:|---|")
    for r in results:
        print(f"| {r.route} | {r.workload} | {r.tool} | {r.mb_per_s} | {r.objects_per_s} | {r.peak_rss_mib} "
              f"| {r.cpu_s} / {r.fake_gcs_cpu_s} / {r.azurite_cpu_s} |")
    print(f"\nratios (ours / rclone): {json.dumps(ratios)}")
    print(f"memory: {json.dumps(memory)}")
    return 0 if all(r.exit_code == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
