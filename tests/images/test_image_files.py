"""The image files themselves, without building: pins match uv.lock, the compose file holds together."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from airflow_provider_sky.devtools import images

DOCKER = Path(__file__).resolve().parents[2] / "docker"
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "triggerer"}


def test_the_committed_requirements_are_the_locks_closure() -> None:
    assert images.main(["check"]) == 0, "run: python -m airflow_provider_sky.devtools.images write"


def test_the_gateway_pins_leave_airflow_out_and_hold_what_the_daemon_imports() -> None:
    pins = dict(line.split("==") for line in images.requirements("gateway").splitlines() if "==" in line)
    assert not [name for name in pins if name.startswith("apache-airflow")]
    assert {"aiohttp", "cryptography", "zstandard", "boto3", "google-cloud-storage", "azure-storage-blob"} <= set(pins)
    worker = images.requirements("worker")
    assert "apache-airflow==3.3.2\n" in worker
    for name, version in pins.items():  # the same versions in both images
        assert f"\n{name}=={version}\n" in worker


def test_a_stale_requirements_file_is_reported(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(images, "ROOT", tmp_path)
    (tmp_path / "docker").mkdir()
    monkeypatch.setattr(images, "requirements", lambda image: f"{image}==1\n")
    assert images.main(["write"]) == 0
    (tmp_path / "docker" / "gateway-requirements.txt").write_text("aiohttp==0.1\n")
    assert images.main(["check"]) == 1
    assert "docker/gateway-requirements.txt" in capsys.readouterr().err


def test_the_compose_file_runs_airflow_from_the_worker_image_with_the_emulators() -> None:
    doc = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = doc["services"]
    airflow = {name: s for name, s in services.items() if s.get("command", [""])[0] == "airflow"}
    assert {s["command"][1] for s in airflow.values()} >= AIRFLOW_COMMANDS | {"db"}
    for name, service in airflow.items():
        assert service["image"] == "localhost/airflow-sky-worker:dev"  # the tag docker/build.sh gives
        context = (DOCKER / service["build"]["context"]).resolve()
        assert (context / service["build"]["dockerfile"]).is_file(), name
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            assert source in doc["volumes"] or (DOCKER / source).is_dir(), f"{name}: {volume}"
        for dependency in service["depends_on"]:
            assert dependency in services, f"{name} depends on a missing {dependency}"
        env = service["environment"]
        for var in ("AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", "AIRFLOW_CONN_WASB_DEFAULT"):
            conn = json.loads(env[var])
            host = re.search(r"//([a-z-]+):(\d+)", json.dumps(conn)).groups()  # type: ignore[union-attr]
            assert host[0] in services, f"{var} points at {host[0]}, not a service"
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW_JWT_SECRET:?")  # never a literal
    for emulator in ("moto", "fake-gcs", "azurite"):
        assert "/" in services[emulator]["image"] and ":" in services[emulator]["image"]
    # The Dockerfiles the compose file and the docs name, with their ignore files for Docker's context.
    for name in ("gateway", "worker"):
        assert (DOCKER / f"Dockerfile.{name}").is_file() and (DOCKER / f"Dockerfile.{name}.dockerignore").is_file()
