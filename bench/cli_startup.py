"""How fast `airflow-sky` starts, against rclone's start-up in the same run.

Three cases, each run as a fresh process, ours and rclone's interleaved round by round so a busy
moment on the shared machine hits both:
- listing the commands: `airflow-sky --help` vs `rclone --help`;
- planning a launch: `airflow-sky launch TASK --dry-run` (the packaged catalogs, no cloud
  calls) vs `rclone version` (rclone's cheapest real command; it has no launch peer);
- a one-object copy gs -> azure (fake-gcs-server -> Azurite, 100 KB): `airflow-sky cp` vs
  `rclone copyto`, both reading the same object and writing a new blob.
A probe run also records which heavy packages each command imported (cvxpy and Airflow must not
be among them for --help and launch). Medians of per-round wall times and of per-round ratios.

Targets from the issue: --help under 0.3 s; launch --dry-run without cvxpy; the one-object copy
within 0.5 s of rclone's wall time. Writes bench/results/cli_startup.json and prints a table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from airflow_provider_sky.devtools.emulators import (
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    azurite_connection_string,
    start_azurite,
    start_fake_gcs,
)

RESULTS = Path(__file__).resolve().parent / "results"
AIRFLOW_SKY = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "airflow-sky"
ROUNDS = int(os.environ.get("SKY_BENCH_STARTUP_ROUNDS", "9"))
OBJECT_BYTES = 100_000
SOURCE, CONTAINER = "startup-src", "startup-dst"
HEAVY = ("cvxpy", "airflow", "numpy", "google", "azure", "boto3", "paramiko")
TARGETS = {"help_s": 0.3, "cp_seconds_over_rclone": 0.5}
_PROBE = (
    "import json, sys\nfrom airflow_provider_sky.cli.main import main\n"
    "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    f"print('IMPORTED', json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))), "
    "file=sys.stderr)\n"
)


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... exited {result.returncode}: {result.stderr[-800:]}")
    return seconds


def _imported(argv: list[str], env: dict[str, str]) -> list[str]:
    result = subprocess.run([sys.executable, "-c", _PROBE, *argv], env=env, capture_output=True, text=True)
    line = next(line for line in result.stderr.splitlines() if line.startswith("IMPORTED"))
    return json.loads(line.removeprefix("IMPORTED "))


def _rclone_env(gcs_endpoint: str, account_url: str) -> dict[str, str]:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    token = generate_container_sas(
        AZURITE_ACCOUNT, CONTAINER, account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, write=True, list=True, add=True, create=True),
        expiry=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2),
    )  # fmt: skip
    return os.environ | {
        "RCLONE_CONFIG_GCS_TYPE": "gcs",
        "RCLONE_CONFIG_GCS_ENDPOINT": gcs_endpoint.rstrip("/") + "/storage/v1/",
        "RCLONE_CONFIG_GCS_ANONYMOUS": "true",
        "RCLONE_CONFIG_GCS_BUCKET_POLICY_ONLY": "true",
        "RCLONE_CONFIG_AZ_TYPE": "azureblob",
        "RCLONE_CONFIG_AZ_SAS_URL": f"{account_url}/{CONTAINER}?{token}",
    }


def _bytecode_cached() -> bool:
    """Whether the installed packages carry compiled bytecode (else every start compiles them)."""
    site = Path(sysconfig.get_paths()["purelib"])
    return any((site / "azure" / "storage" / "blob" / "__pycache__").glob("*.pyc"))


def _summary(ours: list[float], peer: list[float]) -> dict[str, float]:
    return {
        "ours_median_s": round(statistics.median(ours), 3),
        "peer_median_s": round(statistics.median(peer), 3),
        "ratio_median": round(statistics.median(o / p for o, p in zip(ours, peer, strict=True)), 2),
        "difference_median_s": round(statistics.median(o - p for o, p in zip(ours, peer, strict=True)), 3),
    }


def main() -> int:
    if shutil.which("rclone") is None:
        print("rclone is not installed: run `make setup`", file=sys.stderr)
        return 1
    RESULTS.mkdir(parents=True, exist_ok=True)
    times: dict[str, dict[str, list[float]]] = {case: {"ours": [], "peer": []} for case in ("help", "launch", "cp")}
    with tempfile.TemporaryDirectory(prefix="sky-startup-") as tmp:
        task = Path(tmp) / "task.yaml"
        task.write_text("resources:\n  cpus: 4+\nrun: echo hi\n")
        gcs, azure = start_fake_gcs(), start_azurite()
        try:
            gcs.create_bucket(SOURCE)
            azure.create_bucket(CONTAINER)
            data = os.urandom(OBJECT_BYTES)
            source_store = gcs.open_store()
            source_store.put(SOURCE, "obj.bin", data, hashlib.md5(data).digest(), {})
            source_store.close()
            sky_env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")} | {
                "STORAGE_EMULATOR_HOST": gcs.endpoint,
                "AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string(azure.endpoint),
                "GOOGLE_CLOUD_PROJECT": "bench",
            }
            rclone_env = _rclone_env(gcs.endpoint, azure.endpoint)
            imports = {
                "--help": _imported(["--help"], sky_env),
                "launch --dry-run": _imported(["launch", str(task), "--dry-run"], sky_env),
                "cp gs -> azure": _imported(
                    ["cp", "--no-progress", f"gs://{SOURCE}/obj.bin", f"azure://{AZURITE_ACCOUNT}/{CONTAINER}/p"],
                    sky_env,
                ),
            }
            for i in range(ROUNDS):
                pairs = {
                    "help": ([str(AIRFLOW_SKY), "--help"], ["rclone", "--help"]),
                    "launch": ([str(AIRFLOW_SKY), "launch", str(task), "--dry-run"], ["rclone", "version"]),
                    "cp": (
                        [str(AIRFLOW_SKY), "cp", "--no-progress", f"gs://{SOURCE}/obj.bin",
                         f"azure://{AZURITE_ACCOUNT}/{CONTAINER}/ours-{i}.bin"],
                        ["rclone", "copyto", "-q", f"gcs:{SOURCE}/obj.bin", f"az:{CONTAINER}/rclone-{i}.bin"],
                    ),
                }  # fmt: skip
                for case, (ours, peer) in pairs.items():
                    first, second = ("ours", ours, sky_env), ("peer", peer, rclone_env)
                    for who, cmd, env in (first, second) if i % 2 == 0 else (second, first):
                        times[case][who].append(_wall(cmd, env))
            destination_store = azure.open_store()
            copied = [o for o in destination_store.list(CONTAINER, "") if o.key != "p"]
            destination_store.close()
            assert len(copied) == 2 * ROUNDS and all(o.size == OBJECT_BYTES for o in copied), copied
        finally:
            gcs.stop()
            azure.stop()
    summary = {case: _summary(t["ours"], t["peer"]) for case, t in times.items()}
    report = {
        "rounds": ROUNDS,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "rclone_version": subprocess.run(["rclone", "version"], capture_output=True, text=True).stdout.split("\n")[0],
        "bytecode_cached": _bytecode_cached(),
        "peers": {"help": "rclone --help", "launch": "rclone version", "cp": "rclone copyto (gs -> azure)"},
        "imported": imports,
        "summary": summary,
        "runs": times,
        "targets": TARGETS,
        "met": {
            "help_under_0.3_s": summary["help"]["ours_median_s"] < TARGETS["help_s"],
            "launch_without_cvxpy": "cvxpy" not in imports["launch --dry-run"],
            "cp_within_0.5_s_of_rclone": summary["cp"]["difference_median_s"] <= TARGETS["cp_seconds_over_rclone"],
        },
    }
    (RESULTS / "cli_startup.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n| case | ours s (median) | peer | peer s | ours / peer | ours - peer s | heavy imports |")
    print("|---|---:|---|---:|---:|---:|---|")
    for (case, s), label in zip(summary.items(), imports, strict=True):
        print(f"| {label} | {s['ours_median_s']} | {report['peers'][case]} | {s['peer_median_s']} | "
              f"{s['ratio_median']}x | {s['difference_median_s']} | {', '.join(imports[label]) or '-'} |")  # fmt: skip
    print(f"\nmet: {json.dumps(report['met'])}; bytecode cached: {report['bytecode_cached']}")
    return 0
