"""`make bench`: run every benchmark in turn; each writes JSON under bench/results/ and prints a table.

Benchmarks compare against a peer in the same run (rclone, Skyplane's own solver), so their
ratios hold on any machine; absolute numbers depend on the machine and are reported as measured.
A benchmark that fails does not stop the others; the exit code says whether all succeeded.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback

BENCHMARKS = (
    "bench.copy_vs_rclone",
    "bench.planner_vs_skyplane",
    "bench.launch_optimizer",
    "bench.launch_overhead",
    "bench.overlay",
    "bench.cli_startup",
    "bench.http_paths",
)


def main(argv: list[str] | None = None) -> int:
    selected = argv if argv else list(BENCHMARKS)
    failed: list[str] = []
    for name in selected:
        module_name = name if name.startswith("bench.") else f"bench.{name}"
        print(f"\n=== {module_name} ===", flush=True)
        started = time.monotonic()
        try:
            result = importlib.import_module(module_name).main()
        except Exception:
            traceback.print_exc()
            result = 1
        if result:
            failed.append(module_name)
        outcome = "FAILED" if result else "ok"
        print(f"=== {module_name}: {outcome} in {time.monotonic() - started:.1f} s ===", flush=True)
    if failed:
        print(f"\nFailed benchmarks: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
