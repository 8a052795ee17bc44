"""SkyTransferOperator as a DAG author meets it: templated arguments, XCom summary, retries, errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sky.devtools.emulators import AZURITE_KEY
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.links.storage import SkyDestinationLink
from airflow_provider_sky.operators.transfer import SkyTransferOperator

USER_ARGUMENTS = (
    "source", "destination", "mode", "delete", "aws_conn_id", "gcp_conn_id", "azure_conn_id",
    "chunk_size_mb", "concurrency", "multipart_threshold_mb", "dry_run_only",  # the dry_run= argument
)


class RecordingTaskInstance:
    """Just the part of a running task instance the operator talks to: XCom pushes."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def _tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _digests(root: Path) -> dict[str, str]:
    files = (p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_every_user_argument_is_templated() -> None:
    assert set(USER_ARGUMENTS) <= set(SkyTransferOperator.template_fields)


def test_rendered_source_and_destination_are_used(tmp_path: Path) -> None:
    op = SkyTransferOperator(
        task_id="t", source="file://{{ params.root }}/in/", destination="file://{{ params.root }}/out/{{ ds }}/",
    )
    op.render_template_fields({"params": {"root": str(tmp_path)}, "ds": "2026-11-23"})
    assert op.source == f"file://{tmp_path}/in/"
    assert op.destination == f"file://{tmp_path}/out/2026-11-23/"


def test_local_copy_returns_a_json_summary_and_persists_no_console_link(tmp_path: Path) -> None:
    _tree(tmp_path / "in", {"a.txt": b"alpha", "deep/er/b.bin": bytes(range(256)) * 1000, "empty": b""})
    ti = RecordingTaskInstance()
    op = SkyTransferOperator(
        task_id="copy", source=f"file://{tmp_path}/in/", destination=f"file://{tmp_path}/out/",
        chunk_size_mb=1, multipart_threshold_mb=1,
    )
    result = op.execute({"ti": ti})
    assert json.loads(json.dumps(result)) == result
    assert (result["objects"], result["bytes"], result["skipped"]) == (3, 5 + 256_000, 0)
    assert result["checksums_verified"] == 3
    assert _digests(tmp_path / "out") == _digests(tmp_path / "in")
    assert ti.pushed[SkyDestinationLink().xcom_key] == ""


def test_a_retry_skips_objects_the_first_try_verified(tmp_path: Path) -> None:
    _tree(tmp_path / "in", {f"part-{i}": bytes([i]) * 1000 for i in range(5)})
    kwargs = {"task_id": "copy", "source": f"file://{tmp_path}/in/", "destination": f"file://{tmp_path}/out/"}
    first = SkyTransferOperator(**kwargs).execute({"ti": RecordingTaskInstance()})
    (tmp_path / "in" / "part-9").write_bytes(b"new since the first try")
    second = SkyTransferOperator(**kwargs).execute({"ti": RecordingTaskInstance()})
    assert first["objects"] == 5
    assert (second["objects"], second["skipped"]) == (1, 5)


def test_dry_run_logs_the_plan_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tree(tmp_path / "in", {"x": b"1", "y": b"22"})
    op = SkyTransferOperator(
        task_id="copy", source=f"file://{tmp_path}/in/", destination=f"file://{tmp_path}/out/", dry_run=True,
    )
    result = op.execute({"ti": RecordingTaskInstance()})
    task_log = capsys.readouterr().out
    assert result["dry_run"] is True
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))
    assert task_log.count("would copy") == 2


@pytest.mark.parametrize(
    ("source", "destination", "words"),
    [
        ("s3//no-scheme", "file:///tmp/x/", "no scheme"),
        ("ftp://host/path", "file:///tmp/x/", "Unknown storage scheme 'ftp'"),
    ],
)
def test_bad_input_fails_before_anything_is_written(source: str, destination: str, words: str) -> None:
    op = SkyTransferOperator(task_id="copy", source=source, destination=destination)
    with pytest.raises(SkyUserError, match=words):
        op.execute({"ti": RecordingTaskInstance()})


def test_a_destination_inside_the_source_is_refused(tmp_path: Path) -> None:
    _tree(tmp_path / "in", {"x": b"1"})
    op = SkyTransferOperator(task_id="copy", source=f"file://{tmp_path}/in/", destination=f"file://{tmp_path}/in/sub/")
    with pytest.raises(SkyUserError, match="inside"):
        op.execute({"ti": RecordingTaskInstance()})
    assert not (tmp_path / "in" / "sub").exists()


def test_an_unknown_connection_id_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_CONN", raising=False)
    op = SkyTransferOperator(
        task_id="copy", source="s3://some-bucket/x/", destination="file:///tmp/sky-never-written/",
        aws_conn_id="no_such_conn",
    )
    with pytest.raises(SkyUserError) as info:
        op.execute({"ti": RecordingTaskInstance()})
    assert "no_such_conn" in str(info.value)
    assert "Fix:" in str(info.value)
    assert not Path("/tmp/sky-never-written").exists()


@pytest.mark.emulators
def test_cross_cloud_copy_through_airflow_connections_keeps_secrets_out_of_logs_and_xcom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_bucket: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    azure = fresh_bucket("azure")
    monkeypatch.setenv("AIRFLOW_CONN_WASB_DEFAULT", azure.emulator.airflow_env()["AIRFLOW_CONN_WASB_DEFAULT"])
    _tree(tmp_path / "in", {"big.bin": bytes(range(256)) * 9000, "small.txt": b"hello"})
    ti = RecordingTaskInstance()
    op = SkyTransferOperator(
        task_id="to_azure", source=f"file://{tmp_path}/in/", destination=f"{azure.url}data/",
        chunk_size_mb=1, multipart_threshold_mb=1, progress_interval_s=0,
    )
    result = op.execute({"ti": ti})
    back = SkyTransferOperator(
        task_id="back", source=f"{azure.url}data/", destination=f"file://{tmp_path}/back/",
    ).execute({"ti": RecordingTaskInstance()})
    assert (result["objects"], back["objects"]) == (2, 2)
    assert _digests(tmp_path / "back") == _digests(tmp_path / "in")
    assert ti.pushed[SkyDestinationLink().xcom_key] == ""  # Azurite: no portal page shows this container
    task_log = capsys.readouterr().out
    assert "Progress" in task_log and "ETA" in task_log
    everything_visible = task_log + json.dumps(result) + json.dumps(ti.pushed)
    assert AZURITE_KEY not in everything_visible
    assert AZURITE_KEY[:20] not in everything_visible


def test_source_and_destinations_are_reported_to_hook_lineage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.lineage import HookLineageCollector

    collector = HookLineageCollector()
    monkeypatch.setattr("airflow_provider_sky.hooks.transfer.get_hook_lineage_collector", lambda: collector)
    _tree(tmp_path / "in", {"x": b"1"})
    SkyTransferOperator(
        task_id="copy", source=f"file://{tmp_path}/in/", destination=[f"file://{tmp_path}/a/", f"file://{tmp_path}/b/"],
    ).execute({"ti": RecordingTaskInstance()})
    lineage = collector.collected_assets
    # Airflow normalises file:// asset URIs without the trailing slash.
    assert [info.asset.uri for info in lineage.inputs] == [f"file://{tmp_path}/in"]
    assert sorted(info.asset.uri for info in lineage.outputs) == [f"file://{tmp_path}/a", f"file://{tmp_path}/b"]
