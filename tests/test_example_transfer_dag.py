"""The round-trip example DAG runs under dag.test() on the real emulators and moves every byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sky.devtools.dag_runner import run_dag_file

DAG_FILE = Path(__file__).resolve().parents[1] / "example_dags" / "example_sky_transfer.py"


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.emulators
def test_round_trip_dag_moves_the_dataset_through_three_clouds_and_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_bucket: Any
) -> None:
    s3, gcs, azure = fresh_bucket("s3"), fresh_bucket("gs"), fresh_bucket("azure")
    for bucket in (s3, gcs, azure):
        for name, value in bucket.emulator.airflow_env().items():
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("SKY_DEMO_DIR", str(tmp_path))
    monkeypatch.setenv("SKY_DEMO_S3", f"{s3.url}dataset/")
    monkeypatch.setenv("SKY_DEMO_GCS", f"{gcs.url}dataset/")
    monkeypatch.setenv("SKY_DEMO_AZURE", f"{azure.url}dataset/")

    dag_run = run_dag_file(DAG_FILE, "example_sky_transfer")

    assert dag_run.state == "success"
    source_files = _files(tmp_path / "source")
    assert len(source_files) == 42
    for bucket in (s3, gcs, azure):
        keys = sorted(info.key.removeprefix("dataset/") for info in bucket.store.list(bucket.bucket, "dataset/"))
        assert keys == source_files, bucket.scheme
    assert _files(tmp_path / "returned") == source_files
