"""sync onto S3 decides from the listing: no HEAD per unchanged object, changed bytes still copied.

S3's listing has no user metadata (our stamps), but a single-request object's ETag is its MD5,
which a GCS source lists too. Requests are counted with botocore's own event hooks on the
destination store's client, against moto.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from airflow_provider_sky.transfer import CopyRequest, run_copy
from airflow_provider_sky.transfer.checksum import digest

MiB = 1024 * 1024
COUNT = 40
SIZE = 2048


def _put(bucket, name: str, data: bytes) -> None:
    bucket.store.put(bucket.bucket, bucket.key(name), data, digest(data).md5, {})


def _sync(src, dst):
    stores = {src.scheme: src.store, dst.scheme: dst.store}
    request = CopyRequest.build(src.url, dst.url, mode="sync", chunk_size=MiB, multipart_threshold=MiB, concurrency=4)
    return run_copy(request, open_store=lambda uri, creds: stores[uri.scheme])


def _count_s3_requests(bucket) -> Counter:
    """Operation name -> requests sent by this store's client from now on."""
    sent: Counter = Counter()

    def count(model, **_kwargs) -> None:
        sent[model.name] += 1

    bucket.store._client.meta.events.register("before-call.s3", count)
    return sent


def _read(bucket, name: str) -> bytes:
    info = bucket.store.stat(bucket.bucket, bucket.key(name))
    assert info is not None
    return bucket.store.read_range(bucket.bucket, info.key, 0, info.size)


@pytest.fixture
def synced(fresh_bucket):
    """A GCS source of COUNT small objects, already synced once onto a fresh S3 bucket."""
    src, dst = fresh_bucket("gs"), fresh_bucket("s3")
    for i in range(COUNT):
        _put(src, f"obj-{i:03d}", os.urandom(SIZE))
    first = _sync(src, dst)
    assert first.objects == COUNT
    return src, dst


@pytest.mark.emulators
def test_sync_of_unchanged_objects_onto_s3_sends_no_head(synced):
    src, dst = synced
    sent = _count_s3_requests(dst)

    summary = _sync(src, dst)

    assert summary.objects == 0 and summary.skipped == COUNT
    assert sent["HeadObject"] == 0
    assert sent["ListObjectsV2"] >= 1


@pytest.mark.emulators
def test_sync_onto_s3_copies_same_size_source_edit(synced):
    src, dst = synced
    edited = os.urandom(SIZE)  # same size, same key: only the bytes (and so the MD5) differ
    _put(src, "obj-007", edited)
    sent = _count_s3_requests(dst)

    summary = _sync(src, dst)

    assert summary.objects == 1 and summary.skipped == COUNT - 1
    assert _read(dst, "obj-007") == edited
    assert sent["HeadObject"] <= 2  # the one undecided object, and its write's check


@pytest.mark.emulators
def test_sync_onto_s3_restores_same_size_destination_edit(synced):
    src, dst = synced
    original = _read(dst, "obj-011")
    _put(dst, "obj-011", os.urandom(SIZE))  # another writer: same size, no stamps, newer mtime

    summary = _sync(src, dst)

    assert summary.objects == 1 and summary.skipped == COUNT - 1
    assert _read(dst, "obj-011") == original


@pytest.mark.emulators
def test_sync_onto_s3_still_stats_objects_the_listing_cannot_decide(fresh_bucket):
    # A multipart object's ETag ("<md5 of part md5s>-N") is not the source's MD5: a HEAD reads the stamps.
    src, dst = fresh_bucket("gs"), fresh_bucket("s3")
    _put(src, "big.bin", os.urandom(5 * MiB + 1024))
    _put(src, "small", b"tiny")
    _sync(src, dst)
    sent = _count_s3_requests(dst)

    summary = _sync(src, dst)

    assert summary.objects == 0 and summary.skipped == 2
    assert sent["HeadObject"] == 1
