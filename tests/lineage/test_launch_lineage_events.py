"""SkyLaunchOperator under dag.test() with OpenLineage's listener and a file transport.

A task on the embedded local cloud mounts an S3 prefix (the emulator) and declares an output
prefix; with ``assets=True`` both become Assets. The events must carry the task's storage as
datasets, where the job ran and every failover attempt as a run facet, and no secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.launch.conftest import sky_state, sshd_available  # noqa: F401 - fixtures for this module
from tests.lineage.conftest import task_events

LAUNCH_SECRET = "launch-secret-8f3a1c9e77"

DAG_FILE = """
import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_sky.operators.launch import SkyLaunchOperator

bucket = os.environ["LINEAGE_BUCKET"]
with DAG("lineage_launch", schedule=None, start_date=datetime(2026, 1, 1)) as launch_dag:
    SkyLaunchOperator(
        task_id="train",
        task={
            "resources": {"cloud": "local", "cpus": "1+"},
            "file_mounts": {"~/data": f"s3://{bucket}/in/"},
            "outputs": {f"s3://{bucket}/results/": 1},
            "secrets": {"API_TOKEN": None},
            "run": "test -f ~/data/a.txt && echo trained",
        },
        secrets={"API_TOKEN": os.environ["LINEAGE_SECRET"]},
        backend_options={"local": {"capacity": {"local-a1": 0}}},
        deferrable=False, poll_interval=0.2, assets=True,
    )
"""


@pytest.mark.emulators
@pytest.mark.sshd
@pytest.mark.usefixtures("sshd_available")
def test_launch_events_carry_the_task_storage_where_it_ran_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_bucket: Any, lineage_events: Any
) -> None:
    from airflow import settings
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_sky.devtools.dag_runner import run_dag_file
    from airflow_provider_sky.transfer.checksum import digest

    s3 = fresh_bucket("s3")
    for name, value in s3.emulator.airflow_env().items():
        monkeypatch.setenv(name, value)
    s3.store.put(s3.bucket, "in/a.txt", b"alpha", digest(b"alpha").md5, {})
    monkeypatch.setenv("LINEAGE_BUCKET", s3.bucket)
    monkeypatch.setenv("LINEAGE_SECRET", LAUNCH_SECRET)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "lineage_launch.py").write_text(DAG_FILE)
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(dags))

    run = run_dag_file(dags / "lineage_launch.py", "lineage_launch")

    assert run.state == "success"
    events = task_events(lineage_events(), "train")
    assert set(events) == {"START", "COMPLETE"}
    for event in events.values():
        assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [(f"s3://{s3.bucket}", "in")]
        assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [(f"s3://{s3.bucket}", "results")]
    facet = events["COMPLETE"]["run"]["facets"]["skyLaunch"]
    assert (facet["cloud"], facet["region"], facet["exitCode"]) == ("local", "local-a", 0)
    assert facet["zone"] == "local-a2" and facet["instanceType"]
    attempts = [(a["zone"], a["outcome"]) for a in facet["attempts"]]
    assert attempts == [("local-a1", "capacity"), ("local-a2", "launched")]
    written = (tmp_path / "openlineage.jsonl").read_text()
    assert LAUNCH_SECRET not in written
    with create_session() as session:
        recorded = {event.asset.uri for event in session.scalars(select(AssetEvent)).all()}
    assert f"s3://{s3.bucket}/results" in recorded
