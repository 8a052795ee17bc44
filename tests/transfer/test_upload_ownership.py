"""Unfinished uploads: a copy cleans only its own, and leaves other writers' uploads alone.

Also the integrity field users check on Azure: a multi-block blob carries the whole blob's MD5.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid

import pytest
from azure.storage.blob import BlobServiceClient

from airflow_provider_sky.devtools.emulators import azurite_connection_string
from airflow_provider_sky.stores._common import RESERVED_PREFIX
from airflow_provider_sky.stores.local import LocalStore
from airflow_provider_sky.transfer import CopyRequest, run_copy
from tests.transfer.killed_runs import s3_client, unfinished_uploads

pytestmark = pytest.mark.emulators
MiB = 1024 * 1024


def _copy(src_dir, dst: str, fresh, **options):
    local = LocalStore()
    request = CopyRequest.build(f"file://{src_dir}/", dst, **options)
    return run_copy(request, open_store=lambda uri, c: local if uri.scheme == "file" else fresh.store)


@pytest.mark.parametrize("destination", ["prefix/", ""])
def test_cp_aborts_only_our_own_unfinished_s3_uploads(fresh_bucket, tmp_path, destination):
    fresh = fresh_bucket("s3")
    client = s3_client(fresh)
    # Another tool's uploads, one under the destination prefix and one into the bucket root.
    client.create_multipart_upload(Bucket=fresh.bucket, Key=f"{destination}theirs.bin")
    client.create_multipart_upload(Bucket=fresh.bucket, Key="root-upload.bin")
    # Ours, left by a killed run, for a key this copy no longer writes.
    killed = fresh.store.start_multipart(fresh.bucket, f"{destination}gone.bin", {})
    killed.upload_part(1, 0, b"abc", hashlib.md5(b"abc").digest())
    (tmp_path / "a.txt").write_bytes(b"hello")

    summary = _copy(tmp_path, f"s3://{fresh.bucket}/{destination}", fresh)

    assert summary.destinations[0].stale_uploads_aborted == 1
    assert set(unfinished_uploads(client, fresh.bucket)) == {f"{destination}theirs.bin", "root-upload.bin"}
    assert client.list_objects_v2(Bucket=fresh.bucket, Prefix=RESERVED_PREFIX).get("KeyCount") == 0
    listed = [info.key for info in fresh.store.list(fresh.bucket, "")]
    assert listed == [f"{destination}a.txt"], "markers of our uploads are never listed (nor copied by sync)"


def test_another_writers_upload_to_the_same_key_is_neither_resumed_nor_aborted(fresh_bucket, tmp_path):
    fresh = fresh_bucket("s3")
    client = s3_client(fresh)
    data = os.urandom(11 * MiB)
    (tmp_path / "big.bin").write_bytes(data)
    theirs = client.create_multipart_upload(Bucket=fresh.bucket, Key="big.bin")["UploadId"]
    client.upload_part(Bucket=fresh.bucket, Key="big.bin", UploadId=theirs, PartNumber=1, Body=data[: 5 * MiB])

    summary = _copy(tmp_path, f"s3://{fresh.bucket}/", fresh, chunk_size=5 * MiB, multipart_threshold=5 * MiB)

    assert summary.destinations[0].parts_reused == 0
    assert [u["UploadId"] for u in client.list_multipart_uploads(Bucket=fresh.bucket)["Uploads"]] == [theirs]
    assert fresh.store.read_range(fresh.bucket, "big.bin", 0, len(data) + 1) == data


def test_our_leftover_upload_made_for_another_source_version_is_not_resumed(fresh_bucket, tmp_path):
    fresh = fresh_bucket("s3")
    data = os.urandom(11 * MiB)
    (tmp_path / "big.bin").write_bytes(data)
    # A killed run of an older version of the source: same first part, other stamps.
    old = fresh.store.start_multipart(fresh.bucket, "big.bin", {"sky-source-etag": "old-version"})
    old.upload_part(1, 0, data[: 5 * MiB], hashlib.md5(data[: 5 * MiB]).digest())

    summary = _copy(tmp_path, f"s3://{fresh.bucket}/", fresh, chunk_size=5 * MiB, multipart_threshold=5 * MiB)

    assert summary.destinations[0].parts_reused == 0
    assert set(unfinished_uploads(s3_client(fresh), fresh.bucket)) == set()
    info = fresh.store.stat(fresh.bucket, "big.bin")
    assert info.metadata["sky-source-etag"] != "old-version"
    assert fresh.store.read_range(fresh.bucket, "big.bin", 0, len(data) + 1) == data


def test_a_multi_block_azure_blob_carries_the_content_md5_of_its_bytes(fresh_bucket, tmp_path):
    fresh = fresh_bucket("azure")
    data = os.urandom(3 * MiB + 777)
    (tmp_path / "big.bin").write_bytes(data)

    summary = _copy(tmp_path, fresh.url, fresh, chunk_size=1 * MiB, multipart_threshold=1 * MiB)

    assert summary.destinations[0].multipart_objects == 1
    with BlobServiceClient.from_connection_string(azurite_connection_string(fresh.emulator.endpoint)) as service:
        blob = service.get_blob_client(fresh.bucket, "big.bin")
        assert len(blob.get_block_list("committed")[0]) == 4
        assert bytes(blob.get_blob_properties().content_settings.content_md5) == hashlib.md5(data).digest()


def test_another_writers_uncommitted_azure_blocks_are_neither_reused_nor_in_the_way(fresh_bucket, tmp_path):
    fresh = fresh_bucket("azure")
    data = os.urandom(2 * MiB + 5)
    (tmp_path / "big.bin").write_bytes(data)
    with BlobServiceClient.from_connection_string(azurite_connection_string(fresh.emulator.endpoint)) as service:
        blob = service.get_blob_client(fresh.bucket, "big.bin")
        # Ids of another length than ours: Azure refuses a block of a new length next to them.
        for n in range(2):
            blob.stage_block(base64.b64encode(f"{uuid.uuid4().hex}-{n:06d}".encode()).decode(), data[:MiB])

        summary = _copy(tmp_path, fresh.url, fresh, chunk_size=1 * MiB, multipart_threshold=1 * MiB)

        assert summary.destinations[0].parts_reused == 0
        assert fresh.store.read_range(fresh.bucket, "big.bin", 0, len(data) + 1) == data
        committed, uncommitted = blob.get_block_list("all")
        assert len(committed) == 3 and uncommitted == []
