"""``airflow-sky gateway serve``: run one gateway until told to stop, or until left alone too long.

The job directory (``--dir``) holds this gateway's identity from the job's CA (``ca.pem``,
``cert.pem``, ``key.pem``) and the job's bearer ``token``; secrets are read from files, never
from the command line, so they do not show in ``ps``. Once both listeners are up the gateway
prints one JSON line (``{"ready": true, "control_port": ..., "data_port": ...}``) and writes
it to ``ready.json`` in the directory, so whoever started it learns the ports it bound.

Idle timeout: a gateway whose runner vanished (worker and triggerer both gone) would run and
bill forever; one that hears no control request for ``--idle-timeout`` seconds stops itself,
aborting its unfinished uploads. The trigger polls every few seconds, so only a dead runner
lets it expire.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import logging
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
DEFAULT_IDLE_TIMEOUT_S = 900.0


def register(subparsers: Any) -> None:
    gateway = subparsers.add_parser("gateway", help="run a transfer gateway (used by the overlay runner)")
    sub = gateway.add_subparsers(dest="gateway_command", required=True, metavar="ACTION")
    serve = sub.add_parser("serve", help="run one gateway: control API and data channel")
    serve.add_argument("--id", required=True, dest="gateway_id", help="this gateway's id in the job")
    serve.add_argument("--dir", required=True, type=Path, help="job directory with ca.pem, cert.pem, key.pem, token")
    serve.add_argument("--control", default="127.0.0.1:0", help="HOST:PORT for the control API (port 0: any)")
    serve.add_argument("--data", default="127.0.0.1:0", help="HOST:PORT for the data channel (port 0: any)")
    serve.add_argument("--memory-mb", type=int, default=256, help="bytes of chunks in flight, at most")
    serve.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT_S,
                       help="stop after this many seconds without a control request")  # fmt: skip
    serve.set_defaults(handler=run)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def keep_chunk_memory() -> None:
    """Let glibc reuse freed chunk buffers instead of mapping fresh ones for every chunk, in one arena.

    Chunks are megabytes, above glibc's mmap threshold, so by default each one is a new mapping
    whose every 4 KiB page faults on first touch, and is unmapped on free. From the heap, a
    freed chunk's pages are reused by the next one. One arena: glibc gives threads arenas of
    their own, and a chunk freed in one arena is no use to a thread allocating from another, so
    with two the heaps together held 100-190 MiB more than the bytes in flight (measured on
    loopback, 256 MiB budget); one arena's free chunks serve every thread. Locking is no cost
    here, chunk buffers are few and small objects come from Python's own allocator. Up to 32
    MiB of free heap is kept at its top (beyond that glibc trims), so RSS stays within the chunk
    budget plus that much, given buffers of one size (see frames.LANDING_PAD).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 64 * MiB)  # M_MMAP_THRESHOLD: chunk buffers come from the heap
        libc.mallopt(-1, 32 * MiB)  # M_TRIM_THRESHOLD: free heap above this goes back to the kernel
        libc.mallopt(-8, 1)  # M_ARENA_MAX: one arena, so every thread reuses every freed chunk
    except (OSError, AttributeError):
        pass


def run(args: argparse.Namespace) -> int:
    logging.getLogger().setLevel(logging.INFO)
    keep_chunk_memory()
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from airflow_provider_sky.gateway.control import ControlServer
    from airflow_provider_sky.gateway.daemon import Gateway
    from airflow_provider_sky.gateway.tls import read_token, server_context

    directory: Path = args.dir
    listener = socket.create_server(_split(args.data), backlog=128)
    gateway = Gateway(args.gateway_id, directory, listener, args.memory_mb * MiB)
    server = ControlServer(gateway, read_token(directory))
    runner = web.AppRunner(server.app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = _split(args.control)
    site = web.TCPSite(runner, host, port, ssl_context=server_context(directory))
    await site.start()
    control_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ready = {"ready": True, "control_port": control_port, "data_port": listener.getsockname()[1]}
    (directory / "ready.json").write_text(json.dumps(ready))
    print(json.dumps(ready), flush=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.stopped.set)
    try:
        while not server.stopped.is_set():
            if time.monotonic() - server.last_request > args.idle_timeout:
                logging.getLogger(__name__).warning("No control request for %.0f s: stopping", args.idle_timeout)
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.stopped.wait(), timeout=1.0)
    finally:
        gateway.stop()
        await asyncio.sleep(0.05)  # let the /stop response go out
        await runner.cleanup()
        listener.close()
    return 0


if __name__ == "__main__":
    from airflow_provider_sky.cli.main import main

    sys.exit(main(["gateway", "serve", *sys.argv[1:]]))
