"""DESIGN.md's transfer DAG on the triangle testbed: gateways inside namespaces, the task defers."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from airflow_provider_sky.devtools.dag_runner import run_dag_file

DAG_FILE = Path(__file__).resolve().parents[2] / "example_dags" / "example_sky_overlay.py"
MiB = 1024 * 1024


@pytest.mark.netns
def test_the_overlay_dag_defers_and_moves_every_byte_through_the_relay(
    make_testbed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_testbed("triangle")
    src, dst = tmp_path / "raw", tmp_path / "train"
    rng = random.Random(7)
    files = {"shard-0.bin": rng.randbytes(12 * MiB + 3), "labels.csv": b"id,label\n" * 1000, "empty": b""}
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    monkeypatch.setenv("SKY_OVERLAY_SOURCE", f"file://{src}/")
    monkeypatch.setenv("SKY_OVERLAY_DESTINATION", f"file://{dst}/")
    deferred = []
    from airflow_provider_sky.operators import transfer as transfer_module

    real_defer = transfer_module.SkyTransferOperator.defer

    def recording_defer(self, **kwargs):
        deferred.append(kwargs["trigger"].serialize())
        return real_defer(self, **kwargs)

    monkeypatch.setattr(transfer_module.SkyTransferOperator, "defer", recording_defer)

    dag_run = run_dag_file(DAG_FILE, "example_sky_overlay")

    assert dag_run.state == "success"
    assert {p.name: p.read_bytes() for p in dst.iterdir()} == files
    assert deferred and deferred[0][0] == "airflow_provider_sky.triggers.transfer.SkyTransferTrigger"
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id="example_sky_overlay", run_id=dag_run.run_id).one()
        result = ti.xcom_pull(task_ids="copy_shards", session=session)
    overlay = result["overlay"]
    assert overlay["used"] and "relays through local:tb-relay" in overlay["reason"]
    assert overlay["edges"]["local:tb-src->local:tb-relay"]["bytes"] > 0
    assert result["objects"] == 3 and result["bytes"] == sum(map(len, files.values()))
    assert overlay["measured"]["throughput_gbps"] > 0 and overlay["predicted"]["throughput_gbps"] == pytest.approx(0.15)
    assert not os.listdir(Path(os.environ["SKY_STATE_DIR"]) / "overlay-jobs")
