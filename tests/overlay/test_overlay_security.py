"""The data channel refuses peers without the job's certificate; the control API refuses requests
without the job's token; secrets stay in the job directory."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_sky.gateway.program import GatewayProgram
from airflow_provider_sky.gateway.tls import JobAuthority
from airflow_provider_sky.overlay import runner
from airflow_provider_sky.overlay.client import ControlClient, GatewayRefused
from airflow_provider_sky.overlay.fleet import GatewayProcess, LoopbackPlacement, kill_gateway, start_gateway


@pytest.fixture
def lone_gateway(tmp_path: Path) -> Iterator[tuple[Path, GatewayProcess]]:
    """One gateway of a job, with the job directory the runner would make."""
    job_dir = runner.jobs_root() / "securitytest"
    program = GatewayProgram("securitytest", "g-0", "local:a", False, True, {})
    runner._write_job_dir(job_dir, "securitytest", {"g-0": program})
    process = start_gateway(LoopbackPlacement(), "g-0", "local:a", job_dir / "gateways" / "g-0", memory_mb=64,
                            idle_timeout_s=60)  # fmt: skip
    try:
        yield job_dir, process
    finally:
        kill_gateway(process.pid, process.gateway_id)
        import shutil

        shutil.rmtree(job_dir, ignore_errors=True)


def _progress(job_dir: Path, process: GatewayProcess) -> dict:
    async def get() -> dict:
        async with ControlClient(job_dir) as client:
            return await client.progress(process.control_url)

    return asyncio.run(get())


def _try_tls(port: int, context: ssl.SSLContext) -> bool:
    """True when the gateway accepted the TLS session and kept it open for a frame."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, context.wrap_socket(raw) as sock:
            sock.sendall(b"SKY1" + b"\0" * 64)
            sock.settimeout(2)
            try:
                return sock.recv(1) != b""
            except TimeoutError:
                return True  # still open: it would have read our frame
    except (ssl.SSLError, OSError):
        return False


def test_a_peer_without_the_jobs_certificate_is_refused_on_the_data_channel(lone_gateway, tmp_path: Path) -> None:
    job_dir, process = lone_gateway
    no_cert = ssl.create_default_context(cafile=str(job_dir / "runner" / "ca.pem"))
    no_cert.check_hostname = False
    other_job = JobAuthority("another-job").issue("intruder").write(tmp_path / "intruder")
    foreign = ssl.create_default_context(cafile=str(job_dir / "runner" / "ca.pem"))
    foreign.check_hostname = False
    foreign.load_cert_chain(str(other_job / "cert.pem"), str(other_job / "key.pem"))
    assert not _try_tls(process.data_port, no_cert)
    assert not _try_tls(process.data_port, foreign)
    with socket.create_connection(("127.0.0.1", process.data_port), timeout=5) as plain:  # no TLS at all
        plain.sendall(b"SKY1" + b"\0" * 64)
        plain.settimeout(10)
        try:
            answer = plain.recv(1)
        except ConnectionResetError:
            answer = b""
        assert answer == b""  # closed on us
    assert _progress(job_dir, process)["refused_peers"] == 3
    assert _progress(job_dir, process)["state"] == "idle"  # refused peers changed nothing


def test_a_control_request_without_the_token_is_refused(lone_gateway, tmp_path: Path) -> None:
    import aiohttp

    from airflow_provider_sky.gateway.tls import client_context

    job_dir, process = lone_gateway

    async def call(headers: dict[str, str]) -> tuple[int, str]:
        url, context = f"{process.control_url}/stop", client_context(job_dir / "runner")
        async with aiohttp.ClientSession(headers=headers) as session, session.post(url, ssl=context) as resp:
            return resp.status, await resp.text()

    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        status, body = asyncio.run(call(headers))
        assert status == 401 and "token" in body
    token = (job_dir / "token").read_text()
    no_client_cert = ssl.create_default_context(cafile=str(job_dir / "runner" / "ca.pem"))
    no_client_cert.check_hostname = False

    async def without_cert() -> None:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
            await session.get(f"{process.control_url}/health", ssl=no_client_cert)

    with pytest.raises(aiohttp.ClientError):
        asyncio.run(without_cert())
    assert _progress(job_dir, process)["state"] == "idle"  # none of the refused calls stopped it


def test_a_bad_program_is_refused_with_a_message_and_no_secret(lone_gateway) -> None:
    job_dir, process = lone_gateway
    token = (job_dir / "token").read_text()

    async def load() -> None:
        async with ControlClient(job_dir) as client:
            await client.load(process.control_url, {"gateway_id": "someone-else"})

    with pytest.raises(GatewayRefused) as caught:
        asyncio.run(load())
    assert "refused" in str(caught.value) and token not in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_no_token_or_key_reaches_the_result_or_the_handle(tmp_path: Path, monkeypatch) -> None:
    from airflow_provider_sky.transfer.request import CopyRequest
    from tests.overlay.conftest import triangle_plan, write_tree

    secrets_seen: list[str] = []
    real = runner._write_job_dir

    def spy(job_dir: Path, job_id: str, programs) -> None:
        real(job_dir, job_id, programs)
        secrets_seen.append((job_dir / "token").read_text())
        secrets_seen.append((job_dir / "runner" / "key.pem").read_text().splitlines()[1])

    monkeypatch.setattr(runner, "_write_job_dir", spy)
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, {"x": 1000})
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/")
    summary, handle, outcome = runner.run_overlay(request, triangle_plan(), {f"file://{dst}/": "local:tb-dst"},
                                                  LoopbackPlacement(), timeout_s=60)  # fmt: skip
    published = json.dumps([summary.to_dict(), handle.to_dict(), outcome.to_dict()])
    assert secrets_seen and all(secret not in published for secret in secrets_seen)
