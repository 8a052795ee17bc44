"""The stores' keep-alive pool survives a server that closes idle connections (Azurite does after 5 s)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_sky.stores._http import ConnectionPool


class _KeepAliveServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.open_sockets: list[socket.socket] = []

    def drop_idle_connections(self) -> None:
        """What a server's keep-alive timeout does: close every connection it holds open."""
        for sock in self.open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.open_sockets.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def setup(self) -> None:
        super().setup()
        server = self.server
        assert isinstance(server, _KeepAliveServer)
        server.open_sockets.append(self.connection)

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_KeepAliveServer]:
    httpd = _KeepAliveServer()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_after_the_server_dropped_every_idle_connection_each_request_still_succeeds(server) -> None:
    pool = ConnectionPool(f"http://127.0.0.1:{server.server_address[1]}", size=4)
    with ThreadPoolExecutor(4) as threads:  # four connections end up idle in the pool
        first = list(threads.map(lambda i: pool.request("PUT", f"/o{i}", {}, b"x" * 100), range(16)))
    assert {r.status for r in first} == {201}
    server.drop_idle_connections()

    again = [pool.request("PUT", f"/again{i}", {}, f"body {i}".encode()) for i in range(4)]

    assert [r.body for r in again] == [f"body {i}".encode() for i in range(4)]
    pool.close()
