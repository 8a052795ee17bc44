"""The emulator launcher starts real services and leaves no process behind."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request

import psutil
import pytest

from airflow_provider_sky.devtools import emulators

pytestmark = pytest.mark.emulators


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def test_running_emulators_answer_and_leave_no_process_after_stop():
    try:
        with emulators.running_emulators() as running:
            started = [running.s3, running.gcs, running.azure]
            processes = []
            for emulator in started:
                leader = psutil.Process(emulator.pid)
                processes += [leader, *leader.children(recursive=True)]
            answering = [_answers(e.endpoint) for e in started]
    except emulators.EmulatorError as exc:
        pytest.skip(str(exc))

    assert answering == [True, True, True]
    alive = [p.pid for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    assert not any(_answers(e.endpoint) for e in started)


def test_missing_azurite_names_what_is_missing_and_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(emulators, "AZURITE_BIN", tmp_path / "azurite-blob")

    with pytest.raises(emulators.EmulatorError) as caught:
        emulators.start_azurite()

    assert "Azurite is not installed" in str(caught.value) and "make setup" in str(caught.value)


def test_emulator_connection_json_is_airflow_connection_json(s3_emulator):
    env = s3_emulator.airflow_env()

    conn = env["AIRFLOW_CONN_AWS_DEFAULT"]

    assert '"conn_type": "aws"' in conn and s3_emulator.endpoint in conn


def test_an_emulator_dies_with_a_test_run_that_is_killed_before_teardown():
    starter = (
        "from airflow_provider_sky.devtools.emulators import start_fake_gcs\nimport time\n"
        "print(start_fake_gcs().pid, flush=True)\ntime.sleep(60)\n"
    )
    run = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True)
    line = run.stdout.readline()
    if not line.strip():
        run.wait()
        pytest.skip("fake-gcs-server could not start")
    server = psutil.Process(int(line))

    run.kill()  # SIGKILL: no teardown, no atexit
    run.wait()

    server.wait(timeout=5)  # raises if the server outlives its starter
    assert not server.is_running()
