"""Reader and writer stages, and the byte budget that bounds memory between them.

A stage is a small class over one store and bucket, so a gateway can run a Reader on one
machine and a Writer on another and ship (chunk, digest) pairs between them.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_sky.errors import IntegrityError
from airflow_provider_sky.stores.base import MultipartUpload, ObjectInfo, ObjectStore
from airflow_provider_sky.transfer.checksum import ChunkDigest, crc32c_hex, digest
from airflow_provider_sky.transfer.diff import source_crc32c
from airflow_provider_sky.transfer.jobs import ChunkJob, ObjectJob, stamps


class Stopped(Exception):
    """Internal: the run is stopping (failure elsewhere or cancellation); drop this work."""


class ByteBudget:
    """A semaphore counted in bytes: at most `limit` bytes of chunk data are held at once.

    A request above the limit (a part forced larger by store rules) waits for an empty budget
    and then runs alone, so progress is always possible.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._cond = threading.Condition()

    def acquire(self, n: int, stopping: Callable[[], bool]) -> None:
        with self._cond:
            while self.used and self.used + n > self.limit:
                if stopping():
                    raise Stopped
                self._cond.wait(0.1)
            self.used += n
            self.peak = max(self.peak, self.used)

    def release(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


@dataclass(frozen=True)
class Chunk:
    """Bytes read from the source and their checksums, computed right after the read."""

    job: ChunkJob
    data: bytes
    digest: ChunkDigest


def verifies_by_crc32c(store: ObjectStore) -> bool:
    """True for stores that check writes against our CRC32C (no MD5 needed): see LocalStore."""
    return bool(getattr(store, "CRC32C_WRITES", False))


class Reader:
    """Reads chunks from one source bucket; MD5s only when the writer's store needs them."""

    def __init__(self, store: ObjectStore, bucket: str, *, md5: bool = True) -> None:
        self.store, self.bucket, self.md5 = store, bucket, md5

    def read(self, key: str, job: ChunkJob) -> Chunk:
        data = self.store.read_range(self.bucket, key, job.offset, job.length) if job.length else b""
        if len(data) != job.length:
            raise IntegrityError(
                f"Read {len(data)} bytes instead of {job.length} at offset {job.offset} of {key!r}: "
                "the source object changed while being copied"
            )
        return Chunk(job, data, digest(data, md5=self.md5))


def _mismatch(kind: str, where: str, key: str, expected: str, got: str) -> IntegrityError:
    return IntegrityError(f"{kind} of {key!r} {where}: expected {expected}, got {got}; the copy was discarded")


def check_against_source(job: ObjectJob, crc: int, md5_whole: bytes | None) -> bool:
    """Compare what we read with the checksum the source reports; True when one was compared."""
    checked = False
    expected_crc = source_crc32c(job.source)
    if expected_crc:
        if expected_crc != crc32c_hex(crc):
            raise _mismatch("CRC32C", "read from the source", job.source.key, expected_crc, crc32c_hex(crc))
        checked = True
    expected_md5 = job.source.checksums.get("md5")
    if md5_whole is not None and expected_md5:
        if expected_md5.lower() != md5_whole.hex():
            raise _mismatch("MD5", "read from the source", job.source.key, expected_md5, md5_whole.hex())
        checked = True
    return checked


def multipart_etag(part_md5s: list[bytes]) -> str:
    """The ETag S3 (and compatible stores) give an unencrypted multipart object."""
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


def check_written(
    info: ObjectInfo, job: ObjectJob, crc: int, md5_whole: bytes | None, part_md5s: list[bytes] | None = None
) -> bool:
    """Compare the destination's own report of the written object with what we read.

    A multipart ETag counts only when it matches the one our part MD5s predict: encrypted
    (SSE-KMS) objects have ETags that are not MD5-based, so a difference proves nothing.
    """
    checked = False
    etag = (info.etag or "").strip('"').lower()
    if part_md5s and "-" in etag and etag == multipart_etag(part_md5s):
        checked = True
    if info.size != job.source.size:
        raise _mismatch("Size", "at the destination", job.dst_key, str(job.source.size), str(info.size))
    dst_crc = info.checksums.get("crc32c")
    if dst_crc:
        if dst_crc.lower() != crc32c_hex(crc):
            raise _mismatch("CRC32C", "at the destination", job.dst_key, crc32c_hex(crc), dst_crc)
        checked = True
    dst_md5 = info.checksums.get("md5")
    if md5_whole is not None and dst_md5:
        if dst_md5.lower() != md5_whole.hex():
            raise _mismatch("MD5", "at the destination", job.dst_key, md5_whole.hex(), dst_md5)
        checked = True
    return checked


class Writer:
    """Writes verified objects into one destination bucket; never leaves a bad object behind."""

    def __init__(self, store: ObjectStore, bucket: str) -> None:
        self.store, self.bucket = store, bucket
        self.by_crc32c = verifies_by_crc32c(store)

    def put(self, job: ObjectJob, chunk: Chunk) -> bool:
        """Write a whole small object; returns True when a whole-object checksum was compared."""
        md5_whole, crc = chunk.digest.md5, chunk.digest.crc32c
        compared = check_against_source(job, crc, md5_whole)
        metadata = stamps(job.source, crc32c_hex(crc))
        if self.by_crc32c:
            info = self.store.put_crc32c(self.bucket, job.dst_key, chunk.data, crc, metadata)  # type: ignore[attr-defined]
        else:
            assert md5_whole is not None
            info = self.store.put(self.bucket, job.dst_key, chunk.data, md5_whole, metadata)
        return self.after_write(info, job, crc, md5_whole) or compared

    def write_part(self, upload: MultipartUpload, chunk: Chunk) -> bool:
        """Upload one part, verified by whichever digest this store checks; False when it was kept.

        A resumed upload keeps a part an interrupted run stored when the store proves it holds
        exactly this chunk's bytes (MultipartUpload.reuse_part); nothing is sent then.
        """
        job = chunk.job
        if upload.reuse_part(job.part_number, job.offset, job.length, chunk.digest.md5, chunk.digest.crc32c):
            return False
        if self.by_crc32c:
            upload.upload_part_crc32c(job.part_number, job.offset, chunk.data, chunk.digest.crc32c)  # type: ignore[attr-defined]
        else:
            assert chunk.digest.md5 is not None
            upload.upload_part(job.part_number, job.offset, chunk.data, chunk.digest.md5)
        return True

    def start(self, job: ObjectJob, *, resume: bool = False) -> MultipartUpload:
        """A new multipart write, or (`resume`) the one an interrupted run of this copy left."""
        metadata = stamps(job.source, None)
        if resume:
            return self.store.resume_multipart(self.bucket, job.dst_key, metadata)
        return self.store.start_multipart(self.bucket, job.dst_key, metadata)

    @property
    def wants_whole_md5(self) -> bool:
        return self.store.whole_md5_on_complete

    def complete(self, upload: MultipartUpload, md5_whole: bytes | None) -> ObjectInfo:
        """Finish a multipart write, giving the store the verified whole-object MD5 if it keeps one."""
        if md5_whole is not None and self.wants_whole_md5:
            return upload.complete(md5_whole)
        return upload.complete()

    def after_write(
        self,
        info: ObjectInfo,
        job: ObjectJob,
        crc: int,
        md5_whole: bytes | None,
        part_md5s: list[bytes] | None = None,
    ) -> bool:
        """Check the written object; delete it (and raise) if it does not match what was read."""
        try:
            return check_written(info, job, crc, md5_whole, part_md5s)
        except IntegrityError:
            self.store.delete(self.bucket, job.dst_key)
            raise
