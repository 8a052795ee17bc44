"""A requests transport that replays recorded HTTP exchanges and checks each request's shape.

GCE and Azure have no emulator, so their modules are tested on recordings of the APIs'
request/response shapes (tests/launch/recordings/compute/). The adapter is mounted on the
SDK's own requests session, so everything above HTTP (the SDK's serialisation, error mapping,
pagination and long-running-operation polling) runs for real. Each request must match the next
recording in order: method, URL path (a regex), required query parameters, and the body's
top-level keys (exactly) plus any dotted-path values the recording pins. A response holds a
JSON ``body`` or, for plain blobs such as a serial console log, its ``text``.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.response import HTTPResponse

RECORDINGS = Path(__file__).parent / "recordings" / "compute"


def load(name: str) -> list[dict[str, Any]]:
    return json.loads((RECORDINGS / f"{name}.json").read_text())["exchanges"]


def _dig(body: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


class ReplayAdapter(BaseAdapter):
    """Serve recorded responses in order; fail loudly on any request the recording does not expect."""

    def __init__(self, *recordings: str) -> None:
        super().__init__()
        self.pending: list[dict[str, Any]] = [ex for name in recordings for ex in load(name)]
        self.requests: list[tuple[str, str, Any]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        raw = request.body.decode() if isinstance(request.body, bytes) else request.body
        body = json.loads(raw) if raw else None
        self.requests.append((request.method or "", url.path, body))
        assert self.pending, f"unexpected request: {request.method} {url.path}"
        exchange = self.pending.pop(0)
        exchange_request = exchange["request"]
        assert request.method == exchange_request["method"], (request.method, url.path, exchange_request)
        assert re.fullmatch(exchange_request["path"], url.path), (url.path, exchange_request["path"])
        query = parse_qs(url.query)
        for key, value in exchange_request.get("query", {}).items():
            assert key in query, f"{url.path}: missing query parameter {key}"
            if value is not None:
                assert re.fullmatch(value, query[key][0]), (key, query[key][0], value)
        if "body_keys" in exchange_request:
            assert isinstance(body, dict), f"{url.path}: expected a JSON object body"
            assert sorted(body) == sorted(exchange_request["body_keys"]), (sorted(body), exchange_request)
        for path, value in exchange_request.get("body_values", {}).items():
            assert _dig(body, path) == value, (path, _dig(body, path), value)
        return self.build(request, exchange["response"])

    def build(self, request: requests.PreparedRequest, recorded: dict[str, Any]) -> requests.Response:
        response = requests.Response()
        response.status_code = recorded["status"]
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json", **recorded.get("headers", {})})
        # "text": a non-JSON body as served (a console log blob); "body": JSON
        content = recorded["text"].encode() if "text" in recorded else json.dumps(recorded.get("body", {})).encode()
        response._content = content
        response.raw = HTTPResponse(body=io.BytesIO(content), status=recorded["status"], preload_content=False)
        response.encoding = "utf-8"
        response.url = request.url or ""
        response.request = request
        response.reason = recorded.get("reason", "OK" if recorded["status"] < 400 else "Error")
        return response

    def close(self) -> None:
        pass

    def rename(self, names: dict[str, str]) -> ReplayAdapter:
        """The same exchanges for other resource names (a generated cluster name for the recorded one)."""
        text = json.dumps(self.pending)
        for old, new in names.items():
            text = text.replace(old, new)
        self.pending = json.loads(text)
        return self

    def assert_done(self) -> None:
        assert not self.pending, f"{len(self.pending)} recorded exchanges never requested: {self.pending[:1]}"


def heartbeat_once(adapter: ReplayAdapter, cloud: str, cluster: str, region: str, options: dict[str, Any],
                   ttl: int, now: int) -> tuple[str, Any]:
    """Run the runner's heartbeat on a recorded cluster; the method and body of the request that wrote it."""
    from airflow_provider_sky.launch import runner

    handle = runner.ClusterHandle(cluster, {"cloud": cloud, "region": region}, [], "", dict(options),
                                  tags={"sky-ttl": str(ttl)})
    runner.heartbeat(handle, now=now)
    assert handle.tags["sky-heartbeat"] == str(now)
    method, _, body = adapter.requests[-1]
    return method, body
