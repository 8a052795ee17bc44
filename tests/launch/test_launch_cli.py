"""`airflow-sky launch`: --env/--secret fill a task's nulls; bad input stops before any VM exists."""

from __future__ import annotations

import pytest

from airflow_provider_sky.cli.main import main
from airflow_provider_sky.launch import state
from airflow_provider_sky.launch.backends import local

TASK = """\
name: cli
resources: {cloud: local}
envs: {GREETING: null}
secrets: {TOKEN: null}
run: echo "$GREETING/$TOKEN" > out.txt
"""


def _task(tmp_path, text: str = TASK) -> str:
    path = tmp_path / "task.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.sshd
def test_env_and_secret_flags_reach_the_job(sshd_available, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOKEN", "tok-from-shell")
    (tmp_path / "wd").mkdir()
    seen = {}
    real_terminate = local.terminate

    def read_then_terminate(cluster_name, region, options):  # the job's output, just before the VM goes
        for meta in local._all_meta():
            seen.update({p.name: p.read_text() for p in (local.vms_root() / meta["instance_id"]).rglob("out.txt")})
        real_terminate(cluster_name, region, options)

    monkeypatch.setattr(local, "terminate", read_then_terminate)
    assert main(["launch", _task(tmp_path), "--cloud", "local", "--env", "GREETING=hi", "--secret", "TOKEN"]) == 0
    assert seen == {"out.txt": "hi/tok-from-shell\n"}
    assert "tok-from-shell" not in capsys.readouterr().out


def test_a_null_secret_not_given_names_the_key_and_the_flag(tmp_path, capsys):
    assert main(["launch", _task(tmp_path), "--dry-run", "--env", "GREETING=hi"]) == 2
    err = capsys.readouterr().err
    assert "secrets TOKEN has no value" in err and "--secret TOKEN=VALUE" in err


def test_a_missing_workdir_fails_before_any_vm(tmp_path, capsys):
    task = _task(tmp_path, "resources: {cloud: local}\nworkdir: ./no-such-dir\nrun: ls\n")
    assert main(["launch", task, "--cloud", "local"]) == 2
    err = capsys.readouterr().err
    assert "workdir './no-such-dir' does not exist" in err
    assert state.list_clusters() == [] and not (state.state_root() / "local-vms").exists()


def test_a_bad_env_flag_is_one_error(tmp_path, capsys):
    assert main(["launch", _task(tmp_path), "--dry-run", "--env", "=x"]) == 2
    assert "--env '=x' does not start with a variable name" in capsys.readouterr().err
