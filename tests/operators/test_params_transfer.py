"""SkyTransferOperator parses every rendered flag and number strictly, naming a bad argument."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sky.operators.transfer import SkyTransferOperator
from airflow_provider_sky.transfer.request import MiB
from tests.operators.rendered import Flag, Refused, cases, check, render

FLAGS = (
    Flag("delete", "bool", lambda op: op.build_request().delete),
    Flag("dry_run", "bool", lambda op: op.build_request().dry_run),
    Flag("cancel_on_kill", "bool", lambda op: op._switches()[1]),
    Flag("deferrable", "bool", lambda op: op._switches()[0], templated=False),
    Flag("chunk_size_mb", "int", lambda op: op.build_request().chunk_size // MiB, minimum=1),
    Flag("concurrency", "int", lambda op: op.build_request().concurrency, minimum=1),
    Flag("multipart_threshold_mb", "int", lambda op: op.build_request().multipart_threshold // MiB, minimum=1),
    Flag("gateway_memory_mb", "int", lambda op: op._gateway_memory_mb(), minimum=16),
    Flag("max_instances_per_region", "int", lambda op: op._planner_hook().max_instances_per_region, minimum=1,
         empty=None),
    Flag("throughput_goal_gbps", "float", lambda op: op._goal()[0], exclusive=True, empty=1.0),
    Flag("budget_usd_per_gb", "float", lambda op: op._goal()[1], exclusive=True,
         empty=Refused("objective='throughput' needs a cost budget", named=False),
         extra={"objective": "throughput"}),
)  # fmt: skip


def _operator(flag: Flag, text: str) -> SkyTransferOperator:
    return render(SkyTransferOperator, flag, text, task_id="t", mode="sync", source="file:///tmp/sky-a/",
                  destination="file:///tmp/sky-b/")  # fmt: skip


@pytest.mark.parametrize(("flag", "text"), cases(FLAGS))
def test_every_rendered_flag_and_number_is_parsed_strictly(flag: Flag, text: str) -> None:
    check(flag, text, _operator(flag, text))


def test_the_table_covers_every_templated_flag_and_number() -> None:
    """A new flag or number in template_fields must join the table above."""
    text_fields = {
        "source", "destination", "mode", "objective", "deny_regions", "allow_regions", "grid", "sky_conn_id",
        "source_region", "destination_region", "overlay", "gateway_cloud", "backend_options", "compression",
        "aws_conn_id", "gcp_conn_id", "azure_conn_id",
    }  # fmt: skip
    tabled = {"dry_run_only" if f.name == "dry_run" else f.name for f in FLAGS if f.templated}
    assert set(SkyTransferOperator.template_fields) - text_fields == tabled


def test_the_dry_run_argument_does_not_hide_the_dry_run_method(tmp_path: Path) -> None:
    op = SkyTransferOperator(task_id="t", source=f"file://{tmp_path}/in/", destination=f"file://{tmp_path}/o/",
                             dry_run=True)  # fmt: skip
    assert callable(op.dry_run)
    assert op.build_request().dry_run is True


DAG_FILE = """
import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_sky.operators.transfer import SkyTransferOperator

with DAG("sky_rendered_flags", start_date=datetime(2026, 1, 1), schedule=None,
         params={"delete": "False", "dry_run": "false"}) as dag:
    SkyTransferOperator(task_id="sync", source=os.environ["SKY_TEST_SOURCE"],
                        destination=os.environ["SKY_TEST_DESTINATION"], mode="sync",
                        delete="{{ params.delete }}", dry_run="{{ params.dry_run }}")
"""


@pytest.mark.emulators
def test_a_rendered_delete_false_deletes_nothing_at_the_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_bucket: Any
) -> None:
    from airflow_provider_sky.devtools.dag_runner import run_dag_file
    from airflow_provider_sky.transfer.checksum import digest

    s3 = fresh_bucket("s3")
    for name, value in s3.emulator.airflow_env().items():
        monkeypatch.setenv(name, value)
    for key, data in {"kept/old.txt": b"only at the destination", "kept/a.txt": b"stale"}.items():
        s3.store.put(s3.bucket, key, data, digest(data).md5, {})
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_bytes(b"alpha")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "rendered_flags.py").write_text(DAG_FILE)
    monkeypatch.setenv("SKY_TEST_SOURCE", f"file://{tmp_path}/in/")
    monkeypatch.setenv("SKY_TEST_DESTINATION", f"{s3.url}kept/")

    run = run_dag_file(dags / "rendered_flags.py", "sky_rendered_flags")

    assert run.state == "success"
    keys = sorted(info.key for info in s3.store.list(s3.bucket, "kept/"))
    assert keys == ["kept/a.txt", "kept/old.txt"]  # synced, and nothing deleted
    assert s3.store.read_range(s3.bucket, "kept/a.txt", 0, 5) == b"alpha"
