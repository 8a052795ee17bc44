"""Packaged data, grid files, the hook and `airflow-sky plan`, as a newcomer would use them."""

from __future__ import annotations

import json
import time

import pytest
from planner_grids import make_grid

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.planner.data import load_grid
from airflow_provider_sky.planner.regions import RegionRules


def test_packaged_grid_has_the_three_clouds_and_their_nic_limits():
    grid = load_grid()
    assert len(grid) == 63 and grid.unit == "Gbit/s"
    assert {r.split(":")[0] for r in grid.regions} == {"aws", "gcp", "azure"}
    for region, (egress, ingress) in {"aws:us-east-1": (5, 10), "gcp:us-central1-a": (7, 16),
                                      "azure:eastus": (16, 16)}.items():  # fmt: skip
        i = grid.index(region)
        assert (grid.nic_egress_gbps[i], grid.nic_ingress_gbps[i]) == (egress, ingress)
    i, j = grid.index("aws:us-east-1"), grid.index("gcp:europe-west4-a")
    assert 1 < grid.throughput_gbps[i, j] < 50 and grid.egress_usd_per_gb[i, j] == pytest.approx(0.09)


def test_newer_grid_loads_by_name_quickly():
    started = time.perf_counter()
    grid = load_grid("skyplane-2022-11")
    assert time.perf_counter() - started < 1.0
    assert len(grid) == 71


def test_user_grid_file_round_trips(tmp_path):
    grid = make_grid(["a", "b"], {("a", "b"): (3.0, 0.02)})
    path = tmp_path / "measured.json"
    path.write_text(json.dumps(grid.to_dict()))
    again = load_grid(path)
    assert again.regions == grid.regions
    assert (again.throughput_gbps == grid.throughput_gbps).all()


def test_missing_grid_file_says_so(tmp_path):
    with pytest.raises(SkyUserError, match="does not exist"):
        load_grid(tmp_path / "nope.json")


def test_region_rules_match_globs():
    rules = RegionRules.of(deny=["aws:us-*"], allow=["azure:*", "aws:*"])
    assert rules.denied("aws:us-east-1") and not rules.denied("aws:eu-west-1")
    assert rules.may_relay("azure:eastus") and not rules.may_relay("gcp:us-central1-a")
    assert not rules.may_relay("aws:us-west-2")


def test_hook_plans_without_a_connection():
    from airflow_provider_sky.hooks.planner import SkyPlannerHook

    hook = SkyPlannerHook(max_instances_per_region=2)
    plan = hook.plan_transfer("aws:us-east-1", "gcp:europe-west4-a", throughput_goal_gbps=3)
    assert max(plan.vms.values()) <= 2
    assert json.loads(json.dumps(plan.to_dict()))["kind"] == "unicast"


def test_cli_plan_prints_a_table(capsys):
    from airflow_provider_sky.cli.main import main

    assert main(["plan", "aws:us-east-1", "gcp:europe-west4-a", "--gbps", "5"]) == 0
    out = capsys.readouterr().out
    assert "aws:us-east-1" in out and "cost per GB" in out and "Running HiGHS" not in out


def test_cli_plan_json_and_plot(capsys, tmp_path):
    from airflow_provider_sky.cli.main import main

    png = tmp_path / "route.png"
    argv = ["plan", "aws:us-east-1", "azure:japaneast", "--budget", "0.095", "--json", "--plot", str(png)]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["objective"] == "throughput" and doc["cost_usd_per_gb"] <= 0.095 + 1e-9
    assert doc["pareto"] and png.stat().st_size > 1000


def test_cli_plan_multicast_with_deny(capsys):
    from airflow_provider_sky.cli.main import main

    argv = ["plan", "aws:us-east-1", "gcp:europe-west4-a", "azure:westeurope", "--gbps", "2", "--deny", "aws:eu-*"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "multicast plan" in out and "aws:eu-" not in out


def test_cli_plan_bad_region_is_a_user_error(capsys):
    from airflow_provider_sky.cli.main import main

    assert main(["plan", "aws:us-east-1", "aws:mars-1", "--gbps", "1"]) == 2
    assert "aws:mars-1" in capsys.readouterr().err
