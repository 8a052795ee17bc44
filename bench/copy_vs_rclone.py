"""Our copy engine against rclone, the same data between the same emulators, in one run.

Route: fake-gcs-server (GCS) -> Azurite (Azure Blob), both on loopback. Two workloads:
(a) a few large objects (3 x 256 MiB), (b) 5,000 objects of 4 KiB. Each is copied by
`airflow-sky cp` (our engine, default settings), by rclone with its defaults, and by rclone at
our concurrency. Every run writes to a fresh container that is checked (object count and
bytes) and then deleted. Peak RSS is the copying process's own high-water mark (wait4).

Writes bench/results/copy_vs_rclone.json and prints a table. Targets from the issue: >= 1.2x
rclone's throughput on (a) and >= 2x on (b), with our peak memory inside
concurrency x chunk size plus a constant.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from airflow_provider_sky.devtools.emulators import (
    AZURITE_ACCOUNT,
    Emulators,
    azurite_connection_string,
    running_emulators,
)

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
AIRFLOW_SKY = REPO / ".venv" / "bin" / "airflow-sky"
SOURCE_BUCKET = "bench-source"
OUR_CONCURRENCY = 16
OUR_CHUNK_MIB = 16
MiB = 1024 * 1024


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
    workload: str
    tool: str
    seconds: float
    objects: int
    bytes: int
    mb_per_s: float
    objects_per_s: float
    peak_rss_mib: float
    exit_code: int


def _timed_process(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """Run `cmd`; return (seconds, peak RSS MiB, exit code, stderr tail) for that process alone."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        err.seek(0)
        tail = err.read()[-2000:].decode(errors="replace")
    return seconds, usage.ru_maxrss / 1024, proc.returncode, tail


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


def _commands(workload: Workload, container: str) -> dict[str, list[str]]:
    source_gs = f"gs://{SOURCE_BUCKET}/{workload.name}/"
    dest_az = f"azure://{AZURITE_ACCOUNT}/{container}/"
    rclone_src, rclone_dst = f"gcs:{SOURCE_BUCKET}/{workload.name}", f"az:{container}"
    return {
        "airflow-sky": [str(AIRFLOW_SKY), "cp", "--no-progress", source_gs, dest_az],
        "rclone (defaults)": ["rclone", "copy", rclone_src, rclone_dst],
        f"rclone (--transfers {OUR_CONCURRENCY})": [
            "rclone", "copy", "--transfers", str(OUR_CONCURRENCY), "--checkers", str(OUR_CONCURRENCY),
            "--azureblob-upload-concurrency", str(OUR_CONCURRENCY), "--azureblob-chunk-size", f"{OUR_CHUNK_MIB}M",
            rclone_src, rclone_dst,
        ],
    }


def _run_workload(emulators: Emulators, workload: Workload, work: Path) -> list[RunResult]:
    _make_local_dataset(work / workload.name, workload)
    _load_source(emulators, work / workload.name, workload)
    shutil.rmtree(work / workload.name)
    results = []
    for index, (tool, _) in enumerate(_commands(workload, "x").items()):
        container = f"bench-{workload.name}-{index}"
        _fresh_container(emulators, container)
        cmd = _commands(workload, container)[tool]
        env = _sky_env(emulators) if tool == "airflow-sky" else _rclone_env(emulators, container)
        seconds, rss, code, tail = _timed_process(cmd, env)
        objects, nbytes = _check_destination(emulators, container, workload)
        _drop_container(emulators, container)
        if code != 0 or (objects, nbytes) != (workload.count, workload.total_bytes):
            print(f"  {tool} failed (exit {code}, {objects} objects, {nbytes} bytes): {tail}", file=sys.stderr)
            code = code or 1
        results.append(RunResult(
            workload.name, tool, round(seconds, 3), objects, nbytes, round(nbytes / seconds / 1e6, 2),
            round(objects / seconds, 1), round(rss, 1), code,
        ))
        print(f"  {workload.name:<6} {tool:<24} {seconds:7.2f} s  {nbytes / seconds / 1e6:8.1f} MB/s"
              f"  {objects / seconds:8.1f} obj/s  peak RSS {rss:7.1f} MiB", flush=True)
    return results


def _baseline_rss(emulators: Emulators, work: Path) -> float:
    """Peak RSS of `airflow-sky cp` moving one tiny object: the constant part of our memory."""
    container = "bench-baseline"
    _fresh_container(emulators, container)
    _make_local_dataset(work / "tiny", Workload("tiny", 1, 1024))
    cmd = [str(AIRFLOW_SKY), "cp", "--no-progress", f"file://{work}/tiny/", f"azure://{AZURITE_ACCOUNT}/{container}/"]
    _, rss, code, tail = _timed_process(cmd, _sky_env(emulators))
    _drop_container(emulators, container)
    if code:
        raise RuntimeError(f"baseline copy failed: {tail}")
    return rss


def _ratios(results: list[RunResult]) -> dict[str, dict[str, float]]:
    ratios: dict[str, dict[str, float]] = {}
    for workload in {r.workload for r in results}:
        ours = next(r for r in results if r.workload == workload and r.tool == "airflow-sky")
        ratios[workload] = {
            f"vs {r.tool}": round(ours.mb_per_s / r.mb_per_s, 2) if r.mb_per_s else 0.0
            for r in results if r.workload == workload and r.tool != "airflow-sky"
        }
    return ratios


def main() -> int:
    if shutil.which("rclone") is None:
        print("rclone is not installed: run `make setup`", file=sys.stderr)
        return 1
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="sky-bench-") as tmp, running_emulators() as emulators:
        from airflow_provider_sky.devtools.demo import create_demo_buckets

        create_demo_buckets(emulators.credentials, SOURCE_BUCKET)
        baseline = _baseline_rss(emulators, Path(tmp))
        for workload in WORKLOADS:
            results.extend(_run_workload(emulators, workload, Path(tmp)))
    ratios = _ratios(results)
    bound_mib = OUR_CONCURRENCY * OUR_CHUNK_MIB
    ours_large = next(r for r in results if r.workload == "large" and r.tool == "airflow-sky")
    memory = {
        "baseline_rss_mib": round(baseline, 1),
        "bound_mib_concurrency_x_chunk": bound_mib,
        "large_peak_rss_mib": ours_large.peak_rss_mib,
        "large_peak_above_baseline_mib": round(ours_large.peak_rss_mib - baseline, 1),
        "within_bound": ours_large.peak_rss_mib - baseline <= bound_mib,
    }
    report = {
        "route": "fake-gcs-server -> Azurite (loopback)",
        "cpus": os.cpu_count(),
        "our_settings": {"concurrency": OUR_CONCURRENCY, "chunk_mib": OUR_CHUNK_MIB},
        "rclone_version": subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.split("\n")[0],
        "runs": [asdict(r) for r in results],
        "throughput_ratio_ours_over_rclone": ratios,
        "targets": {"large_vs_rclone": 1.2, "small_vs_rclone": 2.0},
        "memory": memory,
    }
    (RESULTS / "copy_vs_rclone.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n| workload | tool | MB/s | objects/s | peak RSS MiB |\n|---|---|---:|---:|---:|")
    for r in results:
        print(f"| {r.workload} | {r.tool} | {r.mb_per_s} | {r.objects_per_s} | {r.peak_rss_mib} |")
    print(f"\nratios (ours / rclone): {json.dumps(ratios)}")
    print(f"memory: {json.dumps(memory)}")
    return 0 if all(r.exit_code == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
