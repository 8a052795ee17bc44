"""Every ordered (source, destination) pair of file, s3, gs, azure: cp, then sync, byte for byte.

Objects stay small (moto reads a whole object for every ranged GET); a 1 MiB chunk size still
drives multipart on every destination (S3 raises it to its 5 MiB minimum part size).
"""

from __future__ import annotations

import os

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.transfer import CopyRequest, run_copy

MiB = 1024 * 1024
SCHEMES = ("file", "s3", "gs", "azure")
PAIRS = [(s, d) for s in SCHEMES for d in SCHEMES]
OBJECTS = {
    "empty": b"",
    "one": b"1",
    "small.txt": b"hello, sky\n" * 100,
    "nested/deep/big.bin": os.urandom(5 * MiB + 1024),
    "sp ace/ünï+%25#q?=.txt": b"awkward key",
}


def _populate(bucket, objects):
    from airflow_provider_sky.transfer.checksum import digest

    for name, data in objects.items():
        bucket.store.put(bucket.bucket, bucket.key(name), data, digest(data).md5, {})


def _contents(bucket):
    out = {}
    for info in bucket.store.list(bucket.bucket, bucket.key_prefix):
        name = info.key[len(bucket.key_prefix):]
        out[name] = bucket.store.read_range(bucket.bucket, info.key, 0, info.size) if info.size else b""
    return out


def _run(src, dst, source_url, dest_url, **kwargs):
    stores = {src.scheme: src.store, dst.scheme: dst.store}
    request = CopyRequest.build(source_url, dest_url, chunk_size=MiB, multipart_threshold=MiB, concurrency=4,
                                **kwargs)
    return run_copy(request, open_store=lambda uri, creds: stores[uri.scheme])


def _url(bucket, name=""):
    return bucket.url + name


@pytest.mark.emulators
@pytest.mark.parametrize(("source", "destination"), PAIRS, ids=[f"{s}-to-{d}" for s, d in PAIRS])
def test_cp_then_sync_between_every_pair_of_stores(fresh_bucket, source, destination):
    src, dst = fresh_bucket(source), fresh_bucket(destination)
    _populate(src, OBJECTS)

    copied = _run(src, dst, _url(src), _url(dst, "copy/"))

    assert _contents(dst) == {f"copy/{k}": v for k, v in OBJECTS.items()}
    assert copied.objects == len(OBJECTS) and copied.checksums_verified == len(OBJECTS)
    assert copied.destinations[0].multipart_objects == 1
    # Whole-object checks: a cloud destination reports the MD5 of single-request writes, GCS
    # also a composed CRC32C for multipart ones, S3 a multipart ETag our part MD5s predict;
    # a GCS source reports CRC32C for everything.
    if destination in ("gs", "s3") or source == "gs":
        assert copied.destinations[0].whole_object_verified == len(OBJECTS)
    elif destination != "file":
        assert copied.destinations[0].whole_object_verified >= len(OBJECTS) - 1

    unchanged = _run(src, dst, _url(src), _url(dst, "copy/"), mode="sync")
    assert unchanged.objects == 0 and unchanged.skipped == len(OBJECTS)

    rerun = _run(src, dst, _url(src), _url(dst, "copy/"))
    assert rerun.objects == 0 and rerun.skipped == len(OBJECTS), "cp rerun must trust its own stamps"

    _populate(src, {"small.txt": b"changed!"})
    changed = _run(src, dst, _url(src), _url(dst, "copy/"), mode="sync")
    assert changed.objects == 1
    assert _contents(dst)["copy/small.txt"] == b"changed!"


@pytest.mark.emulators
def test_object_store_keys_with_odd_slashes_survive_between_object_stores(fresh_bucket):
    src, dst = fresh_bucket("s3"), fresh_bucket("gs")
    odd = {"a//b": b"1", "/lead": b"2", "trail/": b"", "x///y/": b"3"}
    _populate(src, odd)

    _run(src, dst, _url(src), _url(dst))

    assert _contents(dst) == odd


@pytest.mark.emulators
def test_keys_that_cannot_be_paths_are_refused_before_copying_to_file(fresh_bucket):
    src, dst = fresh_bucket("s3"), fresh_bucket("file")
    _populate(src, {"a//b": b"1", "/lead": b"2", "fine": b"3", "folder/": b""})

    with pytest.raises(SkyUserError, match="2 source key") as info:
        _run(src, dst, _url(src), _url(dst))

    assert "'a//b'" in str(info.value) and "'/lead'" in str(info.value)
    assert _contents(dst) == {}


@pytest.mark.emulators
def test_a_source_that_is_an_object_and_a_prefix_copies_the_object_unless_slashed(fresh_bucket):
    src, dst = fresh_bucket("s3"), fresh_bucket("s3")
    _populate(src, {"data": b"the object", "data/inner": b"under the prefix"})

    _run(src, dst, _url(src, "data"), _url(dst, "one/"))
    _run(src, dst, _url(src, "data/"), _url(dst, "all/"))

    assert _contents(dst) == {"one/data": b"the object", "all/inner": b"under the prefix"}


@pytest.mark.emulators
def test_one_source_to_every_cloud_reads_each_chunk_once(fresh_bucket):
    from tests.transfer.helpers import watch

    src = fresh_bucket("file")
    clouds = [fresh_bucket(scheme) for scheme in ("s3", "gs", "azure")]
    _populate(src, OBJECTS)
    watched = watch(src.store)
    stores = {"file": watched, **{b.scheme: b.store for b in clouds}}
    request = CopyRequest.build(_url(src), [_url(b, "fan/") for b in clouds], chunk_size=MiB,
                                multipart_threshold=MiB, concurrency=4)

    summary = run_copy(request, open_store=lambda uri, creds: stores[uri.scheme])

    # S3's 5 MiB minimum part sets the common chunking: the big object is read in 2 ranges.
    assert len(watched.reads) == 1 + sum(1 for data in OBJECTS.values() if data)
    for bucket in clouds:
        assert _contents(bucket) == {f"fan/{k}": v for k, v in OBJECTS.items()}
    assert [d.objects_copied for d in summary.destinations] == [len(OBJECTS)] * 3
