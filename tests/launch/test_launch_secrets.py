"""Launch secrets reach the job but never the serialized DAG; rendered flags are not cast."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch import state
from airflow_provider_sky.operators.launch import SkyLaunchOperator

INLINE = "inline-Zq9v-not-for-the-dag"
GIVEN = "given-Xk7w-not-for-the-dag"


def _job_checks(*names: str, equal_to: str) -> str:
    """A run command that exits 0 only when the named envs hold the values (compared by digest)."""
    digest = hashlib.sha256(equal_to.encode()).hexdigest()
    joined = "".join(f"${name}" for name in names)
    return f'test "$(printf %s "{joined}" | sha256sum | cut -d" " -f1)" = {digest}'


TASK_YAML = f"""
name: yaml-task
resources: {{cloud: local}}
secrets:
  TOKEN: {INLINE}
  HF_TOKEN: null
run: {_job_checks("TOKEN", equal_to=INLINE)}
"""


def _serialized(*tasks: SkyLaunchOperator) -> str:
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG("sky_secrets", schedule=None) as dag:
        for task in tasks:
            dag.add_task(task)
    return json.dumps(DagSerialization.to_dict(dag))


def _context() -> dict:
    ti = SimpleNamespace(dag_id="sky_secrets", task_id="train", run_id="manual__1", map_index=-1, try_number=1,
                         xcom_push=lambda key, value: None)  # the plan view's XCom and link (tests/ui)
    return {"ti": ti}


@pytest.mark.sshd
def test_secrets_stay_out_of_the_serialized_dag_and_reach_the_job(sshd_available, make_local_plan):
    op = SkyLaunchOperator(
        task_id="train", deferrable=False, plan=make_local_plan("local-a1").to_dict(), poll_interval=0.1,
        task={"name": "s", "resources": {"cloud": "local"}, "secrets": {"TOKEN": INLINE, "API_KEY": None},
              "run": _job_checks("TOKEN", "API_KEY", equal_to=INLINE + GIVEN)},
        secrets={"API_KEY": GIVEN},
    )  # fmt: skip
    from_yaml = SkyLaunchOperator(task_id="from_yaml", task=TASK_YAML, secrets={"HF_TOKEN": GIVEN})

    serialized = _serialized(op, from_yaml)

    assert INLINE not in serialized and GIVEN not in serialized
    assert '"TOKEN"' in serialized and '"API_KEY"' in serialized and '"HF_TOKEN"' in serialized  # names stay
    result = op.execute(_context())
    assert result["exit_code"] == 0  # the job saw both values
    assert INLINE not in json.dumps(result) and GIVEN not in json.dumps(result)
    assert state.list_clusters() == []


def test_launch_values_override_the_task_and_every_null_must_be_given():
    op = SkyLaunchOperator(task_id="t", task=TASK_YAML, secrets={"TOKEN": "override", "HF_TOKEN": GIVEN})
    assert op.task_spec(_context()).secrets == {"TOKEN": "override", "HF_TOKEN": GIVEN}
    missing = SkyLaunchOperator(task_id="t", task=TASK_YAML)
    expected = r"secrets HF_TOKEN has no value\. Fix: give it at launch: airflow-sky launch --secret HF_TOKEN=VALUE"
    with pytest.raises(SkyUserError, match=expected):
        missing.task_spec(_context())


def test_a_task_file_path_is_kept_and_its_secrets_filled_at_launch(tmp_path: Path):
    path = tmp_path / "task.yaml"
    path.write_text(TASK_YAML)
    op = SkyLaunchOperator(task_id="t", task=str(path), secrets={"HF_TOKEN": GIVEN})
    assert op.task == str(path)
    assert op.task_spec(_context()).secrets == {"TOKEN": INLINE, "HF_TOKEN": GIVEN}


def test_yaml_text_with_secret_values_that_cannot_be_stripped_is_refused_at_construction():
    templated = "run: echo {{ ds }}\nsecrets:\n  TOKEN: {{ var.value.token }}\n"
    with pytest.raises(SkyUserError, match="has a secrets: block but does not parse before rendering"):
        SkyLaunchOperator(task_id="t", task=templated)


DAG_FILE = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_sky.launch.plan import Candidate, LaunchPlan
from airflow_provider_sky.operators.launch import SkyLaunchOperator

plan = LaunchPlan("t", [Candidate("local", "local-a", "local-a1", "local-small", False, 0.01, total_hourly_usd=0.01)])
with DAG("sky_launch_rendered", start_date=datetime(2026, 1, 1), schedule=None,
         params={"keep": "False", "failover": "no"}) as dag:
    SkyLaunchOperator(
        task_id="train", deferrable=False, poll_interval=0.2, plan=plan.to_dict(),
        task={"resources": {"cloud": "local"}, "secrets": {"TOKEN": None}, "run": 'test "$TOKEN" = from-a-variable'},
        secrets={"TOKEN": "{{ var.value.sky_test_token }}"},
        keep_cluster="{{ params.keep }}", failover="{{ params.failover }}",
    )
"""


@pytest.mark.sshd
def test_under_dag_test_a_rendered_keep_cluster_false_tears_down_and_a_variable_gives_the_secret(
    sshd_available, tmp_path, monkeypatch
):
    from airflow import settings

    from airflow_provider_sky.devtools.dag_runner import run_dag_file

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "launch_rendered.py").write_text(DAG_FILE)
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(dags))
    monkeypatch.setenv("AIRFLOW_VAR_SKY_TEST_TOKEN", "from-a-variable")

    run = run_dag_file(dags / "launch_rendered.py", "sky_launch_rendered")

    assert run.state == "success"
    assert state.list_clusters() == []  # "False" rendered is false: not kept


def test_operator_envs_fill_the_task_nulls_and_override_its_values():
    op = SkyLaunchOperator(task_id="t", task={"envs": {"MODEL": None, "BATCH": 8}, "run": "true"},
                           envs={"MODEL": "llama", "BATCH": 16})  # fmt: skip
    assert op.task_spec(_context()).envs == {"MODEL": "llama", "BATCH": "16"}
    with pytest.raises(SkyUserError, match=r"envs MODEL has no value.*envs=\{'MODEL'"):
        SkyLaunchOperator(task_id="t", task={"envs": {"MODEL": None}, "run": "true"}).task_spec(_context())


def test_secrets_given_to_partial_stay_out_of_the_serialized_mapped_task_and_reach_each_mapped_task():
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG("sky_mapped_secrets", schedule=None) as dag:
        mapped = SkyLaunchOperator.partial(
            task_id="train", task={"name": "m", "resources": {"cloud": "local"}, "secrets": {"TOKEN": INLINE},
                                   "run": "true"},
            secrets={"API_KEY": GIVEN},
        ).expand(envs=[{"SHARD": "0"}, {"SHARD": "1"}])  # fmt: skip

    serialized = json.dumps(DagSerialization.to_dict(dag))
    assert INLINE not in serialized and GIVEN not in serialized
    assert "2 launch secret(s) kept out of the serialized DAG" in serialized
    # the worker builds each mapped task from the parsed DAG file: the values are there
    unmapped = mapped.unmap({"envs": {"SHARD": "0"}})
    assert unmapped._secrets == {"TOKEN": INLINE, "API_KEY": GIVEN}
    assert INLINE not in json.dumps(unmapped.task)
