"""Shared by the tests of interrupted copies: kill a child copy at a known point, look at S3 uploads."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import boto3


def sigkill_once_stalled(argv: list[str], marker: Path, timeout: float = 60) -> None:
    """Run `argv`, wait until it creates `marker` (its stall point), then SIGKILL it."""
    child = subprocess.Popen(argv)
    try:
        deadline = time.monotonic() + timeout
        while not marker.exists():
            assert child.poll() is None, "the copy ended before reaching the stall point"
            assert time.monotonic() < deadline, "the copy never reached the stall point"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()


def s3_client(fresh):
    """A plain boto3 client on the emulator of `fresh` (a FreshBucket): another writer's view."""
    aws = fresh.emulator.credentials.aws
    return boto3.client(
        "s3",
        endpoint_url=aws.endpoint_url,
        region_name=aws.region_name,
        aws_access_key_id=aws.access_key_id,
        aws_secret_access_key=aws.secret_access_key,
    )


def unfinished_uploads(client, bucket: str) -> list[str]:
    """Keys of every unfinished multipart upload in `bucket`, whoever started it."""
    return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", ())]
