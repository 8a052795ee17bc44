"""`airflow-sky launch --dry-run` and `airflow-sky catalog show` as a user runs them."""

from __future__ import annotations

import pytest

from airflow_provider_sky.cli.main import main


def test_launch_dry_run_prints_ranked_plan_and_launches_nothing(tmp_path, capsys):
    task = tmp_path / "task.yaml"
    task.write_text("name: hello\nresources: {cloud: local, cpus: 8+}\nrun: echo hi\n")
    assert main(["launch", str(task), "--dry-run"]) == 0
    out = capsys.readouterr().out
    first_row = out.splitlines()[1].split()
    assert first_row[:5] == ["1", "local", "local-a", "local-a1", "local.medium"]
    assert "Task hello:" in out and "Best: local.medium" in out


def test_launch_with_an_impossible_request_exits_2_with_the_reason(tmp_path, capsys):
    task = tmp_path / "task.yaml"
    task.write_text("resources: {cloud: local, accelerators: T4:3}\nrun: echo\n")
    assert main(["launch", str(task), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "No catalog row has T4:3 on local; available counts: 1" in err


def test_launch_deny_region_flag_reaches_the_optimizer(tmp_path, capsys):
    task = tmp_path / "task.yaml"
    task.write_text("resources: {cloud: local, cpus: 16}\n")
    assert main(["launch", str(task), "--dry-run", "--deny-region", "local:local-a"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[2] == "local-b"


def test_catalog_show_names_the_source_of_each_cloud(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AIRFLOW_SKY_CACHE_DIR", str(tmp_path / "cache"))
    user = tmp_path / "skycat"
    (user / "aws").mkdir(parents=True)
    (user / "aws" / "vms.csv").write_text(
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,SpotPrice,Region,AvailabilityZone\n"
        "m6i.2xlarge,,,8,32,0.384,,us-east-1,\n"
    )
    assert main(["catalog", "show", "--catalog-dir", str(user)]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line[:1].isalpha()}
    assert lines["aws"][1:3] == ["user-dir", "1"]
    assert lines["gcp"][1] == "packaged" and lines["local"][1] == "packaged"


def test_catalog_refresh_rejects_an_unknown_cloud():
    with pytest.raises(SystemExit):
        main(["catalog", "refresh", "--cloud", "ibm"])
