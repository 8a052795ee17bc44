"""`make demo`: run the round-trip example DAG on real emulators and print what moved.

Starts moto (S3), fake-gcs-server (GCS) and Azurite (Azure Blob) on free loopback ports, makes a
`sky-demo` bucket in each, points the standard `aws_default`, `google_cloud_default` and
`wasb_default` connections at them, runs `example_dags/example_sky_transfer.py` with
`dag.test()`, and prints every hop's transfer summary. Then, where it may build network
namespaces (root), it runs the overlay example DAG on the triangle testbed and prints overlay vs
direct-link time and the route (devtools/overlay_demo.py). Nothing outside a temp dir is touched.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from airflow_provider_sky.devtools.emulators import Emulators, running_emulators

REPO_ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = REPO_ROOT / "example_dags" / "example_sky_transfer.py"
DAG_ID = "example_sky_transfer"
BUCKET = "sky-demo"


def create_demo_buckets(emulators: Emulators, name: str = BUCKET) -> None:
    """Make the bucket/container `name` on each emulator (the DAG expects them to exist)."""
    for emulator in (emulators.s3, emulators.gcs, emulators.azure):
        emulator.create_bucket(name)


def task_results(dag_run: Any) -> dict[str, Any]:
    """Task id -> its XCom return value, for every task of the run."""
    return dict(_summaries(dag_run))


def _summaries(dag_run: Any) -> list[tuple[str, Any]]:
    """The XCom return value of every task of the run, in task order."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(XComModel.task_id, XComModel.value).where(
                XComModel.dag_id == dag_run.dag_id,
                XComModel.run_id == dag_run.run_id,
                XComModel.key == "return_value",
            )
        ).all()
    return [(task_id, json.loads(value) if isinstance(value, str) else value) for task_id, value in rows]


def _print_report(dag_run: Any, emulators: Emulators) -> None:
    print(f"\nDAG {dag_run.dag_id}: {dag_run.state}")
    print(f"  S3    moto            {emulators.s3.endpoint}")
    print(f"  GCS   fake-gcs-server {emulators.gcs.endpoint}")
    print(f"  Azure Azurite         {emulators.azure.endpoint}")
    order = ["local_to_s3", "s3_to_gcs", "gcs_to_azure", "azure_to_local"]
    by_task = task_results(dag_run)
    print(f"\n  {'hop':<16}{'objects':>9}{'bytes':>12}{'seconds':>9}{'verified':>10}{'skipped':>9}")
    for task_id in order:
        s = by_task.get(task_id) or {}
        print(
            f"  {task_id:<16}{s.get('objects', '-'):>9}{s.get('bytes', '-'):>12}"
            f"{s.get('seconds', 0):>9.2f}{s.get('checksums_verified', '-'):>10}{s.get('skipped', '-'):>9}"
        )
    check = by_task.get("verify_round_trip")
    if check:
        print(f"\n  round trip verified: {check['files']} files, {check['bytes']} bytes identical (SHA-256)")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="airflow-sky-demo-"))
    os.environ["SKY_DEMO_DIR"] = str(work / "data")
    os.environ.setdefault("AIRFLOW_HOME", str(work / "airflow-home"))
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # the report below is the output
    # Deprecation notices from Airflow's in-process API client (dag.test), not the user's business.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated")
    with running_emulators() as emulators:
        create_demo_buckets(emulators)
        os.environ.update(emulators.airflow_env())
        from airflow_provider_sky.devtools.dag_runner import run_dag_file

        dag_run = run_dag_file(DAG_FILE, DAG_ID)
        _print_report(dag_run, emulators)
    from airflow_provider_sky.devtools import overlay_demo

    overlay_ok = overlay_demo.run(work / "overlay")
    return 0 if str(dag_run.state) in ("success", "DagRunState.SUCCESS") and overlay_ok else 1


if __name__ == "__main__":
    sys.exit(main())
