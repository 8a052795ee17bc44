"""``python -m airflow_provider_sky.testbed PROFILE``: build, measure every link, tear down.

A quick check that this machine shapes as the profile says before trusting a benchmark on it:
each direction of each link gets a bounded blast sized to last about ``--seconds``, compared with
its shaped rate; the management links must be much faster than any shaped link. Exits 1 when a
link is off by more than ``--tolerance``, 2 when the testbed cannot be built here.
"""

from __future__ import annotations

import argparse
import sys

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.testbed.probe import measure_link, measure_mgmt
from airflow_provider_sky.testbed.profiles import profile_names
from airflow_provider_sky.testbed.shaped import Testbed
from airflow_provider_sky.testbed.sweep import sweep_stale

MIN_BYTES, MAX_BYTES = 1_000_000, 20_000_000
MGMT_BYTES = 20_000_000


def blast_bytes(gbps: float, seconds: float) -> int:
    """Bytes that take about ``seconds`` at ``gbps``, within fixed bounds."""
    return int(min(MAX_BYTES, max(MIN_BYTES, gbps * 1e9 / 8 * seconds)))


def check(testbed: Testbed, seconds: float, tolerance: float) -> bool:
    """Print one line per measured link; True when every link is within ``tolerance``."""
    ok = True
    fastest = 0.0
    for a in testbed.regions:
        for b in testbed.regions:
            rate = testbed.rate(a, b)
            if a == b or rate <= 0:
                continue
            fastest = max(fastest, rate)
            got = measure_link(testbed, a, b, blast_bytes(rate, seconds)).gbps
            off = got / rate - 1
            good = abs(off) <= tolerance
            ok &= good
            print(f"{'ok ' if good else 'BAD'} {a} -> {b}: shaped {rate * 1e3:7.1f} Mbit/s, "
                  f"measured {got * 1e3:7.1f} Mbit/s ({off:+.0%})")  # fmt: skip
    for region in testbed.regions:
        got = measure_mgmt(testbed, region, MGMT_BYTES).gbps
        good = got > 2 * fastest
        ok &= good
        print(f"{'ok ' if good else 'BAD'} root -> {region} (management, unshaped): {got * 1e3:7.1f} Mbit/s")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_sky.testbed", description=__doc__.split("\n")[0])
    parser.add_argument("profile", nargs="?", help=f"packaged name ({', '.join(profile_names())}) or a JSON path")
    parser.add_argument("--seconds", type=float, default=0.5, help="approximate length of each blast")
    parser.add_argument("--tolerance", type=float, default=0.30, help="largest accepted relative error")
    parser.add_argument("--sweep", action="store_true", help="only remove testbeds left by dead processes")
    args = parser.parse_args(argv)
    if args.sweep:
        removed = sweep_stale()
        print("removed: " + (", ".join(removed) if removed else "nothing"))
        return 0
    if not args.profile:
        parser.error("give a profile, or --sweep")
    try:
        with Testbed.build(args.profile) as testbed:
            print(f"testbed {testbed.id} ({testbed.name}): {', '.join(testbed.namespaces.values())}")
            ok = check(testbed, args.seconds, args.tolerance)
    except SkyUserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("all links within tolerance" if ok else f"some links are off by more than {args.tolerance:.0%}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
