"""A small keep-alive HTTP connection pool for the stores' hot data paths.

Why not the SDKs' own transports for every request: a 4 KiB object costs ~1 ms of Python in
google-cloud-storage's download path (retry wrappers, requests' cookie and netrc handling,
media helpers) and a 16 MiB chunk is read in 8 KiB Python-level iterations into a BytesIO
and copied out again. `http.client`'s `read()` of a response with a Content-Length fills one
bytes object straight from the socket, so a chunk is copied once (kernel to bytes) and a small
object costs a few hundred microseconds. Listing, metadata and error translation stay on the
SDKs; only ranged reads and single-request writes come here.

Connections are reused across threads (one per request at a time); a connection the server
closed (idle, or cut mid-request) is replaced and the request sent again once, which is safe
because every request sent here is idempotent (GET, or a PUT of the same bytes to the same name).
"""

from __future__ import annotations

import http.client
import queue
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

# A server closing an idle keep-alive connection shows up as one of these on the next request.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)


@dataclass(frozen=True)
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


def direct_http_possible(base_url: str) -> bool:
    """False when a proxy from the environment applies: the SDK transports honour it, we do not."""
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    if not proxies.get(parts.scheme) and not proxies.get("all"):
        return True
    return bool(urllib.request.proxy_bypass(parts.hostname or ""))


class ConnectionPool:
    """Keep-alive connections to one scheme://host:port, shared by the worker threads."""

    def __init__(self, base_url: str, *, size: int, timeout: float = 120.0) -> None:
        parts = urlsplit(base_url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port
        self.base_path = parts.path.rstrip("/")
        self._timeout = timeout
        self._idle: queue.LifoQueue[http.client.HTTPConnection] = queue.LifoQueue(maxsize=size)
        self._ssl = ssl.create_default_context() if self.scheme == "https" else None

    def _new(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=self._timeout, context=self._ssl)
        return http.client.HTTPConnection(self.host, self.port, timeout=self._timeout)

    def request(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | memoryview | None = None
    ) -> Response:
        """Send one request and read the whole response body (one copy, straight from the socket)."""
        for attempt in (0, 1):
            try:
                # the retry always dials anew: the other idle connections may be as stale as the first
                conn = self._idle.get_nowait() if attempt == 0 else self._new()
            except queue.Empty:
                conn = self._new()
            try:
                conn.request(method, path, body=body, headers=dict(headers))
                response = conn.getresponse()
                data = response.read()
            except _STALE:
                conn.close()
                if attempt == 0:
                    # An idle connection the server dropped (Azurite closes them after 5 s idle),
                    # or one it cut mid-request: once more on a fresh connection, which is safe
                    # because every request here is idempotent.
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            if response.will_close:
                conn.close()
            else:
                try:
                    self._idle.put_nowait(conn)
                except queue.Full:
                    conn.close()
            return Response(response.status, response.headers, data)
        raise AssertionError("unreachable")

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
