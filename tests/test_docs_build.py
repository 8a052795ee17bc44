"""The docs site builds in strict mode, with its generated parts: API reference, CLI, pictures, tables.

One build (about 15 s: cvxpy's import, three small solves, mkdocstrings) into a temp dir, shared
by the assertions below. mkdocs is a dev dependency; in CI (CI=true) its absence fails the test.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _build_or_skip(site: Path) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("mkdocs / mkdocstrings are not installed in CI (dev dependencies)", pytrace=False)
        pytest.skip("mkdocs / mkdocstrings not installed (uv sync --group dev)")
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"), "-d", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = _build_or_skip(out)
    assert done.returncode == 0, f"strict docs build failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    assert "WARNING" not in done.stderr, done.stderr
    return out


def _text(site: Path, page: str) -> str:
    return (site / page).read_text(encoding="utf-8")


def test_every_nav_page_is_built(site: Path) -> None:
    for page in ("index.html", "getting-started.html", "connections.html", "cli.html", "benchmarks.html",
                 "planner.html", "overlay.html", "launch.html", "testbed.html", "transfer.html",
                 "guide/transfer-operator.html", "guide/launch-operator.html", "guide/planner-hook.html",
                 "guide/transfer-hook.html", "ui.html", "lineage.html", "reference/operators.html",
                 "reference/planner.html", "reference/launch.html"):  # fmt: skip
        assert (site / page).stat().st_size > 2000, page


def test_api_reference_documents_the_operators_from_their_docstrings(site: Path) -> None:
    html = _text(site, "reference/operators.html")
    assert 'id="airflow_provider_sky.operators.transfer.SkyTransferOperator"' in html
    assert 'id="airflow_provider_sky.operators.launch.SkyLaunchOperator"' in html
    # A parameter's own docstring line, so the sphinx fields were parsed, not dumped as text.
    assert "throughput_goal_gbps" in html and "region globs the data must never transit" in html
    assert ":param" not in html
    for page in site.glob("reference/*.html"):  # Sphinx roles are shown as names, not as ":class:"
        assert not re.search(r":(class|func|meth|mod):<code>", page.read_text(encoding="utf-8")), page


def test_plan_pictures_are_real_pngs_drawn_at_build_time(site: Path) -> None:
    for name in ("plan-japaneast-euwest1", "plan-testbed-tree", "plan-multicast"):
        data = (site / "img" / f"{name}.png").read_bytes()
        assert data.startswith(PNG_MAGIC), name
        width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk comes first
        assert width >= 600 and height >= 400, (name, width, height)
        assert len(data) > 10_000, (name, len(data))  # a drawn route, not an empty canvas
    for name in ("plan-japaneast-euwest1-route", "plan-japaneast-euwest1-pareto", "plan-multicast-route"):
        svg = (site / "img" / f"{name}.svg").read_text(encoding="utf-8")
        assert svg.startswith("<svg") and "data-sky-picture" in svg, name
        assert "aws:eu-west-1" in svg or "aws:us-east-1" in svg, name  # the plan's own regions are drawn
    planner = _text(site, "planner.html")
    assert 'src="img/plan-japaneast-euwest1.png"' in planner
    assert "<code>skyplane-2022-01</code>" in planner and "<code>triangle</code>" in planner  # the grids table
    # The plan's own explanation, rendered from the same solve.
    assert "relays: " in planner and "most throughput within $0.13/GB" in planner


def test_cli_reference_is_the_parsers_own_help(site: Path) -> None:
    html = _text(site, "cli.html")
    for command in ("cp", "sync", "plan", "launch", "catalog refresh", "janitor"):
        assert f"usage: airflow-sky {command}" in html, command
    assert "--list-regions" in html and "--dry-run" in html


def test_benchmark_tables_come_from_the_results_json(site: Path) -> None:
    html = _text(site, "benchmarks.html")
    results = json.loads((ROOT / "bench" / "results" / "launch_optimizer.json").read_text())
    for row in results["results"]:
        assert row["best"] in html
    summary = json.loads((ROOT / "bench" / "results" / "planner_vs_skyplane.json").read_text())["summary"]
    assert f"{summary['feasibility_agrees']}/{summary['cases']}" in html
    for plot in ("bench-planner-solve", "bench-copy-vs-rclone", "bench-overlay-triangle"):
        assert (site / "img" / f"{plot}.png").read_bytes().startswith(PNG_MAGIC)
        assert f'src="img/{plot}.png"' in html
    assert "<!-- bench:" not in html


def test_site_fetches_nothing_from_the_network(site: Path) -> None:
    external = re.compile(r'<(?:link|script|img)[^>]+(?:href|src)="(?:https?:)?//', re.IGNORECASE)
    for page in site.rglob("*.html"):
        assert not external.search(page.read_text(encoding="utf-8")), page


def _init_arguments(module: str, cls: str) -> list[str]:
    """Keyword arguments of ``cls.__init__`` read from the source (importing Airflow costs seconds)."""
    tree = ast.parse((ROOT / module).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    return [a.arg for a in init.args.args + init.args.kwonlyargs if a.arg != "self"]


@pytest.mark.parametrize(
    ("module", "cls", "page"),
    [
        ("airflow_provider_sky/operators/transfer.py", "SkyTransferOperator", "guide/transfer-operator.md"),
        ("airflow_provider_sky/operators/launch.py", "SkyLaunchOperator", "guide/launch-operator.md"),
        ("airflow_provider_sky/hooks/planner.py", "SkyPlannerHook", "guide/planner-hook.md"),
        ("airflow_provider_sky/hooks/transfer.py", "SkyTransferHook", "guide/transfer-hook.md"),
    ],
)
def test_the_guide_explains_every_argument(module: str, cls: str, page: str) -> None:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    missing = [name for name in _init_arguments(module, cls) if f"`{name}`" not in text]
    assert not missing, f"docs/{page} does not explain {missing}"

