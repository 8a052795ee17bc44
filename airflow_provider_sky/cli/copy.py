"""`airflow-sky cp` and `airflow-sky sync`: the copy engine from a shell.

Credentials come from flags, then environment variables, then each SDK's default chain
(AWS profiles/roles, Google ADC, Azure DefaultAzureCredential). `--aws-conn-id` and friends
read Airflow connections instead, when Airflow and its metadata database are reachable.
Secrets passed as flags are never echoed back.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import sys
import threading
from typing import Any

from airflow_provider_sky.cli.overlay_args import add_overlay_arguments, run_with_overlay, wants_overlay
from airflow_provider_sky.credentials import (
    AwsCredentials,
    AzureCredentials,
    GcpCredentials,
    StoreCredentials,
)
from airflow_provider_sky.errors import SkyUserError
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
    creds = parser.add_argument_group("credentials (default: environment, then each SDK's default chain)")
    creds.add_argument(
        "--s3-endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"),
        help="S3-compatible endpoint (MinIO, moto)",
    )
    creds.add_argument("--aws-region", default=None, help="AWS region (default: AWS_DEFAULT_REGION/profile)")
    creds.add_argument("--aws-profile", default=None, help="named profile from ~/.aws")
    creds.add_argument("--gcs-endpoint-url", default=_gcs_emulator_env(), help="GCS endpoint (fake-gcs-server)")
    creds.add_argument("--gcp-project", default=os.environ.get("GOOGLE_CLOUD_PROJECT"), help="GCP project id")
    creds.add_argument(
        "--gcp-key-path",
        default=os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"),
        help="service-account JSON key file",
    )
    creds.add_argument(
        "--azure-connection-string",
        default=os.environ.get("AZURE_STORAGE_CONNECTION_STRING"),
        help="Azure storage connection string (env AZURE_STORAGE_CONNECTION_STRING)",
    )
    creds.add_argument("--azure-account-url", default=None, help="e.g. http://127.0.0.1:10000/devstoreaccount1")
    creds.add_argument("--aws-conn-id", default=None, help="read AWS credentials from this Airflow connection")
    creds.add_argument("--gcp-conn-id", default=None, help="read GCP credentials from this Airflow connection")
    creds.add_argument("--azure-conn-id", default=None, help="read Azure credentials from this Airflow connection")


def _gcs_emulator_env() -> str | None:
    host = os.environ.get("STORAGE_EMULATOR_HOST")
    if host and "://" not in host:
        host = "http://" + host
    return host


def credentials_from_args(args: argparse.Namespace) -> StoreCredentials:
    """Flags/env first; a `--*-conn-id` replaces that cloud's credentials with the connection's."""
    creds = StoreCredentials(
        aws=AwsCredentials(
            endpoint_url=args.s3_endpoint_url, region_name=args.aws_region, profile_name=args.aws_profile
        ),
        gcp=GcpCredentials(
            endpoint_url=args.gcs_endpoint_url,
            project_id=args.gcp_project,
            key_path=args.gcp_key_path,
            anonymous=(args.gcs_endpoint_url or "").startswith("http://"),  # plain HTTP: an emulator
        ),
        azure=AzureCredentials(connection_string=args.azure_connection_string, account_url=args.azure_account_url),
    )
    if not (args.aws_conn_id or args.gcp_conn_id or args.azure_conn_id):
        return creds
    try:
        from airflow_provider_sky.hooks.connections import store_credentials_from_connections
    except ImportError as exc:
        raise SkyUserError(
            "--aws-conn-id/--gcp-conn-id/--azure-conn-id need Airflow connections, which cannot load here",
            "install Airflow alongside, or pass credentials with the --s3-/--gcs-/--azure- flags or env",
        ) from exc
    uris = [parse_uri(args.source), *(parse_uri(d) for d in args.destinations)]
    from_conns = store_credentials_from_connections(
        aws_conn_id=args.aws_conn_id,
        gcp_conn_id=args.gcp_conn_id,
        azure_conn_id=args.azure_conn_id,
        needed_schemes={u.scheme for u in uris},
    )
    return StoreCredentials(
        aws=from_conns.aws if args.aws_conn_id else creds.aws,
        gcp=from_conns.gcp if args.gcp_conn_id else creds.gcp,
        azure=from_conns.azure if args.azure_conn_id else creds.azure,
    )


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


def _run(args: argparse.Namespace) -> int:
    release_chunks_promptly()
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
    credentials = credentials_from_args(args)
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
