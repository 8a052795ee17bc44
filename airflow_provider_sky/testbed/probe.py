"""A bounded TCP blast for measuring a link: one end serves, the other sends N bytes.

Both ends run as ``python -m airflow_provider_sky.testbed.probe`` inside their namespaces, so a
measurement crosses exactly the link under test and nothing else; the stdlib only, so a probe
starts in a few tens of milliseconds. Every run is bounded in bytes (the sender stops at
``--bytes``) and in time (both ends give up after ``--timeout`` seconds).

The receiver times from its first byte to end of stream: that leaves out connection set-up and
process start, which are not the link's rate.

:func:`measure` drives both ends through any testbed (shaped or loopback) and returns Gbit/s.
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Protocol

CHUNK = 64 * 1024
DEFAULT_TIMEOUT_S = 20.0


def serve(host: str, port: int, timeout_s: float) -> dict[str, Any]:
    """Accept one connection, read to end of stream, report bytes and seconds."""
    with socket.create_server((host, port)) as listener:
        listener.settimeout(timeout_s)
        print(json.dumps({"port": listener.getsockname()[1]}), flush=True)
        conn, _ = listener.accept()
    with conn:
        conn.settimeout(timeout_s)
        buf = bytearray(CHUNK)
        first = last = 0.0
        total = 0
        while n := conn.recv_into(buf):
            last = time.perf_counter()
            if not total:
                first = last
            total += n
    return {"bytes": total, "seconds": last - first}


def blast(host: str, port: int, nbytes: int, timeout_s: float) -> dict[str, Any]:
    """Send ``nbytes`` and wait for the receiver to close, so every byte has arrived."""
    payload = b"\0" * CHUNK
    t0 = time.perf_counter()
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        left = nbytes
        while left > 0:
            sock.sendall(payload[: min(CHUNK, left)])
            left -= CHUNK
        sock.shutdown(socket.SHUT_WR)
        sock.recv(1)
    return {"bytes": nbytes, "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_sky.testbed.probe")
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("serve", help="receive one stream and print its rate as JSON")
    s.add_argument("--host", default="0.0.0.0")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)
    b = sub.add_parser("blast", help="send --bytes bytes to a serving probe")
    b.add_argument("--host", required=True)
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--bytes", type=int, required=True)
    b.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)
    args = parser.parse_args(argv)
    if args.role == "serve":
        result = serve(args.host, args.port, args.timeout)
    else:
        result = blast(args.host, args.port, args.bytes, args.timeout)
    print(json.dumps(result), flush=True)
    return 0


class _Testbed(Protocol):
    def spawn(self, region: str, argv: list[str], **popen_kwargs: Any) -> subprocess.Popen: ...
    def link_ip(self, from_region: str, to_region: str) -> str: ...
    def mgmt_ip(self, region: str) -> str: ...


@dataclass(frozen=True)
class Measurement:
    """What one blast moved, and how fast (decimal Gbit/s)."""

    bytes: int
    seconds: float

    @property
    def gbps(self) -> float:
        return self.bytes * 8 / self.seconds / 1e9 if self.seconds > 0 else float("inf")


def _argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow_provider_sky.testbed.probe", *args]


def _first_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    assert proc.stdout is not None  # started with stdout=PIPE
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout_s):
            raise TimeoutError(f"probe server did not start within {timeout_s:g} s")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"probe server exited early: {proc.communicate()[1]}")
    return line


def measure(
    testbed: _Testbed,
    receiver: str,
    nbytes: int,
    *,
    dial: str,
    sender: str | None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Measurement:
    """Serve in ``receiver``'s namespace, send ``nbytes`` from ``sender``'s (``None``: the root
    namespace) to address ``dial``; the receiver's timing is the result."""
    server = testbed.spawn(
        receiver, _argv("serve", "--timeout", str(timeout_s)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        port = json.loads(_first_line(server, timeout_s))["port"]
        client_argv = _argv("blast", "--host", dial, "--port", str(port), "--bytes", str(nbytes),
                            "--timeout", str(timeout_s))  # fmt: skip
        if sender is None:
            client = subprocess.run(client_argv, capture_output=True, text=True, timeout=timeout_s + 5)
        else:
            proc = testbed.spawn(sender, client_argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out, err = proc.communicate(timeout=timeout_s + 5)
            client = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        if client.returncode != 0:
            raise RuntimeError(f"probe sender failed: {client.stderr.strip()}")
        out, err = server.communicate(timeout=timeout_s)
        if server.returncode != 0:
            raise RuntimeError(f"probe server failed: {err.strip()}")
        result = json.loads(out.strip().splitlines()[-1])
        return Measurement(int(result["bytes"]), float(result["seconds"]))
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def measure_link(
    testbed: _Testbed, src: str, dst: str, nbytes: int, timeout_s: float = DEFAULT_TIMEOUT_S
) -> Measurement:
    """Rate of the shaped direct link ``src`` -> ``dst`` (sender in ``src``, receiver in ``dst``)."""
    return measure(testbed, dst, nbytes, dial=testbed.link_ip(src, dst), sender=src, timeout_s=timeout_s)


def measure_mgmt(testbed: _Testbed, region: str, nbytes: int, timeout_s: float = DEFAULT_TIMEOUT_S) -> Measurement:
    """Rate from the root namespace into ``region`` over its (unshaped) management link."""
    return measure(testbed, region, nbytes, dial=testbed.mgmt_ip(region), sender=None, timeout_s=timeout_s)


if __name__ == "__main__":
    sys.exit(main())
