"""The one object-store interface every backend implements (s3, gs, azure, file).

Why this shape: the copy engine (and later the gateway writer stage) needs exactly these
operations and nothing else, so a new store is one module of a few hundred lines. Everything is
synchronous and thread-safe: the engine drives a store from a bounded thread pool.

Conventions every backend follows:
- Keys are full object keys inside the bucket (no leading bucket, no URL encoding).
- `list` streams pages: it yields as it goes and never holds a whole listing in memory.
- Checksums are lowercase hex strings keyed by algorithm: "md5", "crc32c" (whole object),
  and "etag" for the store's opaque entity tag (S3 multipart ETags are not an MD5).
- User metadata keys are lowercase; our own stamps start with `sky-` (see METADATA_*).
- Not-found and permission problems on a bucket raise SkyUserError naming the bucket and the fix;
  transient server faults raise StoreError.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

# Metadata stamped on every object we write: lets `sync` and resumed runs prove a destination
# object is a verified copy of a given source version without reading it back.
METADATA_CRC32C = "sky-crc32c"  # whole-object CRC32C (hex) computed from the bytes read at the source
METADATA_SOURCE_ETAG = "sky-source-etag"  # the source's etag/version when it was copied
METADATA_SIZE = "sky-size"


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing or stat returns about one object."""

    key: str
    size: int
    etag: str | None = None
    mtime: float | None = None  # seconds since the epoch
    checksums: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartLimits:
    """Store rules for multipart writes, so the engine picks a legal chunk size."""

    min_part_size: int = 5 * 1024 * 1024  # every part but the last must be at least this
    max_part_size: int = 5 * 1024**3
    max_parts: int = 10_000


class MultipartUpload(ABC):
    """An unfinished object write made of independently uploaded parts.

    Parts may be uploaded from several threads at once and in any order. Nothing is visible
    under the destination key until `complete` succeeds; `abort` removes every trace.
    """

    upload_id: str

    def reuse_part(self, part_number: int, offset: int, length: int, md5: bytes | None, crc32c: int) -> bool:
        """Keep part `part_number` left by an interrupted earlier run of this upload, if it is these bytes.

        Called with the digests of the source chunk just read. True only when the store holds
        that part and can prove it is the same bytes (same length and a matching MD5 or
        CRC32C that the store itself verified when the part arrived); the part then needs
        no upload. False (the default, and for every fresh upload) means: send it.
        """
        return False

    @abstractmethod
    def upload_part(self, part_number: int, offset: int, data: bytes, md5: bytes) -> None:
        """Store part `part_number` (1-based) holding bytes [offset, offset+len(data)).

        `md5` is the digest computed when the bytes were read; backends pass it to the server
        for verification where the API allows (S3 Content-MD5, Azure transactional MD5, GCS
        md5Hash) and check it themselves otherwise, raising IntegrityError on mismatch.
        """

    @abstractmethod
    def complete(self, md5: bytes | None = None) -> ObjectInfo:
        """Assemble the parts, in part-number order, into the final object and return its stat.

        `md5` is the whole object's MD5 when the engine has verified it; stores that keep one
        for multipart objects (`ObjectStore.whole_md5_on_complete`) record it.
        """

    @abstractmethod
    def abort(self) -> None:
        """Discard all uploaded parts; safe to call twice or after a failed complete."""


class ObjectStore(ABC):
    """A bucket-addressed object store. One instance serves every bucket of one account."""

    scheme: ClassVar[str]
    part_limits: ClassVar[PartLimits] = PartLimits()
    # True when `complete(md5)` stores the whole-object MD5 users check (Azure Content-MD5): the
    # engine then hashes multipart objects in order to supply it.
    whole_md5_on_complete: ClassVar[bool] = False

    @abstractmethod
    def check_bucket(self, bucket: str, *, write: bool) -> None:
        """Fail fast, before any byte moves, if the bucket is missing or not readable/writable.

        Raises SkyUserError naming the bucket and how to fix it (create it, grant a role,
        check the connection's credentials).
        """

    @abstractmethod
    def list(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        """Yield every object whose key starts with `prefix`, in lexicographic key order, page by page."""

    @abstractmethod
    def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        """Return the object's info, or None when it does not exist."""

    @abstractmethod
    def read_range(self, bucket: str, key: str, offset: int, length: int) -> bytes:
        """Return bytes [offset, offset+length) of the object (fewer only at its end)."""

    @abstractmethod
    def put(self, bucket: str, key: str, data: bytes, md5: bytes, metadata: Mapping[str, str]) -> ObjectInfo:
        """Write a whole small object in one request, verified against `md5`."""

    @abstractmethod
    def start_multipart(self, bucket: str, key: str, metadata: Mapping[str, str]) -> MultipartUpload:
        """Begin a multipart write; `metadata` is attached to the final object."""

    def resume_multipart(self, bucket: str, key: str, metadata: Mapping[str, str]) -> MultipartUpload:
        """`start_multipart`, adopting the unfinished upload of `key` an interrupted run of ours left.

        The adopted upload offers its stored parts through `reuse_part`; any other unfinished
        upload of ours to the same key is discarded. Stores that cannot prove which leftovers
        are theirs start afresh (the default).
        """
        return self.start_multipart(bucket, key, metadata)

    @abstractmethod
    def delete(self, bucket: str, key: str) -> None:
        """Delete one object; deleting a missing object is not an error."""

    @abstractmethod
    def abort_stale_uploads(self, bucket: str, prefix: str) -> int:
        """Abort our own unfinished multipart writes under `prefix` (left by a killed run); return how many.

        Only uploads this project started and can prove it started are touched: another
        tool's unfinished uploads into the same bucket are left alone.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing to release
        """Release network pools; the default holds nothing."""
