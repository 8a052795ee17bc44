"""The runner's side of the control API: an async client per job (one TLS session, many gateways).

Async because the trigger polls from the triggerer's event loop, where nothing may block; the
worker and the CLI drive the same client with ``asyncio.run``. The client presents the
runner's certificate from the job's CA and the job's bearer token; it trusts only gateways
whose certificates that CA signed.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from airflow_provider_sky.errors import SkyError
from airflow_provider_sky.gateway.tls import client_context, read_token

REQUEST_TIMEOUT_S = 30.0


class GatewayUnreachable(SkyError):
    """A gateway did not answer its control API (stopped, killed, or its VM is gone)."""


class GatewayRefused(SkyError):
    """A gateway answered with an error (bad program, not a source...)."""


class ControlClient:
    """``async with ControlClient(job_dir) as c: await c.progress(url)``."""

    def __init__(self, job_dir: Path, timeout: float = REQUEST_TIMEOUT_S) -> None:
        self._ssl = client_context(job_dir / "runner")
        self._headers = {"Authorization": f"Bearer {read_token(job_dir)}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ControlClient:
        self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(self, method: str, url: str, body: Any = None, timeout: float | None = None) -> Any:
        assert self._session is not None, "use ControlClient as an async context manager"
        kwargs: dict[str, Any] = {"ssl": self._ssl}
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["headers"] = {"Content-Type": "application/json"}
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        try:
            async with self._session.request(method, url, **kwargs) as response:
                doc = await response.json(content_type=None)
                if response.status >= 400:
                    raise GatewayRefused(f"gateway at {url} refused: {doc.get('error', response.status)}")
                return doc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise GatewayUnreachable(f"gateway at {url} did not answer ({type(exc).__name__}: {exc})") from exc

    async def health(self, base: str, timeout: float = 5.0) -> dict[str, Any]:
        return await self._request("GET", f"{base}/health", timeout=timeout)

    async def load(self, base: str, program: dict[str, Any]) -> dict[str, Any]:
        return await self._request("POST", f"{base}/program", program)

    async def submit(self, base: str, objects: list[dict[str, Any]]) -> int:
        return int((await self._request("POST", f"{base}/objects", {"objects": objects}))["chunks"])

    async def ack(self, base: str, acks: list[list[Any]]) -> None:
        await self._request("POST", f"{base}/acks", {"acks": acks})

    async def avoid(self, base: str, regions: list[str]) -> int:
        return int((await self._request("POST", f"{base}/avoid", {"regions": regions}))["resent"])

    async def reroute(self, base: str, doc: dict[str, Any]) -> None:
        await self._request("POST", f"{base}/reroute", doc)

    async def progress(self, base: str, acks_from: int = 0, results_from: int = 0) -> dict[str, Any]:
        return await self._request("GET", f"{base}/progress?acks_from={acks_from}&results_from={results_from}")

    async def stop(self, base: str) -> dict[str, Any]:
        return await self._request("POST", f"{base}/stop", {}, timeout=10.0)
