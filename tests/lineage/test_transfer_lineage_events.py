"""SkyTransferOperator under dag.test() with OpenLineage's listener and a file transport.

One task copies a local prefix to S3, GCS and Azure (the emulators) with ``assets=True``; the
events written to the file must name every dataset by OpenLineage's conventions, carry what
the copy measured, and hold no credential of the connections; the task's Assets must be
recorded as asset events a downstream asset-scheduled DAG is waiting for.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sky.devtools.emulators import AZURITE_ACCOUNT, AZURITE_KEY
from tests.lineage.conftest import task_events

DAG_FILE = """
import os
from datetime import datetime

from airflow.sdk import DAG, Asset
from airflow.providers.standard.operators.empty import EmptyOperator

from airflow_provider_sky.operators.transfer import SkyTransferOperator

with DAG("lineage_transfer", schedule=None, start_date=datetime(2026, 1, 1)) as transfer_dag:
    SkyTransferOperator(
        task_id="fan_out", source=os.environ["LINEAGE_SOURCE"],
        destination=os.environ["LINEAGE_DESTINATIONS"].split(" "), assets="true",
    )

with DAG("lineage_downstream", schedule=[Asset(os.environ["LINEAGE_AWAITED"])],
         start_date=datetime(2026, 1, 1)) as downstream_dag:
    EmptyOperator(task_id="consume")
"""


def _with_distinct_password(text: str) -> str:
    """moto takes any key pair: give its connection a secret no other text could contain."""
    conn = json.loads(text)
    if conn.get("password") == "testing":
        conn["password"] = "moto-secret-3f9c2e81d7a4"
    return json.dumps(conn)


def _secrets(env: dict[str, str]) -> list[str]:
    """Every credential value in the emulators' connections (keys, secrets, passwords)."""
    values = [AZURITE_KEY]
    for text in env.values():
        conn = json.loads(text)
        values += [str(conn.get("password") or "")]
        values += [str(v) for k, v in (conn.get("extra") or {}).items() if "secret" in k or "key" in k]
    return [v for v in values if len(v) >= 8]


@pytest.mark.emulators
def test_transfer_events_carry_convention_names_measured_totals_and_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_bucket: Any, lineage_events: Any
) -> None:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_sky.devtools.dag_runner import run_dag_file

    s3, gcs, azure = fresh_bucket("s3"), fresh_bucket("gs"), fresh_bucket("azure")
    env = {**s3.emulator.airflow_env(), **gcs.emulator.airflow_env(), **azure.emulator.airflow_env()}
    env = {name: _with_distinct_password(text) for name, text in env.items()}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    source = tmp_path / "in put"
    (source / "deep").mkdir(parents=True)
    (source / "a.txt").write_bytes(b"alpha")
    (source / "deep" / "b é.bin").write_bytes(bytes(range(256)) * 4)
    destinations = [f"{s3.url}out/", f"{gcs.url}out/", f"{azure.url}out/"]
    monkeypatch.setenv("LINEAGE_SOURCE", f"file://{source}/")
    monkeypatch.setenv("LINEAGE_DESTINATIONS", " ".join(destinations))
    monkeypatch.setenv("LINEAGE_AWAITED", f"s3://{s3.bucket}/out")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "lineage_transfer.py").write_text(DAG_FILE)

    run = run_dag_file(dags / "lineage_transfer.py", "lineage_transfer")

    assert run.state == "success"
    events = task_events(lineage_events(), "fan_out")
    assert set(events) == {"START", "COMPLETE"}
    expected_inputs = [(f"file://{socket.gethostname()}", str(source))]
    expected_outputs = [
        (f"s3://{s3.bucket}", "out"),
        (f"gs://{gcs.bucket}", "out"),
        (f"wasbs://{azure.bucket}@{AZURITE_ACCOUNT}.dfs.core.windows.net", "out"),
    ]
    for event in events.values():
        assert [(d["namespace"], d["name"]) for d in event["inputs"]] == expected_inputs
        assert [(d["namespace"], d["name"]) for d in event["outputs"]] == expected_outputs
    assert "skyTransfer" not in events["START"]["run"]["facets"]
    facet = events["COMPLETE"]["run"]["facets"]["skyTransfer"]
    assert (facet["mode"], facet["objects"], facet["bytes"], facet["overlayUsed"]) == ("cp", 6, 3 * 1029, False)
    statistics = [d["outputFacets"]["outputStatistics"] for d in events["COMPLETE"]["outputs"]]
    assert [(s["size"], s["fileCount"]) for s in statistics] == [(1029, 2)] * 3
    written = (tmp_path / "openlineage.jsonl").read_text()
    secrets = _secrets(env)
    assert "moto-secret-3f9c2e81d7a4" in secrets and AZURITE_KEY in secrets
    leaked = [secret for secret in secrets if secret in written]
    assert not leaked, "a connection credential reached the OpenLineage events"

    with create_session() as session:
        recorded = {event.asset.uri for event in session.scalars(select(AssetEvent)).all()}
    assert {f"s3://{s3.bucket}/out", f"gs://{gcs.bucket}/out",
            f"wasbs://{azure.bucket}@{AZURITE_ACCOUNT}.blob.core.windows.net/out"} <= recorded  # fmt: skip
