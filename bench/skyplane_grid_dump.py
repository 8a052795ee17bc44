"""Dump the exact matrices Skyplane's ILP solves over (run inside the Skyplane side venv).

The benchmark feeds these to our planner so both solve the same numbers: throughput in Skyplane's
unit (bits/s / 2**30, rounded to 4 decimals) and egress $/GB rounded to cents, as
``ThroughputSolver.get_throughput_grid`` / ``get_cost_grid`` build them.

Usage: ``<side venv>/bin/python bench/skyplane_grid_dump.py GRID.csv OUT.json``
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path


def main() -> int:
    grid_csv, out = sys.argv[1], Path(sys.argv[2])
    os.environ.setdefault("SKYPLANE_CONFIG", str(Path(tempfile.mkdtemp(prefix="skyplane-dump-")) / "config"))
    from skyplane.planner.solver_ilp import ThroughputSolverILP

    solver = ThroughputSolverILP(grid_csv)
    doc = {
        "format": "sky-grid/1",
        "name": "skyplane-ilp",
        "unit": "Gibit/s",
        "connections_per_vm": 64,
        "regions": solver.get_regions(),
        "throughput_gbps": solver.get_throughput_grid().tolist(),
        "egress_usd_per_gb": solver.get_cost_grid().tolist(),
        "vm_usd_per_hour": 0.54,
        "nic_egress_gbps": {"aws": 5.0, "gcp": 7.0, "azure": 16.0},
        "nic_ingress_gbps": {"aws": 10.0, "gcp": 16.0, "azure": 16.0},
        "vm_limit": 8,
    }
    out.write_text(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
