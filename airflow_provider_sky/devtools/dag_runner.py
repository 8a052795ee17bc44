"""Run an example DAG in-process with `dag.test()`, for the demo and the test suite.

Why this exists: Airflow 3's `dag.test()` serialises the DAG through a DAG bundle, so the DAG
file must live in the configured dags folder and the metadata database must be migrated. This
module does both once per AIRFLOW_HOME, so callers only say which DAG file to run.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any

_MIGRATED_MARKER = ".sky-db-migrated"


def prepare_airflow_home(
    home: str | os.PathLike[str] | None = None, dags_folder: str | os.PathLike[str] | None = None
) -> Path:
    """Point Airflow at a private home and dags folder, and migrate its sqlite DB once.

    Must run before anything reads Airflow's configuration for the first time when `home`
    differs from the process's AIRFLOW_HOME; the dags folder can be changed at any time.
    """
    home_path = Path(home or os.environ.get("AIRFLOW_HOME") or tempfile.mkdtemp(prefix="airflow-sky-home-"))
    home_path.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW_HOME", str(home_path))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    if dags_folder is not None:
        os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(dags_folder).resolve())
    from airflow.configuration import conf

    if dags_folder is not None:
        # The dags-folder bundle reads settings.DAGS_FOLDER, fixed when Airflow was first imported.
        from airflow import settings

        conf.set("core", "dags_folder", str(Path(dags_folder).resolve()))
        settings.DAGS_FOLDER = str(Path(dags_folder).resolve())
    marker = Path(os.environ["AIRFLOW_HOME"]) / _MIGRATED_MARKER
    if not marker.exists():
        from airflow.utils.db import initdb

        initdb()
        marker.touch()
    return Path(os.environ["AIRFLOW_HOME"])


def load_dag(dag_file: str | os.PathLike[str], dag_id: str) -> Any:
    """Import a DAG file as a module and return the DAG object named `dag_id`."""
    path = Path(dag_file).resolve()
    spec = importlib.util.spec_from_file_location(f"sky_example_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for value in vars(module).values():
        if getattr(value, "dag_id", None) == dag_id and hasattr(value, "test"):
            return value
    raise LookupError(f"{path} defines no DAG with dag_id {dag_id!r}")


def run_dag_file(dag_file: str | os.PathLike[str], dag_id: str, **test_kwargs: Any) -> Any:
    """Run one DAG from its file with `dag.test()` and return the finished DagRun."""
    path = Path(dag_file).resolve()
    prepare_airflow_home(dags_folder=path.parent)
    dag = load_dag(path, dag_id)
    return dag.test(**test_kwargs)
