"""The worker image: Airflow and the provider installed at the lock's versions, the CLI answers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.images.conftest import run_in

pytestmark = [pytest.mark.images, pytest.mark.timeout(900)]  # a cold build: base, pip installs


def test_the_worker_image_runs_the_cli_and_imports_airflow_with_the_provider(
    worker_image: str, container_of: Any
) -> None:
    container, _ = container_of(worker_image)
    usage = run_in(container, "airflow-sky", "--help")
    assert "cp" in usage and "gateway" in usage and "launch" in usage
    versions = run_in(container, "python", "-c", (
        "import airflow, airflow_provider_sky.operators.transfer as t, importlib.metadata as m\n"
        "from airflow.providers_manager import ProvidersManager\n"
        "print(airflow.__version__, m.version('airflow-provider-sky'), t.SkyTransferOperator.__name__,\n"
        "      'airflow-provider-sky' in ProvidersManager().providers, m.version('aiohttp'))"
    ), timeout=180)  # fmt: skip
    assert versions.split() == ["3.3.2", "0.1.0", "SkyTransferOperator", "True", "3.14.5"]
