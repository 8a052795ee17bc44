"""One real run of the plan-view DAG (dags/sky_plan_view.py) under dag.test(), shared by the
view-model and API tests: the XComs they read are the ones the operators really pushed.

The run is a planner-hook task, an overlay copy through three gateway processes, and a launch
whose every local zone is full (so it fails, with its attempts pushed). No cloud, no sshd.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DAG_FILE = Path(__file__).parent / "dags" / "sky_plan_view.py"
DAG_ID = "sky_plan_view"


@dataclass
class SkyRun:
    """The finished run and where its files went."""

    run_id: str
    root: Path
    states: dict[str, str]
    admin_password: str

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            query = XComModel.get_many(run_id=self.run_id, key=key, task_ids=task_id, dag_ids=DAG_ID, limit=1)
            row = session.scalars(query).first()
            return None if row is None else XComModel.deserialize_value(row)


@pytest.fixture(scope="session")
def sky_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SkyRun]:
    from airflow_provider_sky.devtools.dag_runner import run_dag_file

    root = tmp_path_factory.mktemp("sky-ui")
    (root / "source").mkdir()
    (root / "source" / "shard.bin").write_bytes(random.Random(7).randbytes(3 * 1024 * 1024))
    password = secrets.token_urlsafe(12)
    (root / "passwords.json").write_text(json.dumps({"admin": password}))
    with pytest.MonkeyPatch.context() as env:  # only for the run: later tests and their servers see none of it
        env.setenv("SKY_UI_TEST_DIR", str(root))
        env.setenv("SKY_STATE_DIR", str(root / "state"))
        dag_run = run_dag_file(DAG_FILE, DAG_ID)
    states = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
    yield SkyRun(dag_run.run_id, root, states, password)
