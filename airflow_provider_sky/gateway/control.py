"""The gateway's control API: HTTPS (job certificate required) plus the job's bearer token.

Routes (JSON in and out):

- ``GET /health``: the gateway's id and state.
- ``POST /program``: load this gateway's program (once).
- ``POST /objects``: source only; queue object manifests for reading.
- ``POST /acks``: source only; chunks the destinations have written.
- ``POST /avoid``: source only; stop using paths through these regions (a relay died).
- ``POST /reroute``: add a re-plan's partitions (the source switches its weights to them).
- ``GET /progress?acks_from=N&results_from=M``: state, errors, per-edge bytes and rates,
  chunk counters, memory, and the acknowledgements / finished objects after the cursors.
- ``POST /stop``: stop every stage, abort unfinished uploads, then exit.

A request without the token gets 401 and nothing else; error bodies carry messages, never
tracebacks or credentials.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from airflow_provider_sky.errors import SkyError
from airflow_provider_sky.gateway.daemon import Gateway

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ControlServer:
    """The aiohttp application around one Gateway, and the clock its idle timeout reads."""

    def __init__(self, gateway: Gateway, token: str) -> None:
        self.gateway = gateway
        self._expected = f"Bearer {token}".encode()
        self.last_request = time.monotonic()
        self.stopped = asyncio.Event()
        self.app = web.Application(middlewares=[self._auth], client_max_size=64 * 1024**2)
        self.app.add_routes([
            web.get("/health", self.health),
            web.post("/program", self.program),
            web.post("/objects", self.objects),
            web.post("/acks", self.acks),
            web.post("/avoid", self.avoid),
            web.post("/reroute", self.reroute),
            web.get("/progress", self.progress),
            web.post("/stop", self.stop),
        ])  # fmt: skip

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, self._expected):
            log.warning("Refused a control request to %s without the job's token", request.path)
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        self.last_request = time.monotonic()
        try:
            return await handler(request)
        except SkyError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": f"bad request: {type(exc).__name__}: {exc}"}, status=400)

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"gateway_id": self.gateway.gateway_id, "state": self.gateway.state})

    async def program(self, request: web.Request) -> web.Response:
        await self._call(self.gateway.load, await request.json())
        return web.json_response({"state": self.gateway.state})

    async def objects(self, request: web.Request) -> web.Response:
        queued = await self._call(self.gateway.submit, (await request.json())["objects"])
        return web.json_response({"chunks": queued})

    async def acks(self, request: web.Request) -> web.Response:
        await self._call(self.gateway.ack, (await request.json())["acks"])
        return web.json_response({"ok": True})

    async def avoid(self, request: web.Request) -> web.Response:
        resent = await self._call(self.gateway.avoid, (await request.json())["regions"])
        return web.json_response({"resent": resent})

    async def reroute(self, request: web.Request) -> web.Response:
        await self._call(self.gateway.reroute, await request.json())
        return web.json_response({"state": self.gateway.state})

    async def progress(self, request: web.Request) -> web.Response:
        acks_from = int(request.query.get("acks_from", "0"))
        results_from = int(request.query.get("results_from", "0"))
        return web.json_response(await self._call(self.gateway.progress, acks_from, results_from))

    async def stop(self, request: web.Request) -> web.Response:
        result = await self._call(self.gateway.stop)
        self.stopped.set()
        return web.json_response(result)
