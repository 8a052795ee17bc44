"""`airflow-sky cp` and `airflow-sky sync`: the copy engine from a shell.

Credentials: a named connection, flags, the official default connections' AIRFLOW_CONN_*
variables, the SDKs' variables, Airflow's default connections, then each SDK's default chain
(the order and why: cli/credential_args.py). Secrets passed as flags are never echoed back.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import re
import sys
import threading
from typing import Any

from airflow_provider_sky.cli.credential_args import add_credential_arguments, credentials_from_args
from airflow_provider_sky.cli.overlay_args import add_overlay_arguments, run_with_overlay, wants_overlay
from airflow_provider_sky.transfer.engine import run_copy
from airflow_provider_sky.transfer.progress import TerminalProgress, human_bytes
from airflow_provider_sky.transfer.request import CopyRequest
from airflow_provider_sky.uri import parse_uri

_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b?)\s*$", re.I)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """'16MiB', '16M', '16mb' or '16777216' -> bytes (binary units: chunk sizes are powers of two)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write e.g. 8MiB, 64M or 1048576")
    return int(match[1]) * _UNITS[match[2].lower()]


def register(subparsers: Any) -> None:
    """Add `cp` and `sync` to the `airflow-sky` command."""
    cp = subparsers.add_parser(
        "cp",
        help="copy objects between s3://, gs://, azure:// and file://",
        description="Copy SRC to each DST. A rerun skips objects an earlier run already wrote and "
        "verified; objects it cannot prove it wrote are overwritten.",
    )
    _add_common(cp)
    cp.set_defaults(handler=_run, mode="cp", delete=False)
    sync = subparsers.add_parser(
        "sync",
        help="copy only objects missing or different at the destination",
        description="Copy objects that are missing at DST or differ in size or checksum. Nothing is "
        "deleted unless --delete is given.",
    )
    _add_common(sync)
    sync.add_argument("--delete", action="store_true", help="delete destination objects the source lacks")
    sync.set_defaults(handler=_run, mode="sync")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SRC", help="e.g. s3://bucket/prefix/ or file:///data/")
    parser.add_argument("destinations", metavar="DST", nargs="+", help="one or more destinations")
    parser.add_argument("--dry-run", action="store_true", help="list what would be copied/deleted; write nothing")
    parser.add_argument("--chunk-size", type=parse_size, default=CopyRequest.chunk_size, help="part size (16MiB)")
    parser.add_argument(
        "--multipart-threshold",
        type=parse_size,
        default=CopyRequest.multipart_threshold,
        help="objects above this are copied in parallel parts (16MiB)",
    )
    parser.add_argument("--concurrency", type=int, default=CopyRequest.concurrency, help="parallel chunks (16)")
    parser.add_argument("--no-progress", action="store_true", help="no progress output")
    parser.add_argument(
        "--allow-empty-source",
        action="store_true",
        help="an empty source is not an error (sync --delete then empties DST)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    add_overlay_arguments(parser)
    add_credential_arguments(parser)


def release_chunks_promptly() -> None:
    """Make glibc hand each freed chunk buffer back to the kernel at once.

    glibc raises its mmap threshold after the first large free, so later 16 MiB chunk buffers
    come from per-thread heaps that keep freed memory resident: measured, one worker with 16 MiB
    chunks peaked 14 MiB above one chunk, and 16 workers up to 15 MiB above concurrency x chunk.
    A fixed 1 MiB threshold keeps every chunk in its own mapping, released when the chunk is
    freed. Only the `airflow-sky` process does this; an Airflow worker's allocator is its own.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 1024 * 1024)  # M_MMAP_THRESHOLD; setting it also stops the dynamic adjustment
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def skip_azure_async_transport() -> None:
    """Keep the Azure SDK from importing its aiohttp transport in this process.

    ``azure.storage.blob`` imports azure-core's aiohttp transport at import time whenever aiohttp
    is installed (it is: the gateway's control API needs it), only to recognise async transports
    when signing. The CLI's stores are synchronous, and that import measured a third to a half of
    ``import azure.storage.blob`` (the largest single part of a one-object cp's start-up). Marking
    the module absent makes the SDK take its "aiohttp not installed" branch. Only the
    ``airflow-sky`` process does this, and only if nothing imported the transport already; an
    Airflow worker, where another provider may use Azure's async clients, is left as it is.
    """
    sys.modules.setdefault("azure.core.pipeline.transport._aiohttp", None)  # type: ignore[arg-type]


def _run(args: argparse.Namespace) -> int:
    release_chunks_promptly()
    skip_azure_async_transport()
    request = CopyRequest.build(
        args.source,
        args.destinations,
        mode=args.mode,
        delete=args.delete,
        dry_run=args.dry_run,
        chunk_size=args.chunk_size,
        multipart_threshold=args.multipart_threshold,
        concurrency=args.concurrency,
        allow_empty_source=args.allow_empty_source,
    )
    uris = [parse_uri(args.source), *(parse_uri(d) for d in args.destinations)]
    credentials = credentials_from_args(args, {uri.scheme for uri in uris})
    summary, overlay = None, {"used": False, "reason": "no --source-region" if args.overlay != "never" else "never"}
    if wants_overlay(args):
        summary, overlay = run_with_overlay(args, request, credentials)
    if summary is None:
        sink = TerminalProgress(show_actions=args.dry_run, show_progress=not (args.no_progress or args.dry_run))
        try:
            summary = run_copy(request, credentials, progress=sink, cancel=threading.Event())
        finally:
            sink.close()
    if args.json:
        print(json.dumps(summary.to_dict() | {"overlay": overlay}, indent=2))
        return 0
    if overlay["used"]:
        print(f"through gateways ({overlay['reason']}): {overlay['route']}", file=sys.stderr)
    verb = "would copy" if request.dry_run else "copied"
    for dest in summary.destinations:
        rate = f", {human_bytes(dest.throughput)}/s" if not request.dry_run and dest.seconds > 0 else ""
        deleted = (
            f", {'would delete' if request.dry_run else 'deleted'} {dest.objects_deleted}" if (request.delete) else ""
        )
        verified = (
            ""
            if request.dry_run
            else f"; checksums verified for {dest.checksums_verified} "
            f"(whole object compared for {dest.whole_object_verified})"
        )
        print(
            f"{dest.destination}: {verb} {dest.objects_copied} objects ({human_bytes(dest.bytes_copied)}"
            f"{rate}), skipped {dest.objects_skipped}{deleted}{verified}",
            file=sys.stderr,
        )
    return 0
