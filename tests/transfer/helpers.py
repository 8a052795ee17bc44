"""Helpers for engine tests: file trees, and a store wrapper that watches (or breaks) traffic.

The wrapper wraps a real store; it only observes reads and writes, or, when a test asks,
corrupts or fails one of them, so each failure path of the engine can be driven on purpose.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from airflow_provider_sky.stores.base import MultipartUpload, ObjectInfo, ObjectStore
from airflow_provider_sky.stores.local import TEMP_PREFIX
from airflow_provider_sky.transfer import CopyRequest, CopySummary, run_copy

KiB = 1024


def flip_first_byte(data: bytes) -> bytes:
    return bytes([data[0] ^ 0xFF]) + data[1:] if data else b"\x00"


class WatchedStore(ObjectStore):
    """Delegates to `inner`; counts bytes between a read and the write that consumes them."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.scheme = inner.scheme  # type: ignore[misc]
        self.reads: list[tuple[str, int, int]] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        self.on_read: Callable[[str, int, bytes], bytes] | None = None  # may alter or raise
        self.on_write: Callable[[str, int, bytes], bytes] | None = None

    def __getattr__(self, name: str):  # check_writable and other extras of the inner store
        return getattr(self.inner, name)

    def _took(self, n: int) -> None:
        with self._lock:
            self.in_flight += n
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _gave(self, n: int) -> None:
        with self._lock:
            self.in_flight -= n

    def check_bucket(self, bucket: str, *, write: bool) -> None:
        self.inner.check_bucket(bucket, write=write)

    def list(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        return self.inner.list(bucket, prefix)

    def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        return self.inner.stat(bucket, key)

    def read_range(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        data = self.inner.read_range(bucket, key, offset, length)
        with self._lock:
            self.reads.append((key, offset, length))
        if self.on_read is not None:
            data = self.on_read(key, offset, data)
        self._took(len(data))
        return data

    def put(self, bucket: str, key: str, data: bytes, md5: bytes, metadata: Mapping[str, str]) -> ObjectInfo:
        try:
            if self.on_write is not None:
                data = self.on_write(key, 1, data)
            return self.inner.put(bucket, key, data, md5, metadata)
        finally:
            self._gave(len(data))

    def start_multipart(self, bucket: str, key: str, metadata: Mapping[str, str]) -> MultipartUpload:
        return _WatchedUpload(self, key, self.inner.start_multipart(bucket, key, metadata))

    def delete(self, bucket: str, key: str) -> None:
        self.inner.delete(bucket, key)

    def abort_stale_uploads(self, bucket: str, prefix: str) -> int:
        return self.inner.abort_stale_uploads(bucket, prefix)

    @property
    def read_keys(self) -> set[str]:
        return {key for key, _, _ in self.reads}


class _WatchedUpload(MultipartUpload):
    def __init__(self, store: WatchedStore, key: str, inner: MultipartUpload) -> None:
        self.store, self.key, self.inner = store, key, inner
        self.upload_id = inner.upload_id

    def upload_part(self, part_number: int, offset: int, data: bytes, md5: bytes) -> None:
        try:
            if self.store.on_write is not None:
                data = self.store.on_write(self.key, part_number, data)
            self.inner.upload_part(part_number, offset, data, md5)
        finally:
            self.store._gave(len(data))

    def complete(self) -> ObjectInfo:
        return self.inner.complete()

    def abort(self) -> None:
        self.inner.abort()


class _WatchedCrcWrites:
    """The CRC32C-verified write path of stores that offer it (LocalStore), watched the same way."""

    CRC32C_WRITES = True

    def put_crc32c(self, bucket, key, data, crc32c, metadata):
        try:
            if self.on_write is not None:
                data = self.on_write(key, 1, data)
            return self.inner.put_crc32c(bucket, key, data, crc32c, metadata)
        finally:
            self._gave(len(data))


def _upload_part_crc32c(self, part_number, offset, data, crc32c):
    try:
        if self.store.on_write is not None:
            data = self.store.on_write(self.key, part_number, data)
        self.inner.upload_part_crc32c(part_number, offset, data, crc32c)
    finally:
        self.store._gave(len(data))


_WatchedUpload.upload_part_crc32c = _upload_part_crc32c


def _watched_type(inner: ObjectStore) -> type[WatchedStore]:
    # part_limits is read from the store's type: give each wrapper its inner store's limits.
    bases = (_WatchedCrcWrites, WatchedStore) if getattr(inner, "CRC32C_WRITES", False) else (WatchedStore,)
    return type("Watched" + type(inner).__name__, bases, {"part_limits": type(inner).part_limits})


def watch(inner: ObjectStore) -> WatchedStore:
    return _watched_type(inner)(inner)


def uri(path: Path, slash: bool = True) -> str:
    return "file://" + str(path) + ("/" if slash else "")


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` by relative path; fails if an unfinished-write temp file is left."""
    found = {}
    if not root.exists():
        return found
    for dirpath, _, files in os.walk(root):
        for name in files:
            assert not name.startswith(TEMP_PREFIX), f"temp file left behind: {dirpath}/{name}"
            full = Path(dirpath) / name
            found[str(full.relative_to(root))] = full.read_bytes()
    return found


def copy(store: ObjectStore, source: str, destination: str, **kwargs) -> CopySummary:
    """Run the engine with every URI served by `store`."""
    kwargs.setdefault("chunk_size", 64 * KiB)
    kwargs.setdefault("multipart_threshold", 64 * KiB)
    kwargs.setdefault("concurrency", 4)
    kwargs.setdefault("retry_backoff", 0.01)
    cancel = kwargs.pop("cancel", None)
    progress = kwargs.pop("progress", None)
    request = CopyRequest.build(source, destination, **kwargs)
    return run_copy(request, progress=progress, cancel=cancel, open_store=lambda u, c: store)
