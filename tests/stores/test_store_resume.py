"""Resuming multipart writes through the ObjectStore interface, on the real emulators."""

from __future__ import annotations

import hashlib

import google_crc32c
import pytest

from airflow_provider_sky.stores._common import RESERVED_PREFIX

pytestmark = pytest.mark.emulators


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


@pytest.mark.parametrize("scheme", ["s3", "gs", "azure", "file"])
def test_a_resumed_upload_keeps_only_parts_with_the_same_length_and_digest(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)
    size = 5 * 1024 * 1024 if scheme == "s3" else 1024  # S3 parts but the last are >= 5 MiB
    one, two = b"a" * size, b"b" * size
    key = fresh.key("obj")
    killed = fresh.store.start_multipart(fresh.bucket, key, {"sky-size": "2"})
    killed.upload_part(1, 0, one, _md5(one))
    killed.upload_part(2, size, two, _md5(two))

    upload = fresh.store.resume_multipart(fresh.bucket, key, {"sky-size": "2"})
    other = b"c" * size

    assert upload.reuse_part(1, 0, size, _md5(one), google_crc32c.value(one))
    assert not upload.reuse_part(2, size, size, _md5(other), google_crc32c.value(other))
    assert not upload.reuse_part(3, 2 * size, size, _md5(two), google_crc32c.value(two))
    upload.upload_part(2, size, other, _md5(other))
    upload.complete()
    assert fresh.store.read_range(fresh.bucket, key, 0, 3 * size) == one + other
    assert fresh.store.abort_stale_uploads(fresh.bucket, fresh.key("")) == 0


def test_an_s3_key_too_long_for_a_marker_still_copies_but_is_never_resumed(fresh_bucket):
    fresh = fresh_bucket("s3")
    key = "k" * 1000
    killed = fresh.store.start_multipart(fresh.bucket, key, {})
    killed.upload_part(1, 0, b"abc", _md5(b"abc"))

    upload = fresh.store.resume_multipart(fresh.bucket, key, {})

    assert not upload.reuse_part(1, 0, 3, _md5(b"abc"), google_crc32c.value(b"abc"))
    upload.upload_part(1, 0, b"xyz", _md5(b"xyz"))
    upload.complete()
    assert fresh.store.read_range(fresh.bucket, key, 0, 10) == b"xyz"
    assert list(fresh.store.list(fresh.bucket, RESERVED_PREFIX)) == []
    killed.abort()
