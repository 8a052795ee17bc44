"""Every object store behaves the same through the ObjectStore interface, on the real emulators."""

from __future__ import annotations

import hashlib
import importlib.util
from concurrent.futures import ThreadPoolExecutor

import boto3
import google_crc32c
import pytest

from airflow_provider_sky.errors import IntegrityError, SkyUserError
from airflow_provider_sky.stores._common import RESERVED_PREFIX

pytestmark = pytest.mark.emulators

CLOUD = ["s3", "gs", "azure"]
# file:// joins once its store module exists; it has no pages and no native checksums.
ALL = CLOUD + (["file"] if importlib.util.find_spec("airflow_provider_sky.stores.local") else [])
TRICKY_KEYS = [
    "with space.txt",
    "ünïcødé/日本語.bin",
    "a+b",
    "100%25 done",
    "per%cent",
    "hash#tag",
    "question?mark=1&x",
    "/leading-slash",
    "trailing-slash/",
    "a//double//slash",
    "///",
    "mixed/ +%#?/end",
]


def md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


def put(fresh, name: str, data: bytes, metadata: dict[str, str] | None = None):
    return fresh.store.put(fresh.bucket, fresh.key(name), data, md5(data), metadata or {})


@pytest.mark.parametrize("scheme", CLOUD)
def test_listing_follows_every_page_in_key_order(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme, page_size=2)
    names = [f"dir/obj-{i:02d}" for i in range(7)]
    for name in reversed(names):
        put(fresh, name, name.encode())
    put(fresh, "elsewhere/x", b"x")

    listed = fresh.store.list(fresh.bucket, "dir/")

    assert [info.key for info in listed] == names


@pytest.mark.parametrize("scheme", CLOUD)
def test_listing_fetches_pages_as_it_goes_instead_of_all_at_once(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme, page_size=2)
    for name in ("k1", "k2", "k3", "k4"):
        put(fresh, name, b"x")

    listing = fresh.store.list(fresh.bucket, "")
    first = next(listing)
    put(fresh, "k9-written-after-the-first-page", b"x")  # only a lazy listing can still see it
    rest = [info.key for info in listing]

    assert [first.key, *rest] == ["k1", "k2", "k3", "k4", "k9-written-after-the-first-page"]


@pytest.mark.parametrize("scheme", ALL)
def test_listing_reports_sizes(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)
    put(fresh, "p/a", b"1")
    put(fresh, "p/b", b"22")

    sizes = {info.key: info.size for info in fresh.store.list(fresh.bucket, fresh.key("p/"))}

    assert sizes == {fresh.key("p/a"): 1, fresh.key("p/b"): 2}


@pytest.mark.parametrize("scheme", CLOUD)
def test_put_then_stat_reports_the_md5_of_the_bytes_and_the_metadata(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)
    data = b"hello sky" * 1000

    put(fresh, "obj", data, {"sky-crc32c": "0a1b2c3d", "Owner": "team-a"})
    info = fresh.store.stat(fresh.bucket, "obj")

    assert info.size == len(data)
    assert info.checksums["md5"] == hashlib.md5(data).hexdigest()
    assert info.metadata == {"sky-crc32c": "0a1b2c3d", "owner": "team-a"}
    assert info.etag
    if scheme == "gs":
        assert info.checksums["crc32c"] == f"{google_crc32c.value(data):08x}"


def test_s3_listing_never_claims_an_md5_it_cannot_know(fresh_bucket):
    fresh = fresh_bucket("s3")
    put(fresh, "obj", b"data")

    (listed,) = fresh.store.list(fresh.bucket, "")

    assert "md5" not in listed.checksums  # a KMS-encrypted object's ETag looks like one but is not
    assert fresh.store.stat(fresh.bucket, "obj").checksums["md5"] == hashlib.md5(b"data").hexdigest()


def test_s3_stat_of_a_kms_encrypted_object_reports_no_md5(fresh_bucket):
    fresh = fresh_bucket("s3")
    aws = fresh.emulator.credentials.aws
    client = boto3.client(
        "s3",
        endpoint_url=aws.endpoint_url,
        region_name=aws.region_name,
        aws_access_key_id=aws.access_key_id,
        aws_secret_access_key=aws.secret_access_key,
    )
    client.put_object(Bucket=fresh.bucket, Key="sealed", Body=b"abc", ServerSideEncryption="aws:kms")

    info = fresh.store.stat(fresh.bucket, "sealed")

    assert "md5" not in info.checksums and info.etag  # moto's ETag looks like an MD5; real KMS ETags are not


@pytest.mark.parametrize("scheme", ALL)
def test_stat_of_a_missing_object_is_none(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)

    assert fresh.store.stat(fresh.bucket, fresh.key("nothing-here")) is None


@pytest.mark.parametrize("scheme", ALL)
def test_read_range_returns_exactly_the_requested_bytes(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)
    data = bytes(range(256)) * 4
    put(fresh, "r", data)
    read = fresh.store.read_range

    assert read(fresh.bucket, fresh.key("r"), 10, 100) == data[10:110]
    assert read(fresh.bucket, fresh.key("r"), 1000, 100) == data[1000:]
    assert read(fresh.bucket, fresh.key("r"), 5000, 10) == b""
    assert read(fresh.bucket, fresh.key("r"), 0, 0) == b""


