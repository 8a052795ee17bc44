"""`airflow-sky cp` through gateways on the triangle testbed, and its bad-input errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.overlay.conftest import read_tree, write_tree


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow_provider_sky.cli.main", *args], capture_output=True,
                          text=True, timeout=180)  # fmt: skip


@pytest.mark.netns
def test_cp_routes_through_the_relay_on_the_triangle_and_says_so(make_testbed, tmp_path: Path) -> None:
    make_testbed("triangle")
    src, dst = tmp_path / "src", tmp_path / "dst"
    sent = write_tree(src, {"a.bin": 3_000_000, "b/c.txt": 1000})
    done = _cli("cp", f"file://{src}/", f"file://{dst}/", "--grid", "triangle", "--source-region", "local:tb-src",
                "--destination-region", "local:tb-dst", "--gbps", "0.15", "--json", "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["overlay"]["used"] and "local:tb-relay" in result["overlay"]["reason"]
    assert result["overlay"]["edges"]["local:tb-src->local:tb-relay"]["bytes"] > 0
    assert read_tree(dst) == sent


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--overlay", "always"], "--overlay always needs to know where the stores are"),
        (["--source-region", "local:tb-src"], "1 destination(s) but 0 destination region(s)"),
        (["--source-region", "local:tb-src", "--destination-region", "local:tb-dst", "--gbps", "-1"],
         "--gbps='-1' is out of range"),
        (["--source-region", "local:tb-src", "--destination-region", "local:tb-dst", "--gbps", "fast"],
         "--gbps='fast' is not a number"),
        (["--source-region", "local:nowhere", "--destination-region", "local:tb-dst", "--grid", "triangle"],
         "Region 'local:nowhere' is not in grid 'triangle'"),
        (["--source-region", "local:tb-src", "--destination-region", "local:tb-dst", "--grid", "no-such-grid"],
         "No packaged grid named 'no-such-grid'"),
        (["--objective", "throughput", "--source-region", "local:tb-src", "--destination-region", "local:tb-dst"],
         "--objective throughput needs a cost budget"),
    ],
)
def test_bad_overlay_flags_get_one_clear_error_and_write_nothing(tmp_path: Path, extra: list[str], message: str):
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, {"x": 10})
    done = _cli("cp", f"file://{src}/", f"file://{dst}/", *extra)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Fix:" in done.stderr and "Traceback" not in done.stderr
    assert not dst.exists()
