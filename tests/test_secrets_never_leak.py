"""No credential reaches a log line, XCom, rendered field or error, whatever the verbosity.

Distinctive fake secrets of every kind the project loads (an AWS secret key and session token,
an Azure account key and a SAS token, a GCS service-account private key and the access token
it is exchanged for, launch secrets) go through real copies on the emulators: `airflow-sky -v`
as a user runs it (a subprocess; its stdout and stderr are searched) and the operators under
`dag.test()` (log records, stdout, XComs, rendered template fields, task errors).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_sky.devtools.emulators import AZURITE_ACCOUNT, AZURITE_KEY
from tests.launch.conftest import sshd_available  # noqa: F401 - the launches run on local sshd VMs

pytestmark = pytest.mark.emulators

AWS_ACCESS_KEY_ID = "AKIASKYLEAKTEST0001"
AWS_SECRET = "sKyLeAkAwsSecret/Key+0123456789abcdefGHIJ"
AWS_SESSION_TOKEN = "FwoGZXIvYXdzSKYLEAKsessionTOKEN0123456789/abc+def=="
GCS_ACCESS_TOKEN = "ya29.SkyLeakGcsAccessToken-0123456789abcdef"
LAUNCH_SECRET = "sky-leak-launch-secret-7f3a9c"


def _pem_private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class _TokenEndpoint(BaseHTTPRequestHandler):
    """Google's OAuth token endpoint as a service-account key meets it: a signed JWT in, a token out."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"access_token": GCS_ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def token_uri() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def gcs_private_key() -> str:
    return _pem_private_key()


