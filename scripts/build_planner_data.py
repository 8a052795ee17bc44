#!/usr/bin/env python3
"""Build the planner's packaged region grids from Skyplane's measured profiles.

Reads the CSV files under a Skyplane profile directory (default: /work/shared/data/skyplane)
and writes one gzip'd JSON grid per measurement campaign into
``airflow_provider_sky/planner/data/``. The CSVs are ~8 MB; the packaged grids are ~60 KB each,
so the wheel stays small and loading stays in the millisecond range.

Rules, chosen to match how Skyplane's own ILP reads the same files:

* throughput is the iperf3 ``throughput_sent`` column in bits/s of the PREMIUM/PREMIUM row,
  stored as decimal Gbit/s (bits/s / 1e9) rounded to 4 decimals;
* when a pair was measured more than once the first row after sorting by
  (src, dst, src_tier, dst_tier) wins, as in Skyplane's ``get_path_throughput``;
* egress prices are USD per GB, kept at full precision (Skyplane rounds to cents when solving;
  the benchmark does the same).

Usage: ``python scripts/build_planner_data.py [--source DIR]``
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "airflow_provider_sky" / "planner" / "data"

# Per-VM NIC limits (egress, ingress) in Gbit/s for the VM types the grids were measured on
# (AWS m5.8xlarge, GCP n2-standard-32, Azure Standard_D32_v5), as in Skyplane's ThroughputProblem.
NIC_GBPS = {"aws": (5.0, 10.0), "gcp": (7.0, 16.0), "azure": (16.0, 16.0)}
# Gateway VM price in USD/hour: Skyplane's planner default (m5.8xlarge spot, 2022) for every cloud.
VM_USD_PER_HOUR = {"aws": 0.54, "gcp": 0.54, "azure": 0.54}
# Default gateway VMs per region (Skyplane's reference runs use 8).
VM_LIMIT = 8

CAMPAIGNS = {
    "skyplane-2022-01": ("throughput.csv", "cost.csv", "iperf3 grid measured 2022-01-29 (Skyplane 0.3.1)"),
    "skyplane-2022-11": (
        "broadcast_profiles/throughput.csv",
        "broadcast_profiles/cost.csv",
        "iperf3 grid measured 2022-11-28 (Skyplane multicast profiles)",
    ),
}


def read_throughput(path: Path) -> dict[tuple[str, str], float]:
    """Return bits/s per (src, dst) for PREMIUM/PREMIUM rows, first row after Skyplane's sort."""
    rows = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["src_tier"] == "PREMIUM" and row["dst_tier"] == "PREMIUM":
                rows.append((row["src_region"], row["dst_region"], float(row["throughput_sent"])))
    out: dict[tuple[str, str], float] = {}
    for src, dst, bps in sorted(rows, key=lambda r: (r[0], r[1])):  # stable: file order breaks ties
        out.setdefault((src, dst), bps)
    return out


def read_cost(path: Path) -> dict[tuple[str, str], float]:
    """Return USD/GB egress per (src, dst); both cost file layouts name the columns src, dest, cost."""
    with path.open(newline="") as fh:
        return {(r["src"], r["dest"]): float(r["cost"]) for r in csv.DictReader(fh)}


def build(source: Path, name: str) -> dict:
    """Assemble one grid document in the planner's ``sky-grid/1`` format."""
    tput_file, cost_file, about = CAMPAIGNS[name]
    tput = read_throughput(source / tput_file)
    cost = read_cost(source / cost_file)
    regions = sorted({r for pair in tput for r in pair})
    missing_cost = [(s, d) for s in regions for d in regions if s != d and (s, d) not in cost]
    if missing_cost:
        raise SystemExit(f"{len(missing_cost)} pairs have no egress price, e.g. {missing_cost[:3]}")
    clouds = [r.split(":", 1)[0] for r in regions]
    return {
        "format": "sky-grid/1",
        "name": name,
        "about": about,
        "unit": "Gbit/s",
        "connections_per_vm": 64,
        "regions": regions,
        "throughput_gbps": [
            [0.0 if s == d else round(tput.get((s, d), 0.0) / 1e9, 4) for d in regions] for s in regions
        ],
        "egress_usd_per_gb": [[0.0 if s == d else cost[(s, d)] for d in regions] for s in regions],
        "vm_usd_per_hour": [VM_USD_PER_HOUR[c] for c in clouds],
        "nic_egress_gbps": [NIC_GBPS[c][0] for c in clouds],
        "nic_ingress_gbps": [NIC_GBPS[c][1] for c in clouds],
        "vm_limit": [VM_LIMIT for _ in clouds],
        "attribution": "Skyplane authors (UC Berkeley Sky Computing Lab), Apache-2.0; see NOTICE",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", type=Path, default=Path("/work/shared/data/skyplane"))
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    for name in CAMPAIGNS:
        doc = build(args.source, name)
        target = OUT / f"{name}.json.gz"
        raw = json.dumps(doc, separators=(",", ":")).encode()
        target.write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
        print(f"{target.relative_to(ROOT)}: {len(doc['regions'])} regions, {target.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
