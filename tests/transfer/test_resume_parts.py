"""A copy killed with SIGKILL in the middle of one large object, then rerun: only the rest is sent.

The killed run is a real child process writing to the real store (file://, S3 on moto, GCS on
the GCS emulator, Azure on Azurite); it stalls on purpose once a known number of parts is
stored, and is killed there. The rerun counts the bytes each store's upload really receives.
"""

from __future__ import annotations

import os
import pickle
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_provider_sky.credentials import StoreCredentials
from airflow_provider_sky.stores._common import RESERVED_PREFIX
from airflow_provider_sky.stores.azure_blob import _AzureUpload
from airflow_provider_sky.stores.gcs import _GcsUpload
from airflow_provider_sky.stores.local import TEMP_PREFIX, LocalStore, LocalUpload
from airflow_provider_sky.stores.s3 import _S3Upload
from airflow_provider_sky.transfer import CopyRequest, run_copy
from tests.transfer.killed_runs import s3_client, sigkill_once_stalled, unfinished_uploads

MiB = 1024 * 1024

CHILD = textwrap.dedent(
    """
    import pickle, sys, time
    from airflow_provider_sky.stores.local import LocalStore
    from airflow_provider_sky.transfer import CopyRequest, run_copy
    from airflow_provider_sky.transfer.engine import default_open_store

    src, dst, marker, credentials_file, chunk, stall_after = sys.argv[1:7]
    chunk, stall_after = int(chunk), int(stall_after)
    with open(credentials_file, "rb") as f:
        credentials = pickle.load(f)

    class StallingSource(LocalStore):
        def read_range(self, bucket, key, offset, length):
            if offset >= stall_after * chunk:  # one worker: parts 1..stall_after are stored by now
                open(marker, "w").close()
                time.sleep(120)
            return super().read_range(bucket, key, offset, length)

    local = StallingSource()
    request = CopyRequest.build(src, dst, chunk_size=chunk, multipart_threshold=chunk, concurrency=1)
    run_copy(request, credentials, open_store=lambda u, c: local if u.scheme == "file" else default_open_store(u, c))
    """
)

# (chunk size, parts the killed run stores): S3 parts are at least 5 MiB.
SHAPES = {"file": (1 * MiB, 5), "s3": (5 * MiB, 3), "gs": (1 * MiB, 5), "azure": (1 * MiB, 5)}
SENDS = {
    "file": (LocalUpload, "upload_part_crc32c"),
    "s3": (_S3Upload, "upload_part"),
    "gs": (_GcsUpload, "upload_part"),
    "azure": (_AzureUpload, "upload_part"),
}


def _kill_mid_object(src: str, dst: str, credentials: StoreCredentials, chunk: int, stored: int, tmp: Path) -> None:
    marker, credentials_file = tmp / "stalled", tmp / "credentials.pickle"
    credentials_file.write_bytes(pickle.dumps(credentials))
    argv = [sys.executable, "-c", CHILD, src, dst, str(marker), str(credentials_file), str(chunk), str(stored)]
    sigkill_once_stalled(argv, marker)


def _count_sent_bytes(monkeypatch: pytest.MonkeyPatch, scheme: str) -> list[int]:
    """Every byte the store's multipart upload is handed from now on."""
    cls, name = SENDS[scheme]
    real = getattr(cls, name)
    sent: list[int] = []

    def counting(self, part_number, offset, data, digest):
        sent.append(len(data))
        return real(self, part_number, offset, data, digest)

    monkeypatch.setattr(cls, name, counting)
    return sent


def _leftovers(fresh, dst_dir: Path | None) -> list[str]:
    if fresh is None:  # file://
        assert dst_dir is not None
        return [p.name for p in dst_dir.iterdir() if p.name.startswith(TEMP_PREFIX)]
    if fresh.scheme == "s3":
        client = s3_client(fresh)
        markers = client.list_objects_v2(Bucket=fresh.bucket, Prefix=RESERVED_PREFIX).get("Contents", ())
        return unfinished_uploads(client, fresh.bucket) + [o["Key"] for o in markers]
    return [info.key for info in fresh.store.list(fresh.bucket, RESERVED_PREFIX)]


@pytest.mark.emulators
@pytest.mark.parametrize("scheme", ["file", "s3", "gs", "azure"])
def test_a_rerun_after_sigkill_mid_object_sends_only_the_parts_not_yet_stored(
    fresh_bucket, scheme, tmp_path, monkeypatch
):
    chunk, stored = SHAPES[scheme]
    size = 8 * chunk + 12345  # an uneven last part
    data = os.urandom(size)
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    (src_dir / "big.bin").write_bytes(data)
    if scheme == "file":
        fresh, dst_dir = None, tmp_path / "dst"
        dst, store, bucket, key = f"file://{dst_dir}/", LocalStore(), "", f"{str(dst_dir).lstrip('/')}/big.bin"
        credentials = StoreCredentials()
    else:
        fresh, dst_dir = fresh_bucket(scheme), None
        dst, store, bucket, key = fresh.url, fresh.store, fresh.bucket, "big.bin"
        credentials = fresh.emulator.credentials
    _kill_mid_object(f"file://{src_dir}/", dst, credentials, chunk, stored, tmp_path)
    assert store.stat(bucket, key) is None, "the killed run published nothing"

    sent = _count_sent_bytes(monkeypatch, scheme)
    request = CopyRequest.build(f"file://{src_dir}/", dst, chunk_size=chunk, multipart_threshold=chunk, concurrency=4)
    local = LocalStore()
    summary = run_copy(request, credentials, open_store=lambda uri, c: local if uri.scheme == "file" else store)

    result = summary.destinations[0]
    remainder = size - stored * chunk
    assert (result.parts_reused, result.bytes_reused) == (stored, stored * chunk)
    assert remainder <= sum(sent) <= remainder + chunk
    assert result.objects_copied == 1 and result.bytes_copied == size
    # Each cloud checks the whole object (S3's predicted ETag, GCS CRC32C, Azure Content-MD5).
    assert result.whole_object_verified == int(scheme != "file")
    assert store.read_range(bucket, key, 0, size + 1) == data
    assert store.stat(bucket, key).metadata.get("sky-size") == str(size)
    assert _leftovers(fresh, dst_dir) == []


def test_a_stored_part_whose_bytes_differ_from_the_source_is_sent_again(tmp_path, monkeypatch):
    chunk = 64 * 1024
    data = os.urandom(4 * chunk)
    src_dir, dst_dir = tmp_path / "src", tmp_path / "dst"
    src_dir.mkdir()
    (src_dir / "obj").write_bytes(data)
    store = LocalStore()
    key = f"{str(dst_dir).lstrip('/')}/obj"
    leftover = store.start_multipart("", key, {})  # an interrupted write: two parts, one damaged
    leftover.upload_part_crc32c(1, 0, data[:chunk], _crc(data[:chunk]))
    damaged = b"\x00" + data[chunk + 1 : 2 * chunk]
    leftover.upload_part_crc32c(2, chunk, damaged, _crc(damaged))

    sent = _count_sent_bytes(monkeypatch, "file")
    request = CopyRequest.build(f"file://{src_dir}/", f"file://{dst_dir}/", chunk_size=chunk, multipart_threshold=chunk)
    summary = run_copy(request, open_store=lambda uri, c: store)

    assert summary.destinations[0].parts_reused == 1
    assert sum(sent) == 3 * chunk
    assert (dst_dir / "obj").read_bytes() == data


def _crc(data: bytes) -> int:
    import google_crc32c

    return google_crc32c.value(data)