def _sas_token() -> str:
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    return generate_account_sas(
        AZURITE_ACCOUNT, AZURITE_KEY, ResourceTypes(service=True, container=True, object=True),
        AccountSasPermissions(read=True, write=True, list=True, add=True, create=True, delete=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )  # fmt: skip


def _connections(fresh: dict[str, Any], token_uri: str, private_key: str, sas: str) -> dict[str, str]:
    """AIRFLOW_CONN_* variables holding every fake secret, pointed at the emulators."""
    s3, gcs, azure = fresh["s3"], fresh["gs"], fresh["azure"]
    keyfile = {
        "type": "service_account", "project_id": "sky-leak", "private_key_id": "leak0123456789abcdef0123",
        "private_key": private_key, "client_email": "sky-leak@sky-leak.iam.gserviceaccount.com",
        "client_id": "101234567890123456789", "token_uri": token_uri,
    }  # fmt: skip
    account_url = azure.emulator.endpoint
    conns = {
        "aws_default": {"conn_type": "aws", "login": AWS_ACCESS_KEY_ID, "password": AWS_SECRET,
                        "extra": {"aws_session_token": AWS_SESSION_TOKEN, "region_name": "us-east-1",
                                  "endpoint_url": s3.emulator.endpoint}},
        "google_cloud_default": {"conn_type": "google_cloud_platform",
                                 "extra": {"project": "sky-leak", "endpoint_url": gcs.emulator.endpoint,
                                           "keyfile_dict": json.dumps(keyfile)}},
        "wasb_default": {"conn_type": "wasb", "host": account_url, "extra": {"sas_token": sas}},
        "wasb_key": {"conn_type": "wasb", "host": account_url, "login": AZURITE_ACCOUNT, "password": AZURITE_KEY},
    }  # fmt: skip
    return {f"AIRFLOW_CONN_{name.upper()}": json.dumps(conn) for name, conn in conns.items()}


def _secrets(private_key: str, sas: str) -> dict[str, str]:
    """Each secret and a distinctive piece of it (a leak may be partial: one line of a PEM key)."""
    from urllib.parse import parse_qs

    signature = parse_qs(sas)["sig"][0]
    pem_line = private_key.splitlines()[5]
    return {
        "AWS secret key": AWS_SECRET, "AWS session token": AWS_SESSION_TOKEN, "Azure account key": AZURITE_KEY,
        "Azure account key (part)": AZURITE_KEY[10:40], "SAS token": sas, "SAS signature": signature,
        "SAS signature (URL-quoted)": signature.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D"),
        "GCS private key line": pem_line, "GCS access token": GCS_ACCESS_TOKEN, "launch secret": LAUNCH_SECRET,
    }  # fmt: skip


def _assert_no_secret(text: str, secrets: dict[str, str]) -> None:
    leaked = [kind for kind, value in secrets.items() if value in text]
    assert not leaked, f"leaked: {leaked}"


def _tree(root: Path) -> None:
    (root / "deep").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha" * 100)
    (root / "deep" / "b.bin").write_bytes(bytes(range(256)) * 4000)  # multipart at 1 MiB chunks


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def buckets(fresh_bucket: Any) -> dict[str, Any]:
    return {scheme: fresh_bucket(scheme) for scheme in ("s3", "gs", "azure")}


@pytest.mark.usefixtures("sshd_available")
def test_airflow_sky_verbose_copies_and_launch_print_no_secret(
    buckets: dict[str, Any], token_uri: str, gcs_private_key: str, tmp_path: Path
) -> None:
    sas = _sas_token()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AWS_", "AZURE_"))}
    env |= _connections(buckets, token_uri, gcs_private_key, sas) | {"SKY_STATE_DIR": str(tmp_path / "state")}
    _tree(tmp_path / "in")
    s3, gcs, azure = (buckets[s].url for s in ("s3", "gs", "azure"))
    task = tmp_path / "task.yaml"
    task.write_text(
        textwrap.dedent(f"""\
        name: leak-check
        resources: {{cloud: local}}
        secrets: {{API_TOKEN: {LAUNCH_SECRET}}}
        run: 'test "$API_TOKEN" = "{LAUNCH_SECRET}" && echo token-present'
    """)
    )
    steps = [
        ["cp", f"file://{tmp_path}/in/", f"{s3}data/", "--chunk-size", "1MiB", "--multipart-threshold", "1MiB"],
        ["cp", f"{s3}data/", f"{gcs}data/", "--chunk-size", "1MiB", "--multipart-threshold", "1MiB"],
        ["cp", f"{gcs}data/", f"{azure}data/", "--chunk-size", "1MiB", "--multipart-threshold", "1MiB"],
        ["cp", f"{azure}data/", f"file://{tmp_path}/back/", "--azure-conn-id", "wasb_key"],
        ["launch", str(task)],
        # an error from the cloud: a container the SAS token does not reach
        ["cp", f"file://{tmp_path}/in/", f"azure://{AZURITE_ACCOUNT}/missing-{buckets['azure'].bucket[-12:]}/x/"],
    ]
    outputs = []
    for args in steps:
        done = subprocess.run([sys.executable, "-m", "airflow_provider_sky.cli.main", "-v", *args], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        outputs.append((args[0], done.returncode, done.stdout + done.stderr))
    assert [code for _, code, _ in outputs[:5]] == [0] * 5, [o[2][-3000:] for o in outputs if o[1]]
    assert _files(tmp_path / "back") == _files(tmp_path / "in")  # the bytes went through all three clouds
    everything = "\n".join(text for _, _, text in outputs)
    assert "DEBUG urllib3" in everything or "DEBUG botocore" in everything  # -v really logged requests
    assert "token-present" in everything
    assert outputs[5][1] != 0 and "Traceback" not in outputs[5][2]
    assert "DEBUG botocore.auth: Signature:" in everything  # botocore logged each request's signature...
    assert not re.search(r"Signature:\s*\n[0-9a-f]{64}", everything)  # ...which never shows
    _assert_no_secret(everything, _secrets(gcs_private_key, sas))


def _dag_file(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "leak_check_dag.py"
    path.write_text(
        textwrap.dedent("""\
        import os
        from datetime import datetime

        from airflow.sdk import DAG

        from airflow_provider_sky.operators.launch import SkyLaunchOperator
        from airflow_provider_sky.operators.transfer import SkyTransferOperator

        with DAG("leak_check", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
            hops = [
                ("to_s3", "file://" + os.environ["LEAK_IN"], os.environ["LEAK_S3"], {}),
                ("to_gcs", os.environ["LEAK_S3"], os.environ["LEAK_GCS"], {}),
                ("to_azure", os.environ["LEAK_GCS"], os.environ["LEAK_AZURE"], {}),
                ("back", os.environ["LEAK_AZURE"], "file://" + os.environ["LEAK_BACK"], {"azure_conn_id": "wasb_key"}),
            ]
            previous = None
            for task_id, source, destination, conns in hops:
                step = SkyTransferOperator(task_id=task_id, source=source, destination=destination,
                                           chunk_size_mb=1, multipart_threshold_mb=1, progress_interval_s=0, **conns)
                if previous is not None:
                    previous >> step
                previous = step
            launch = SkyLaunchOperator(
                task_id="launch",
                task={"name": "leak-check", "resources": {"cloud": "local"}, "secrets": {"API_TOKEN": None},
                      "run": 'test -n "$API_TOKEN" && echo token-present'},
                secrets={"API_TOKEN": "{{ var.value.leak_secret }}"},
                deferrable=False,
            )
            previous >> launch
            SkyTransferOperator(task_id="refused", source="file://" + os.environ["LEAK_IN"],
                                destination=os.environ["LEAK_MISSING"], retries=0)  # fails: no such container
    """)
    )
    return path


def _task_artifacts(run: Any) -> str:
    """Every XCom and rendered template field the run stored, as text."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        xcoms = session.scalars(select(XComModel.value).where(XComModel.run_id == run.run_id)).all()
        rendered = session.scalars(
            select(RenderedTaskInstanceFields.rendered_fields).where(RenderedTaskInstanceFields.run_id == run.run_id)
        ).all()
    return json.dumps([*xcoms, *rendered], default=str)


@pytest.mark.usefixtures("sshd_available")
def test_operators_under_dag_test_keep_every_secret_out_of_logs_xcom_and_rendered_fields(
    buckets: dict[str, Any], token_uri: str, gcs_private_key: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import logging

    from airflow import settings
    from airflow.models.variable import Variable

    from airflow_provider_sky.devtools.dag_runner import prepare_airflow_home, run_dag_file

    sas = _sas_token()
    for name, value in _connections(buckets, token_uri, gcs_private_key, sas).items():
        monkeypatch.setenv(name, value)
    _tree(tmp_path / "in")
    monkeypatch.setenv("LEAK_IN", f"{tmp_path}/in/")
    monkeypatch.setenv("LEAK_BACK", f"{tmp_path}/back/")
    for scheme, variable in (("s3", "LEAK_S3"), ("gs", "LEAK_GCS"), ("azure", "LEAK_AZURE")):
        monkeypatch.setenv(variable, f"{buckets[scheme].url}data/")
    monkeypatch.setenv("LEAK_MISSING", f"azure://{AZURITE_ACCOUNT}/missing-{buckets['azure'].bucket[-12:]}/x/")
    monkeypatch.setenv("SKY_STATE_DIR", str(tmp_path / "state"))
    dag_file = _dag_file(tmp_path / "dags")
    prepare_airflow_home()
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(dag_file.parent))
    Variable.set("leak_secret", LAUNCH_SECRET)

    with caplog.at_level(logging.DEBUG):
        run = run_dag_file(dag_file, "leak_check")

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == dict.fromkeys(("to_s3", "to_gcs", "to_azure", "back", "launch"), "success") | {
        "refused": "failed"
    }, states
    assert _files(tmp_path / "back") == _files(tmp_path / "in")
    captured = capsys.readouterr()
    records = "\n".join(
        f"{r.getMessage()}\n{r.exc_text or ''}" for r in caplog.records
    )  # each record's message and traceback, as every handler would show them
    artifacts = _task_artifacts(run)
    everything = records + caplog.text + captured.out + captured.err + artifacts
    assert "Progress" in captured.out and "token-present" in captured.out  # the task logs were captured
    assert "does not exist" in captured.out  # the refused task's error
    assert "checksums_verified" in artifacts and buckets["s3"].bucket in artifacts  # XComs and rendered fields
    _assert_no_secret(everything, _secrets(gcs_private_key, sas))


def test_inside_airflow_a_secret_only_this_provider_knows_reaches_airflows_masker() -> None:
    from airflow.sdk._shared.secrets_masker.secrets_masker import redact as airflow_redact

    from airflow_provider_sky.credentials import AzureCredentials
    from airflow_provider_sky.hooks.masking import mask_in_airflow

    sas = _sas_token()
    AzureCredentials(account_name=AZURITE_ACCOUNT, sas_token=sas)  # e.g. built by the engine, not by Airflow
    mask_in_airflow()

    assert airflow_redact(f"GET /c/blob?{sas}") == "GET /c/blob?***"