@pytest.mark.parametrize("scheme", CLOUD)
def test_put_with_a_wrong_md5_raises_and_keeps_nothing(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)

    with pytest.raises(IntegrityError):
        fresh.store.put(fresh.bucket, "bad", b"actual bytes", md5(b"other bytes"), {})

    assert fresh.store.stat(fresh.bucket, "bad") is None


@pytest.mark.parametrize("scheme", ALL)
def test_multipart_parts_uploaded_out_of_order_from_threads_assemble_in_order(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)
    parts = [bytes([65 + n]) * (1000 + n) for n in range(40)]  # > 32: GCS composes in two rounds
    offsets = [sum(len(p) for p in parts[:n]) for n in range(len(parts))]
    upload = fresh.store.start_multipart(fresh.bucket, fresh.key("big"), {"sky-size": "x"})

    def send(n: int) -> None:
        upload.upload_part(n + 1, offsets[n], parts[n], md5(parts[n]))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, reversed(range(len(parts)))))
    info = upload.complete()

    whole = b"".join(parts)
    assert info.size == len(whole)
    assert fresh.store.read_range(fresh.bucket, fresh.key("big"), 0, len(whole) + 10) == whole
    assert fresh.store.stat(fresh.bucket, fresh.key("big")).metadata.get("sky-size") == "x"
    assert [i.key for i in fresh.store.list(fresh.bucket, fresh.key(""))] == [fresh.key("big")]
    assert fresh.store.abort_stale_uploads(fresh.bucket, fresh.key("")) == 0


@pytest.mark.parametrize("scheme", CLOUD)
def test_multipart_part_with_a_wrong_md5_is_refused(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)
    upload = fresh.store.start_multipart(fresh.bucket, "obj", {})

    with pytest.raises(IntegrityError):
        upload.upload_part(1, 0, b"actual", md5(b"other"))
    upload.abort()


@pytest.mark.parametrize("scheme", ALL)
def test_abort_leaves_nothing_listable_and_no_hidden_parts(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)
    upload = fresh.store.start_multipart(fresh.bucket, fresh.key("gone"), {})
    for n in (1, 2):
        upload.upload_part(n, (n - 1) * 3, b"abc", md5(b"abc"))

    upload.abort()
    upload.abort()  # a second abort is harmless

    assert list(fresh.store.list(fresh.bucket, fresh.key(""))) == []
    assert fresh.store.stat(fresh.bucket, fresh.key("gone")) is None
    if fresh.scheme != "file":
        assert list(fresh.store.list(fresh.bucket, RESERVED_PREFIX)) == []
    assert fresh.store.abort_stale_uploads(fresh.bucket, fresh.key("")) == 0


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_abort_stale_uploads_clears_what_a_killed_run_left_under_the_prefix(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)
    for key in ("run/a", "run/b", "other/c"):
        upload = fresh.store.start_multipart(fresh.bucket, key, {})
        upload.upload_part(1, 0, b"abc", md5(b"abc"))  # then the run "dies": no complete, no abort

    assert fresh.store.abort_stale_uploads(fresh.bucket, "run/") == 2
    assert fresh.store.abort_stale_uploads(fresh.bucket, "") == 1
    assert fresh.store.abort_stale_uploads(fresh.bucket, "") == 0
    assert list(fresh.store.list(fresh.bucket, RESERVED_PREFIX)) == []


def test_azure_abort_stale_uploads_has_nothing_visible_to_clean(fresh_bucket):
    fresh = fresh_bucket("azure")
    upload = fresh.store.start_multipart(fresh.bucket, "run/a", {})
    upload.upload_part(1, 0, b"abc", md5(b"abc"))

    assert fresh.store.abort_stale_uploads(fresh.bucket, "run/") == 0
    assert list(fresh.store.list(fresh.bucket, "")) == []


@pytest.mark.parametrize("scheme", CLOUD)
def test_tricky_keys_round_trip_exactly(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)
    for key in TRICKY_KEYS:
        put(fresh, key, key.encode() * 3)

    listed = [info.key for info in fresh.store.list(fresh.bucket, "")]

    assert listed == sorted(TRICKY_KEYS, key=lambda k: k.encode())
    wrong = [k for k in TRICKY_KEYS if fresh.store.read_range(fresh.bucket, k, 0, 1000) != k.encode() * 3]
    assert wrong == []
    for key in TRICKY_KEYS:
        fresh.store.delete(fresh.bucket, key)
    assert list(fresh.store.list(fresh.bucket, "")) == []


@pytest.mark.parametrize("scheme", CLOUD)
def test_tricky_key_round_trips_through_multipart(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)
    key = "/ünï code//+%#?/"
    upload = fresh.store.start_multipart(fresh.bucket, key, {})
    upload.upload_part(2, 3, b"def", md5(b"def"))
    upload.upload_part(1, 0, b"abc", md5(b"abc"))

    assert upload.complete().key == key
    assert fresh.store.read_range(fresh.bucket, key, 0, 6) == b"abcdef"


def test_azure_refuses_dot_segments_instead_of_renaming_them(fresh_bucket):
    fresh = fresh_bucket("azure")

    with pytest.raises(SkyUserError, match=r"'\.' or '\.\.' path segment"):
        put(fresh, "a/../b", b"x")


@pytest.mark.parametrize("scheme", ALL)
def test_delete_of_a_missing_object_is_not_an_error(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)

    fresh.store.delete(fresh.bucket, fresh.key("never-written"))

    assert fresh.store.stat(fresh.bucket, fresh.key("never-written")) is None
