"""The copy benchmark's sync case: re-syncing 3,000 unchanged objects, ours against `rclone sync`.

Why a case of its own: a rerun over an unchanged tree is where a sync tool spends its time
deciding, not moving bytes; onto S3 that decision used to cost one HEAD per object. The source
is 3,000 objects of 1 KiB on fake-gcs-server; the destinations are S3 (moto), GCS (a second
fake-gcs-server bucket), Azure (Azurite) and a local directory. Each tool first fills its own
destination (so each re-sync meets what that tool wrote, stamps or modtime metadata), then
re-syncs it in interleaved rounds: `airflow-sky sync`, `rclone sync` (size + modtime, its
default) and `rclone sync --checksum` (size + MD5 from the listing). Every re-sync must copy
nothing; a tool that copies is reported as failed. On S3 the requests each run sent are counted
on the server side, from moto's request log (HEAD and all). Reported: the median wall time per
tool and the median of per-round ratios (ours / rclone's).

Run by bench/copy_vs_rclone.py, or alone: `python -m bench.copy_sync` (results merge into
bench/results/copy_vs_rclone.json under "sync_unchanged").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow_provider_sky.devtools.emulators import AZURITE_ACCOUNT, MOTO_REGION, Emulators, running_emulators

COUNT = int(os.environ.get("SKY_BENCH_SYNC_COUNT", "3000"))
SIZE = 1024
ROUNDS = int(os.environ.get("SKY_BENCH_SYNC_ROUNDS", "3"))
SOURCE_PREFIX = "sync"
DESTINATIONS = ("s3", "gs", "azure", "file")
TOOLS = ("airflow-sky", "rclone sync", "rclone sync --checksum")
_REQUEST_LINE = re.compile(rb'"([A-Z]+) /[^"]* HTTP/1\.[01]"')


def _targets(emulators: Emulators, store: str, owner: str, work: Path) -> tuple[str, str]:
    """(our URL, rclone's remote path) of `owner`'s destination on `store`, created empty."""
    name = f"sync-{owner}"
    if store == "file":
        path = work / name
        path.mkdir()
        return f"file://{path}/", str(path)
    {"s3": emulators.s3, "gs": emulators.gcs, "azure": emulators.azure}[store].create_bucket(name)
    if store == "azure":
        return f"azure://{AZURITE_ACCOUNT}/{name}/", f"az:{name}"
    remote = "gcs" if store == "gs" else "s3"
    return f"{store}://{name}/", f"{remote}:{name}"


def _rclone_env(emulators: Emulators, container: str) -> dict[str, str]:
    from bench.copy_vs_rclone import _rclone_env as base_env

    env = base_env(emulators, container)
    env.update(
        {
            "RCLONE_CONFIG_S3_TYPE": "s3",
            "RCLONE_CONFIG_S3_PROVIDER": "Other",
            "RCLONE_CONFIG_S3_ENDPOINT": emulators.s3.endpoint,
            "RCLONE_CONFIG_S3_ACCESS_KEY_ID": "testing",
            "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": "testing",
            "RCLONE_CONFIG_S3_REGION": MOTO_REGION,
            "RCLONE_CONFIG_S3_FORCE_PATH_STYLE": "true",
        }
    )
    return env


def _sky_env(emulators: Emulators) -> dict[str, str]:
    from bench.copy_vs_rclone import _sky_env as base_env

    env = base_env(emulators)
    env.update(
        {
            "AWS_ENDPOINT_URL_S3": emulators.s3.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": MOTO_REGION,
        }
    )
    return env


def _command(tool: str, source: tuple[str, str], target: tuple[str, str]) -> list[str]:
    from bench.copy_vs_rclone import AIRFLOW_SKY

    if tool == "airflow-sky":
        return [str(AIRFLOW_SKY), "sync", "--no-progress", "--json", source[0], target[0]]
    checksum = ["--checksum"] if tool.endswith("--checksum") else []
    return ["rclone", "sync", *checksum, "--stats-one-line", "-v", source[1], target[1]]


def _copied_nothing(tool: str, output: str) -> bool:
    """A re-sync of an unchanged tree must transfer nothing (our JSON summary, rclone's stats)."""
    if tool == "airflow-sky":
        summary = json.loads(output[output.index("{") :])
        return summary["objects"] == 0 and summary["skipped"] == COUNT
    return re.search(r"Transferred:\s+0 / 0", output) is not None or "There was nothing to transfer" in output


class _MotoLog:
    """Counts the requests moto logged (one werkzeug access line each) since the last call."""

    def __init__(self, emulators: Emulators) -> None:
        self._log = emulators.s3._log
        self._log.seek(0, os.SEEK_END)
        self._at = self._log.tell()

    def since(self) -> dict[str, int]:
        self._log.seek(self._at)
        text = self._log.read()
        self._at += len(text)
        methods = [m.group(1).decode() for m in _REQUEST_LINE.finditer(text)]
        return {"requests": len(methods), "HEAD": methods.count("HEAD")}


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done.returncode, done.stdout + done.stderr


def _store_case(emulators: Emulators, store: str, source: tuple[str, str], work: Path) -> dict[str, Any]:
    targets = {"ours": _targets(emulators, store, "ours", work), "rclone": _targets(emulators, store, "rclone", work)}
    envs = {"ours": _sky_env(emulators), "rclone": _rclone_env(emulators, "sync-rclone")}

    def owner(tool: str) -> str:
        return "ours" if tool == "airflow-sky" else "rclone"

    for tool in TOOLS[:2]:  # the first fill; the --checksum runs re-sync rclone's own destination
        seconds, code, output = _run(_command(tool, source, targets[owner(tool)]), envs[owner(tool)])
        if code:
            raise RuntimeError(f"first {tool} onto {store} failed: {output[-800:]}")
    times: dict[str, list[float]] = {tool: [] for tool in TOOLS}
    requests: dict[str, list[dict[str, int]]] = {tool: [] for tool in TOOLS}
    failures: list[str] = []
    for round_index in range(ROUNDS):
        order = TOOLS if round_index % 2 == 0 else tuple(reversed(TOOLS))
        for tool in order:
            moto = _MotoLog(emulators) if store == "s3" else None
            seconds, code, output = _run(_command(tool, source, targets[owner(tool)]), envs[owner(tool)])
            if moto is not None:
                requests[tool].append(moto.since())
            if code or not _copied_nothing(tool, output):
                failures.append(f"{tool}: exit {code}, {output[-400:]}")
            times[tool].append(seconds)
            print(f"  sync unchanged -> {store:<5} {tool:<24} {seconds:6.2f} s", flush=True)
    ours = times["airflow-sky"]
    case: dict[str, Any] = {
        "median_s": {tool: round(statistics.median(t), 3) for tool, t in times.items()},
        "ratio_ours_over_peer_median": {
            f"vs {tool}": round(statistics.median(o / p for o, p in zip(ours, times[tool], strict=True)), 2)
            for tool in TOOLS[1:]
        },
        "runs_s": {tool: [round(s, 3) for s in t] for tool, t in times.items()},
        "failures": failures,
    }
    if store == "s3":
        case["moto_requests_per_run"] = {tool: r[-1] if r else {} for tool, r in requests.items()}
    return case


def _load_source(emulators: Emulators, work: Path) -> tuple[str, str]:
    from bench.copy_vs_rclone import SOURCE_BUCKET

    local = work / "sync-source"
    local.mkdir()
    for i in range(COUNT):
        (local / f"obj-{i:05d}").write_bytes(os.urandom(SIZE))
    subprocess.run(
        ["rclone", "copy", "--transfers", "16", str(local), f"gcs:{SOURCE_BUCKET}/{SOURCE_PREFIX}"],
        env=_rclone_env(emulators, "unused"),
        check=True,
        capture_output=True,
    )
    shutil.rmtree(local)
    return f"gs://{SOURCE_BUCKET}/{SOURCE_PREFIX}/", f"gcs:{SOURCE_BUCKET}/{SOURCE_PREFIX}"


def run_sync_cases(emulators: Emulators, work: Path) -> dict[str, Any]:
    """The sync case on every destination store, with the emulators already running."""
    source = _load_source(emulators, work)
    cases = {store: _store_case(emulators, store, source, work) for store in DESTINATIONS}
    return {
        "objects": COUNT,
        "object_bytes": SIZE,
        "rounds": ROUNDS,
        "source": "fake-gcs-server",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "stores": cases,
    }


def main() -> int:
    from airflow_provider_sky.devtools.demo import create_demo_buckets
    from bench.copy_vs_rclone import RESULTS, SOURCE_BUCKET

    with tempfile.TemporaryDirectory(prefix="sky-bench-sync-") as tmp, running_emulators() as emulators:
        create_demo_buckets(emulators, SOURCE_BUCKET)
        report = run_sync_cases(emulators, Path(tmp))
    path = RESULTS / "copy_vs_rclone.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["sync_unchanged"] = report
    path.write_text(json.dumps(results, indent=2) + "\n")
    for store, case in report["stores"].items():
        print(
            f"  {store}: median s {json.dumps(case['median_s'])}, ours / rclone "
            f"{json.dumps(case['ratio_ours_over_peer_median'])} {json.dumps(case.get('moto_requests_per_run', ''))}"
        )
    return 1 if any(c["failures"] for c in report["stores"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
