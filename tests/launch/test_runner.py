"""Runner: uploads, detached jobs, multi-node envs, failures with log tails, and job-file parsing."""

from __future__ import annotations

import pytest

from airflow_provider_sky.launch import job, runner, state
from airflow_provider_sky.launch.backends.base import Instance
from airflow_provider_sky.launch.task import TaskSpec

QUIET = {"log": lambda _line: None}


@pytest.mark.sshd
def test_workdir_and_file_mounts_are_uploaded_before_run(sshd_available, make_local_plan, tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.sh").write_text("echo training-with $(cat ~/data/input.txt)\n")
    (tmp_path / "input.txt").write_text("42 rows")
    task = TaskSpec.from_dict({
        "name": "up", "workdir": str(tmp_path / "code"),
        "file_mounts": {"~/data/input.txt": str(tmp_path / "input.txt")},
        "setup": "test -f train.sh", "run": "bash train.sh",
    })
    lines: list[str] = []
    result = runner.launch_task(task, make_local_plan("local-a1"), log=lines.append)
    assert result.exit_code == 0
    assert "training-with 42 rows" in lines


@pytest.mark.sshd
def test_multi_node_job_gets_ranks_and_prefixed_logs(sshd_available, make_local_plan):
    task = TaskSpec.from_dict({"name": "mn", "num_nodes": 2, "envs": {"MODEL": "tiny"},
                               "run": 'echo "rank=$SKY_NODE_RANK of $SKY_NUM_NODES model=$MODEL"'})
    lines: list[str] = []
    runner.launch_task(task, make_local_plan("local-a1"), log=lines.append)
    assert "(node 0) rank=0 of 2 model=tiny" in lines
    assert "(node 1) rank=1 of 2 model=tiny" in lines


@pytest.mark.sshd
def test_failing_command_raises_with_exit_code_and_log_tail(sshd_available, make_local_plan):
    task = TaskSpec.from_dict({"name": "bad", "run": "echo step-1-ok; echo 'Traceback: boom' >&2; exit 3"})
    with pytest.raises(runner.JobFailed) as info:
        runner.launch_task(task, make_local_plan("local-a1"), **QUIET)
    assert info.value.exit_code == 3
    assert "step-1-ok" in info.value.log_tail and "Traceback: boom" in str(info.value)
    assert state.list_clusters() == []  # torn down on failure too


@pytest.mark.sshd
def test_failed_setup_skips_run(sshd_available, make_local_plan):
    task = TaskSpec.from_dict({"name": "setup", "setup": "exit 5", "run": "echo should-not-run"})
    lines: list[str] = []
    with pytest.raises(runner.JobFailed) as info:
        runner.launch_task(task, make_local_plan("local-a1"), log=lines.append)
    assert info.value.exit_code == 5
    assert "should-not-run" not in lines and "setup failed: 5" in info.value.log_tail


@pytest.mark.sshd
def test_private_key_never_reaches_the_log_or_result(sshd_available, make_local_plan):
    lines: list[str] = []
    task = TaskSpec.from_dict({"name": "k", "run": "echo ok"})
    result = runner.launch_task(task, make_local_plan("local-a1"), log=lines.append, cluster_name="keycheck")
    text = "\n".join(lines) + repr(result.to_dict())
    assert "PRIVATE KEY" not in text and "keycheck" in text


def test_poll_output_parsing():
    finished = job.parse_poll(b"EXIT 2\n--- sky-log ---\nline a\nline b\n", offset=10)
    assert (finished.state, finished.exit_code, finished.offset) == ("finished", 2, 10 + len(b"line a\nline b\n"))
    running = job.parse_poll(b"RUNNING\n--- sky-log ---\n", offset=4)
    assert (running.state, running.exit_code, running.new_log, running.offset) == ("running", None, b"", 4)
    assert job.parse_poll(b"LOST\n--- sky-log ---\n", 0).state == "lost"


def test_remote_paths_stay_inside_a_sandboxed_node():
    node = Instance("i", "local", "r", None, "t", "running", remote_root="/vm/home", sandboxed=True)
    cloud = Instance("i", "aws", "r", None, "t", "running", remote_root=".")
    assert job.remote_path(node, "~/data") == "/vm/home/data"
    assert job.remote_path(node, "/etc/passwd") == "/vm/home/etc/passwd"
    assert job.remote_path(cloud, "/data") == "/data" and job.remote_path(cloud, "~/x") == "x"


@pytest.mark.sshd
@pytest.mark.emulators
def test_file_mount_from_a_bucket_is_fetched_and_uploaded(sshd_available, make_local_plan, fresh_bucket):
    import hashlib

    bucket = fresh_bucket("s3")
    data = b"shard-0 contents\n"
    bucket.store.put(bucket.bucket, "shards/part-0.txt", data, hashlib.md5(data).digest(), {})
    task = TaskSpec.from_dict({"name": "fm", "file_mounts": {"~/shards": f"{bucket.url}shards/"},
                               "run": "cat ~/shards/part-0.txt"})
    lines: list[str] = []
    runner.launch_task(task, make_local_plan("local-a1"), log=lines.append,
                       store_credentials=bucket.emulator.credentials)
    assert "shard-0 contents" in lines


@pytest.mark.sshd
def test_a_job_whose_process_vanished_fails_at_once_with_its_log_tail(sshd_available, make_local_plan):
    import os
    import signal
    import time

    def kill_the_job(line: str) -> None:
        if line == "about-to-vanish":  # the job is running: kill it as the OOM killer would
            [pid_file] = list(state.state_root().glob("local-vms/*/home/.sky/job/pid"))
            os.kill(int(pid_file.read_text()), signal.SIGKILL)

    task = TaskSpec.from_dict({"name": "gone", "run": "echo about-to-vanish; sleep 60"})
    started = time.monotonic()
    with pytest.raises(runner.JobFailed) as err:
        runner.launch_task(task, make_local_plan("local-a1"), log=kill_the_job, poll_interval=0.2)
    assert time.monotonic() - started < 15
    assert "vanished without an exit code" in str(err.value) and "about-to-vanish" in err.value.log_tail
