"""Bad input from Python and from DAGs: the planner, the copy engine, the hooks and the operators.

Each row is one mistake and the words the SkyUserError must use; every error must also carry
"Fix:". Rows that could write check that nothing was: the scratch tree (or the destination
bucket, on the emulators) is the same after the error as before. The command-line rows are in
tests/test_bad_input_battery_cli.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sky.credentials import StoreCredentials
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch.task import TaskSpec
from airflow_provider_sky.planner.data import grid_from_dict
from airflow_provider_sky.stores import names
from airflow_provider_sky.transfer import CopyRequest, run_copy

PAIR = ("aws:us-east-1", "gcp:europe-west4-a")


def refused(action: Callable[[], object], says: str) -> str:
    """Run `action`, which must raise one SkyUserError matching `says` and carrying a fix."""
    with pytest.raises(SkyUserError, match=says) as info:
        action()
    assert "Fix:" in str(info.value)
    return str(info.value)


def tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.lstat().st_size for p in root.rglob("*")}


# -- the planner (hooks and operators plan through Planner) -------------------------------------------

PLANS = [
    ("goal-inf", {"throughput_goal_gbps": float("inf")}, r"throughput_goal_gbps=inf is not finite"),
    ("goal-nan", {"throughput_goal_gbps": float("nan")}, r"throughput_goal_gbps=nan is not finite"),
    ("goal-negative", {"throughput_goal_gbps": -2.0}, r"throughput_goal_gbps=-2.0 is out of range"),
    ("goal-zero", {"throughput_goal_gbps": 0}, r"throughput_goal_gbps=0 is out of range"),
    ("goal-text", {"throughput_goal_gbps": "fast"}, r"throughput_goal_gbps='fast' is not a number"),
    ("budget-inf", {"budget_usd_per_gb": float("inf")}, r"budget_usd_per_gb=inf is not finite"),
    ("budget-negative", {"budget_usd_per_gb": -0.01}, r"budget_usd_per_gb=-0.01 is out of range"),
    ("budget-zero", {"budget_usd_per_gb": 0.0}, r"budget_usd_per_gb=0.0 is out of range"),
    ("goal-and-budget", {"throughput_goal_gbps": 1, "budget_usd_per_gb": 1}, r"either a throughput goal or"),
    ("neither", {}, r"either a throughput goal or a cost budget"),
]
LIMITS = [
    ("vm-limit-zero", 0, r"max_instances_per_region=0 is out of range"),
    ("vm-limit-negative", -1, r"max_instances_per_region=-1 is out of range"),
    ("vm-limit-fraction", 1.5, r"max_instances_per_region=1.5 is not an integer"),
    ("vm-limit-per-region-zero", {"aws:us-east-1": 0}, r"max_instances_per_region\['aws:us-east-1'\]=0"),
    ("vm-limit-text", "many", r"max_instances_per_region='many' is not an integer"),
]
GRID = {"regions": list(PAIR), "throughput_gbps": [[0, 1], [1, 0]], "egress_usd_per_gb": [[0, 0.1], [0.1, 0]]}
GRIDS = [
    ("grid-not-object", [GRID], r"grid document is a JSON object, got list"),
    ("grid-no-regions", GRID | {"regions": []}, r"The grid has no regions"),
    ("grid-regions-not-ids", GRID | {"regions": "aws:us-east-1"}, r"'regions' is not a list of region ids"),
    ("grid-region-twice", GRID | {"regions": [PAIR[0], PAIR[0]]}, r"lists a region twice"),
    ("grid-wrong-shape", GRID | {"throughput_gbps": [[0, 1]]}, r"'throughput_gbps' is not 2x2"),
    ("grid-nan", GRID | {"egress_usd_per_gb": [[0, float("nan")], [0.1, 0]]}, r"'egress_usd_per_gb' holds an infin"),
    ("grid-negative-rate", GRID | {"throughput_gbps": [[0, -1], [1, 0]]}, r"negative throughput or prices"),
    ("grid-text-rate", GRID | {"throughput_gbps": [[0, "x"], [1, 0]]}, r"value that is not a number"),
    ("grid-no-prices", {k: v for k, v in GRID.items() if k != "egress_usd_per_gb"}, r"no 'egress_usd_per_gb'"),
    ("grid-link-model", GRID | {"link_model": "mesh"}, r"Unknown link_model 'mesh'"),
    ("grid-negative-vms", GRID | {"vm_limit": -3}, r"'vm_limit' holds a negative VM count"),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "says"), [p[1:] for p in PLANS], ids=[p[0] for p in PLANS])
def test_planner_refuses_goals_and_budgets_it_cannot_solve(kwargs: dict[str, Any], says: str) -> None:
    from airflow_provider_sky.planner.api import Planner

    refused(lambda: Planner().plan_transfer(*PAIR, **kwargs), says)


def test_a_multicast_goal_is_checked_like_a_unicast_one() -> None:
    from airflow_provider_sky.planner.api import Planner

    refused(lambda: Planner().plan_multicast(PAIR[0], [PAIR[1], "aws:us-west-2"], throughput_goal_gbps=-1),
            r"throughput_goal_gbps=-1 is out of range")  # fmt: skip


@pytest.mark.parametrize(("limit", "says"), [x[1:] for x in LIMITS], ids=[x[0] for x in LIMITS])
def test_planner_refuses_vm_limits_below_one(limit: Any, says: str) -> None:
    from airflow_provider_sky.planner.api import Planner

    refused(lambda: Planner(max_instances_per_region=limit), says)


@pytest.mark.parametrize(("doc", "says"), [g[1:] for g in GRIDS], ids=[g[0] for g in GRIDS])
def test_a_malformed_grid_names_the_key_at_fault(doc: Any, says: str) -> None:
    refused(lambda: grid_from_dict(doc), says)


# -- store name rules, as the copy preflight asks them --------------------------------------------------

NAMES = [
    ("s3", "k" * 1025, r"1025 bytes long, over the 1024-byte limit"),
    ("s3", "é" * 513, r"1026 bytes long"),
    ("gs", "a\nb", r"carriage return or line feed"),
    ("gs", "..", r"is '.' or '..'"),
    ("gs", "k" * 1025, r"over the 1024-byte limit"),
    ("azure", "report.", r"ends with '.' or '/'"),
    ("azure", "a\x01b", r"control character"),
    ("azure", "/".join(["d"] * 255), r"255 path segments, over Azure's 254"),
    ("azure", "k" * 1025, r"1025 characters long"),
    ("azure", "a/./b", r"'.' or '..' path segment"),
    ("file", "tmp/" + "n" * 256, r"path segment of 256 bytes, over the 255-byte"),
    ("file", "/".join(["d" * 200] * 21), r"over the 4095-byte limit"),
    ("file", "a//b", r"repeated '/'"),
]
FINE = [("s3", "k" * 1024), ("gs", "a/../b"), ("azure", "/".join(["d"] * 254)), ("file", "tmp/" + "n" * 255)]


@pytest.mark.parametrize(("scheme", "key", "why"), NAMES, ids=[f"{n[0]}-{n[2][:24]}" for n in NAMES])
def test_each_store_names_the_rule_a_key_breaks(scheme: str, key: str, why: str) -> None:
    problem = names.key_problem(scheme, key)
    assert problem is not None and re.search(why, problem), problem


@pytest.mark.parametrize(("scheme", "key"), FINE, ids=[f[0] for f in FINE])
def test_keys_at_the_limits_are_accepted(scheme: str, key: str) -> None:
    assert names.key_problem(scheme, key) is None


# -- the copy engine on file:// ---------------------------------------------------------------------------


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_bytes(b"alpha")
    os.mkfifo(tmp_path / "fifo")
    os.symlink("loop2", tmp_path / "loop1")
    os.symlink("loop1", tmp_path / "loop2")
    os.symlink("nowhere", tmp_path / "dangling")
    (tmp_path / "afile").write_bytes(b"x")
    return tmp_path


COPIES = [
    ("chunk-one-byte", "src/", {"chunk_size": 1}, r"chunk_size=1 bytes is too small to make progress"),
    ("chunk-under-64k", "src/", {"chunk_size": 64 * 1024 - 1}, r"chunk_size=65535 bytes is too small"),
    ("fifo-source", "fifo", {}, r"fifo is a FIFO \(named pipe\), not a regular file"),
    ("device-source", "/dev/zero", {}, r"/dev/zero is a character device"),
    ("loop-source", "loop1", {}, r"loop1 is a symlink loop"),
    ("dangling-source", "dangling", {}, r"dangling is a dangling symlink \(to 'nowhere'\)"),
]


@pytest.mark.parametrize(("source", "options", "says"), [c[1:] for c in COPIES], ids=[c[0] for c in COPIES])
def test_run_copy_refuses_before_writing(scratch: Path, source: str, options: dict[str, int], says: str) -> None:
    before = tree(scratch)
    src = source if source.startswith("/") else f"{scratch}/{source}"

    refused(lambda: run_copy(CopyRequest.build(f"file://{src}", f"file://{scratch}/out/", **options)), says)

    assert tree(scratch) == before


# -- the hook and the operator, with connections from AIRFLOW_CONN_* ---------------------------------------

AZURITE = "http://127.0.0.1:10000/acct"
OPERATOR_ROWS = [
    ("aws-endpoint-not-a-url", {"aws_conn_id": "bad_aws"}, "s3://bucket/x/",
     {"AIRFLOW_CONN_BAD_AWS": {"conn_type": "aws", "extra": {"endpoint_url": "minio:9000"}}},
     r"S3 endpoint URL 'minio:9000' is not an http:// or https:// URL"),
    ("aws-endpoint-bad-port", {"aws_conn_id": "bad_aws"}, "s3://bucket/x/",
     {"AIRFLOW_CONN_BAD_AWS": {"conn_type": "aws", "extra": {"endpoint_url": "http://127.0.0.1:70000"}}},
     r"is malformed \(Port out of range"),
    ("gcs-endpoint-not-a-url", {"gcp_conn_id": "bad_gcp"}, "gs://bucket/x/",
     {"AIRFLOW_CONN_BAD_GCP": {"conn_type": "google_cloud_platform", "extra": {"endpoint_url": "gcs:4443"}}},
     r"GCS endpoint URL 'gcs:4443' is not"),
    ("azure-key-not-base64", {"azure_conn_id": "bad_wasb"}, "azure://acct/cont/x/",
     {"AIRFLOW_CONN_BAD_WASB": {"conn_type": "wasb", "login": "acct", "password": "not base64!", "host": AZURITE}},
     r"Azure account key is not base64"),
    ("azure-account-url-not-http", {"azure_conn_id": "bad_wasb"}, "azure://acct/cont/x/",
     {"AIRFLOW_CONN_BAD_WASB": {"conn_type": "wasb", "login": "acct", "password": "aGVsbG8=",
                                "host": "ftp://files.example.com"}},
     r"Azure account URL 'ftp://files.example.com' is not an http:// or https:// URL"),
    ("connection-extra-not-object", {"aws_conn_id": "bad_aws"}, "s3://bucket/x/",
     {"AIRFLOW_CONN_BAD_AWS": {"conn_type": "aws", "extra": [1, 2]}}, r"(?i)bad_aws.*extra|extra.*object"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("conn", "destination", "env", "says"), [r[1:] for r in OPERATOR_ROWS], ids=[r[0] for r in OPERATOR_ROWS]
)
def test_the_transfer_operator_refuses_a_bad_connection_before_writing(
    scratch: Path, monkeypatch: pytest.MonkeyPatch, conn: dict[str, str], destination: str,
    env: dict[str, Any], says: str,
) -> None:  # fmt: skip
    from airflow_provider_sky.operators.transfer import SkyTransferOperator
    from tests.operators.test_transfer_operator import RecordingTaskInstance

    for name, value in env.items():
        monkeypatch.setenv(name, json.dumps(value))
    op = SkyTransferOperator(task_id="copy", source=f"file://{scratch}/src/", destination=destination, **conn)
    before = tree(scratch)

    refused(lambda: op.execute({"ti": RecordingTaskInstance()}), says)

    assert tree(scratch) == before


def test_the_transfer_hook_refuses_a_pipe_as_the_source(scratch: Path) -> None:
    from airflow_provider_sky.hooks.transfer import SkyTransferHook

    request = CopyRequest.build(f"file://{scratch}/fifo", f"file://{scratch}/out/")

    refused(lambda: SkyTransferHook().copy(request), r"fifo is a FIFO")
    assert not (scratch / "out").exists()


def test_the_transfer_operator_refuses_a_destination_under_a_file(scratch: Path) -> None:
    from airflow_provider_sky.operators.transfer import SkyTransferOperator
    from tests.operators.test_transfer_operator import RecordingTaskInstance

    op = SkyTransferOperator(task_id="copy", source=f"file://{scratch}/src/", destination=f"file://{scratch}/afile/x/")

    refused(lambda: op.execute({"ti": RecordingTaskInstance()}), r"afile is a file, not a directory")
    assert (scratch / "afile").read_bytes() == b"x"


# -- launch: task paths and workdirs (checked before any VM exists) ---------------------------------------


def test_a_task_path_that_is_a_directory_is_named(tmp_path: Path) -> None:
    refused(lambda: TaskSpec.from_yaml(str(tmp_path)), r"(?i)is a directory")


def test_a_launch_whose_workdir_does_not_exist_fails_before_any_vm(tmp_path: Path) -> None:
    from airflow_provider_sky.launch.runner import check_local_inputs

    task = TaskSpec.from_dict({"resources": {"cloud": "local"}, "workdir": str(tmp_path / "gone"), "run": "true"})

    refused(lambda: check_local_inputs(task), r"workdir '.*gone' does not exist")


# -- names a store refuses, against the emulators: nothing reaches the bucket ------------------------------

EMULATED = [
    ("azure-trailing-dot", "azure", ["notes."], r"notes\.' \(ends with '\.' or '/'"),
    ("azure-control-character", "azure", ["bell\x07"], r"control character"),
    ("azure-too-many-segments", "azure", ["/".join(["d"] * 255) + "/f"], r"256 path segments, over Azure's 254"),
    ("gcs-line-feed", "gs", ["two\nlines"], r"carriage return or line feed"),
    ("s3-key-too-long", "s3", ["/".join(["d" * 250] * 5)], r"bytes long, over the 1024-byte limit"),
]


@pytest.mark.emulators
@pytest.mark.parametrize(("scheme", "keys", "says"), [e[1:] for e in EMULATED], ids=[e[0] for e in EMULATED])
def test_a_key_the_destination_store_refuses_is_named_before_any_write(
    scheme: str, keys: list[str], says: str, fresh_bucket: Any, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    for key in ["fine.txt", *keys]:
        (src / key).parent.mkdir(parents=True, exist_ok=True)
        (src / key).write_bytes(b"x")
    bucket = fresh_bucket(scheme)

    refused(lambda: run_copy(CopyRequest.build(f"file://{src}/", bucket.url), bucket.emulator.credentials), says)

    assert list(bucket.store.list(bucket.bucket, "")) == []


@pytest.mark.emulators
def test_a_longer_prefix_on_the_same_store_is_checked_too(fresh_bucket: Any) -> None:
    source, target = fresh_bucket("s3"), fresh_bucket("s3")
    source.store.put(source.bucket, "k" * 1000, b"x", hashlib.md5(b"x").digest(), {})
    credentials: StoreCredentials = source.emulator.credentials

    refused(lambda: run_copy(CopyRequest.build(source.url, f"{target.url}{'p' * 30}/"), credentials),
            r"1031 bytes long, over the 1024-byte limit")  # fmt: skip

    assert list(target.store.list(target.bucket, "")) == []


def count_rows() -> int:
    """Bad inputs in this module (the CLI battery adds its own to reach the issue's 80)."""
    singles = 6  # multicast goal, pipe via the hook, destination under a file, task dir, workdir, prefix
    tables = (PLANS, LIMITS, GRIDS, NAMES, COPIES, OPERATOR_ROWS, EMULATED)
    return sum(len(table) for table in tables) + singles
