"""The example DAG runs end to end under `dag.test()`, deferral and trigger included."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_sky.devtools.dag_runner import run_dag_file

DAG_FILE = Path(__file__).parents[2] / "example_dags" / "example_sky_launch.py"

pytestmark = pytest.mark.sshd


def test_example_launch_dag_fails_over_and_succeeds(sshd_available, sky_state, monkeypatch):
    from airflow import settings
    from airflow.utils.state import DagRunState

    # the dags-folder bundle reads settings.DAGS_FOLDER, fixed when airflow.settings was imported
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(DAG_FILE.parent))

    run = run_dag_file(DAG_FILE, "example_sky_launch")

    assert run.state == DagRunState.SUCCESS
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"train": "success", "report": "success"}
    summary = _xcom(run, "report")
    assert summary.startswith("ran on local:local-b/local-b1") and "after 2 failed attempt(s)" in summary


def _xcom(run, task_id: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        value = session.scalar(
            select(XComModel.value).where(
                XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id, XComModel.task_id == task_id,
                XComModel.key == "return_value",
            )
        )
    return XComModel.deserialize_value(type("X", (), {"value": value})()) if value is not None else None
