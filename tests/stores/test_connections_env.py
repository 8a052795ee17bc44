"""`AIRFLOW_CONN_*` variables: parsed as Airflow 3 parses them, stricter where Airflow drops data,
and used by `airflow-sky cp` for the official default connection ids without any flag."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow.sdk.definitions.connection import Connection

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.hooks.connections import (
    gcp_credentials_from_connection,
    store_credentials_from_connections,
)
from airflow_provider_sky.hooks.env_connections import connection_from_env

# Runs the CLI in a fresh interpreter and reports whether Airflow was imported on the way.
_RUN_CLI = (
    "import sys; from airflow_provider_sky.cli.main import main; rc = main(sys.argv[1:]); "
    "print('airflow imported:', 'airflow' in sys.modules, file=sys.stderr); sys.exit(rc)"
)
_SDK_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
    "STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_STORAGE_CONNECTION_STRING",
)  # fmt: skip


def _cli(args: list[str], conns: dict[str, object], **sdk_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _SDK_VARIABLES and not k.startswith("AIRFLOW_CONN_")}
    env.update(sdk_env)
    env.update({f"AIRFLOW_CONN_{cid.upper()}": v if isinstance(v, str) else json.dumps(v) for cid, v in conns.items()})
    return subprocess.run(
        [sys.executable, "-c", _RUN_CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize(
    "uri",
    [
        "aws://AKIA3:se%2Fcret@/?region_name=us-east-2&endpoint_url=http%3A%2F%2F127.0.0.1%3A5000",
        "wasb://https://acct:k%40y@Acct.blob.core.windows.net:443/schema",
        "google-cloud-platform://?__extra__=%7B%22project%22%3A+%22p%22%2C+%22is_anonymous%22%3A+true%7D",
        "wasb://a:b@my%2Fhost:99/x",
        "aws://a@h/?x=1&x=2&flag=",
    ],
)
def test_uri_variables_parse_as_airflow_parses_them(uri, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SKY_URI", uri)

    ours = connection_from_env("sky_uri")
    airflow = Connection.from_uri(uri, conn_id="sky_uri")

    assert (ours.conn_type, ours.host or "", ours.login, ours.password, ours.schema or "", ours.port) == (
        airflow.conn_type, airflow.host or "", airflow.login, airflow.password, airflow.schema or "", airflow.port,
    )  # fmt: skip
    assert ours.extra_dejson == airflow.extra_dejson


def test_json_variable_with_extra_as_object_or_as_text(monkeypatch):
    extra = {"region_name": "eu-west-1", "endpoint_url": "http://127.0.0.1:9"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_A1", json.dumps({"conn_type": "aws", "login": "K", "password": "S", "extra": extra})
    )
    monkeypatch.setenv("AIRFLOW_CONN_A2", json.dumps({"conn_type": "aws", "port": "5000", "extra": json.dumps(extra)}))

    one = store_credentials_from_connections(aws_conn_id="a1", needed_schemes=["s3"]).aws
    two = connection_from_env("a2")

    assert (one.access_key_id, one.secret_access_key, one.endpoint_url) == ("K", "S", "http://127.0.0.1:9")
    assert (two.port, two.extra_dejson) == (5000, extra)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('{"conn_type": "aws", "password": "hunter22secret"', "is not valid JSON (Expecting ',' delimiter"),
        (
            '{"conn_type": "aws", "password": "hunter22secret", "extra": "{endpoint_url: x}"}',
            "'extra' that is not valid",
        ),
        ('{"conn_type": "aws", "password": "hunter22secret", "extra": ["x"]}', "'extra' that is a JSON list"),
        ('{"conn_type": "aws", "password": "hunter22secret", "extras": {}}', "unknown key(s) 'extras'"),
        ("aws://AKIA:hunter22secret@/?__extra__=not-json", "'extra' that is not valid JSON"),
        ("aws://AKIA:hunter22secret@host:port/", "port that is not a number"),
        ("hunter22secret", "neither JSON"),
        ("  ", "is set but empty"),
    ],
)
def test_a_malformed_variable_is_reported_as_malformed_without_its_secret(value, problem, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_BROKEN", value)

    with pytest.raises(SkyUserError) as info:
        store_credentials_from_connections(aws_conn_id="aws_broken", needed_schemes=["s3"])

    message = str(info.value)
    assert "AIRFLOW_CONN_AWS_BROKEN" in message and problem in message
    assert "not defined" not in message and "hunter22secret" not in message


def test_an_airflow_connection_whose_extra_is_not_a_json_object_is_refused():
    conn = Connection(conn_id="g", conn_type="google_cloud_platform", extra='"just text"')

    with pytest.raises(SkyUserError, match="extra of connection 'g' is not a JSON object"):
        gcp_credentials_from_connection(conn)


@pytest.mark.parametrize(
    ("scheme", "kwarg"), [("s3", "aws_conn_id"), ("gs", "gcp_conn_id"), ("azure", "azure_conn_id")]
)
def test_a_connection_of_the_wrong_type_for_the_scheme_is_refused(scheme, kwarg, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WRONG", json.dumps({"conn_type": "postgres", "password": "hunter22secret"}))

    with pytest.raises(SkyUserError) as info:
        store_credentials_from_connections(**{kwarg: "wrong"}, needed_schemes=[scheme])

    assert f"'wrong' is of type 'postgres', but {scheme}:// needs" in str(info.value)
    assert "hunter22secret" not in str(info.value)


@pytest.mark.parametrize(
    "extra",
    [{"is_anonymous": True}, {"extra__google_cloud_platform__is_anonymous": "true"}, {"anonymous": "true"}],
)
def test_gcp_anonymous_access_in_the_official_key_its_legacy_prefix_and_the_old_spelling(extra):
    conn = Connection(conn_id="g", conn_type="google_cloud_platform", extra=json.dumps(extra))

    assert gcp_credentials_from_connection(conn).anonymous is True


def test_cp_uses_the_default_connections_from_the_environment_without_flags_or_airflow(fresh_bucket):
    source, destination = fresh_bucket("gs"), fresh_bucket("azure")
    data = os.urandom(70_000)
    source.store.put(source.bucket, "obj.bin", data, hashlib.md5(data).digest(), {})
    conns = {
        "google_cloud_default": source.emulator.connections["google_cloud_default"],
        "wasb_default": destination.emulator.connections["wasb_default"],
    }
    conns["google_cloud_default"] = {**conns["google_cloud_default"], "extra": {
        "project": "p", "endpoint_url": source.emulator.endpoint, "is_anonymous": True,
    }}  # fmt: skip

    result = _cli(["cp", "--no-progress", f"{source.url}obj.bin", f"{destination.url}copy.bin"], conns)

    assert result.returncode == 0, result.stderr
    assert "airflow imported: False" in result.stderr
    assert destination.store.read_range(destination.bucket, "copy.bin", 0, len(data)) == data


def test_cp_sends_s3_requests_to_the_default_connections_endpoint(fresh_bucket, tmp_path):
    bucket = fresh_bucket("s3")
    (tmp_path / "a.txt").write_bytes(b"to moto, not to AWS")

    result = _cli(
        ["cp", "--no-progress", f"file://{tmp_path}/a.txt", f"{bucket.url}a.txt"], bucket.emulator.connections
    )

    assert result.returncode == 0, result.stderr
    assert [o.key for o in bucket.store.list(bucket.bucket, "")] == ["a.txt"]


def test_cp_refuses_a_default_connection_with_a_broken_extra_before_writing(fresh_bucket, tmp_path):
    bucket = fresh_bucket("s3")
    (tmp_path / "a.txt").write_bytes(b"x")
    broken = {"conn_type": "aws", "login": "testing", "password": "hunter22secret", "extra": "endpoint_url=http://x"}

    result = _cli(["cp", "--no-progress", f"file://{tmp_path}/a.txt", f"{bucket.url}a.txt"], {"aws_default": broken})

    assert result.returncode == 2
    assert "AIRFLOW_CONN_AWS_DEFAULT has an 'extra' that is not valid JSON" in result.stderr
    assert "hunter22secret" not in result.stderr and "Traceback" not in result.stderr
    assert list(bucket.store.list(bucket.bucket, "")) == []


def test_a_credential_flag_wins_over_the_default_connection(fresh_bucket, tmp_path):
    bucket = fresh_bucket("s3")
    (tmp_path / "a.txt").write_bytes(b"x")
    elsewhere = {"conn_type": "aws", "extra": {"endpoint_url": "http://127.0.0.1:9"}}
    args = ["cp", "--no-progress", "--s3-endpoint-url", bucket.emulator.endpoint, "--aws-region", "us-east-1"]

    result = _cli(
        [*args, f"file://{tmp_path}/a.txt", f"{bucket.url}a.txt"],
        {"aws_default": elsewhere},
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )

    assert result.returncode == 0, result.stderr
    assert [o.key for o in bucket.store.list(bucket.bucket, "")] == ["a.txt"]


def _gcs_default_in_a_secrets_backend(source, tmp_path, data: bytes) -> dict[str, str]:
    """`obj.bin` on the fake GCS source, and the environment of an Airflow whose secrets backend
    (a connections file) defines `google_cloud_default` pointing at that emulator."""
    source.store.put(source.bucket, "obj.bin", data, hashlib.md5(data).digest(), {})
    conns_file = tmp_path / "connections.json"
    conns_file.write_text(json.dumps({"google_cloud_default": {
        "conn_type": "google_cloud_platform",
        "extra": {"project": "p", "endpoint_url": source.emulator.endpoint, "is_anonymous": True},
    }}))  # fmt: skip
    return {
        "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(conns_file)}),
    }


def test_cp_asks_airflows_secrets_backend_for_a_default_connection_no_variable_defines(fresh_bucket, tmp_path):
    source, destination = fresh_bucket("gs"), fresh_bucket("file")
    backend = _gcs_default_in_a_secrets_backend(source, tmp_path, b"from the backend")

    result = _cli(["cp", "--no-progress", f"{source.url}obj.bin", f"{destination.url}obj.bin"], {}, **backend)

    assert result.returncode == 0, result.stderr
    assert "airflow imported: True" in result.stderr
    assert Path("/", destination.key("obj.bin")).read_bytes() == b"from the backend"


def test_inside_airflow_secrets_from_a_variable_are_masked_in_logs(monkeypatch):
    from airflow.sdk._shared.secrets_masker.secrets_masker import redact

    conn = {"conn_type": "aws", "password": "pw-hunter22", "extra": {"aws_secret_access_key": "extra-hunter22"}}
    monkeypatch.setenv("AIRFLOW_CONN_MASKED", json.dumps(conn))

    store_credentials_from_connections(aws_conn_id="masked", needed_schemes=["s3"])

    assert redact("login failed: pw-hunter22 / extra-hunter22") == "login failed: *** / ***"


def test_a_default_connection_in_airflow_wins_over_the_sdks_variables_as_in_the_official_providers(
    fresh_bucket, tmp_path
):
    """The official hooks use `google_cloud_default` wherever Airflow finds it; the SDK's variables only without."""
    source, destination = fresh_bucket("gs"), fresh_bucket("file")
    backend = _gcs_default_in_a_secrets_backend(source, tmp_path, b"via the connection")
    backend["STORAGE_EMULATOR_HOST"] = "http://127.0.0.1:9"  # nothing listens there: used, the copy would fail

    result = _cli(["cp", "--no-progress", f"{source.url}obj.bin", f"{destination.url}obj.bin"], {}, **backend)

    assert result.returncode == 0, result.stderr
    assert Path("/", destination.key("obj.bin")).read_bytes() == b"via the connection"
