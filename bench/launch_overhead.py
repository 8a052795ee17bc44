"""Launch overhead on the local cloud: provision + start + wait + teardown for a trivial task.

What it measures is the launcher's own cost (SSH round trips, uploads, polling, teardown), the
part a user pays on every task whatever the cloud. The task runs `true`, so everything measured
is overhead. Target: under 5 s end to end. Writes bench/results/launch_overhead.json.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

TRIALS = 5
TARGET_SECONDS = 5.0
POLL_INTERVAL = 0.2
RESULTS = Path(__file__).parent / "results" / "launch_overhead.json"


def _one_trial(index: int) -> dict[str, float]:
    from airflow_provider_sky.launch import runner
    from airflow_provider_sky.launch.plan import Candidate, LaunchPlan
    from airflow_provider_sky.launch.task import TaskSpec

    task = TaskSpec.from_dict({"name": "bench", "setup": "true", "run": "true"})
    plan = LaunchPlan("bench", [Candidate("local", "local-a", "local-a1", "local.small", False, 0.01)])
    quiet = lambda _line: None  # noqa: E731
    t0 = time.perf_counter()
    handle, _ = runner.provision(task, plan, cluster_name=f"bench-{index}", log=quiet)
    t1 = time.perf_counter()
    runner.start_job(handle, task, log=quiet)
    t2 = time.perf_counter()
    exit_code = runner.wait_job(handle, quiet, POLL_INTERVAL, time.monotonic(), 60)
    t3 = time.perf_counter()
    runner.teardown(handle, log=quiet)
    t4 = time.perf_counter()
    assert exit_code == 0, f"trivial task exited {exit_code}"
    return {"provision": t1 - t0, "start": t2 - t1, "wait": t3 - t2, "teardown": t4 - t3, "total": t4 - t0}


def main() -> int:
    previous = os.environ.get("SKY_STATE_DIR")
    with tempfile.TemporaryDirectory(prefix="sky-bench-") as state_dir:
        os.environ["SKY_STATE_DIR"] = state_dir
        try:
            trials = [_one_trial(i) for i in range(TRIALS)]
        finally:
            if previous is None:
                os.environ.pop("SKY_STATE_DIR", None)
            else:
                os.environ["SKY_STATE_DIR"] = previous
    phases = ["provision", "start", "wait", "teardown", "total"]
    summary = {
        p: {"median_s": statistics.median(t[p] for t in trials), "max_s": max(t[p] for t in trials)}
        for p in phases
    }
    result = {
        "benchmark": "launch_overhead",
        "backend": "local",
        "trials": TRIALS,
        "poll_interval_s": POLL_INTERVAL,
        "target_total_s": TARGET_SECONDS,
        "phases": summary,
        "runs": trials,
        "meets_target": summary["total"]["median_s"] < TARGET_SECONDS,
        "cpu_count": os.cpu_count(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"launch overhead on the local cloud, {TRIALS} trials (trivial task, poll every {POLL_INTERVAL}s)")
    print(f"{'phase':<10} {'median s':>9} {'max s':>7}")
    for p in phases:
        print(f"{p:<10} {summary[p]['median_s']:>9.3f} {summary[p]['max_s']:>7.3f}")
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(f"median total {summary['total']['median_s']:.2f}s {verdict} the {TARGET_SECONDS:.0f}s target")
    print(f"wrote {RESULTS}")
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
