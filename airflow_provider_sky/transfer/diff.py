"""Copy, skip or delete: the per-object decisions of `cp` and `sync`.

The source and destination listings are merged as two sorted streams, so memory stays
constant however many objects there are. Mapping source keys onto the destination prefix
preserves order (a shared prefix is swapped), which is what makes the merge valid.

How "same object" is decided, strongest evidence first:
1. our stamps: the destination was written by us from this exact source version
   (`sky-source-etag` == source etag and `sky-size` == size) -> a verified copy;
2. a checksum both sides report: CRC32C (native or our `sky-crc32c` stamp), then MD5;
3. the destination's ETag is the source's MD5 (an S3 single-request write: see below);
4. same store type and equal etags;
5. otherwise size, and the destination being at least as new as the source (as `aws s3 sync`).
`cp` skips only on (1): it re-copies anything it cannot prove it wrote, so a rerun after a
failure resumes but an object modified at the destination is overwritten.

Why (3) lets an S3 listing decide without a HEAD per object: ListObjectsV2 returns no metadata,
so our stamps are invisible there, but it does return each ETag, and the ETag of an object
written in one request without KMS/SSE-C is the MD5 of its bytes. A match with the MD5 the
source lists proves the bytes (KMS, SSE-C and multipart ETags are not the MD5 of anything the
source could hold: "-N" suffixes, or digests of ciphertext). A mismatch proves nothing (the
object may be encrypted), so only then is the object stat'ed, as when no rule applies: the
rule can skip only objects whose bytes are the source's.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from airflow_provider_sky.stores.base import METADATA_CRC32C, METADATA_SIZE, METADATA_SOURCE_ETAG, ObjectInfo
from airflow_provider_sky.transfer.listing import KeyMapping


@dataclass(frozen=True)
class Action:
    """One decision. `source` is None for deletes; `destination` is None when nothing exists there."""

    kind: Literal["copy", "skip", "delete"]
    dst_key: str
    reason: str
    source: ObjectInfo | None = None
    destination: ObjectInfo | None = None


def source_crc32c(info: ObjectInfo) -> str | None:
    """The whole-object CRC32C a store reports natively, else our stamp if it matches the size."""
    native = info.checksums.get("crc32c")
    if native:
        return native.lower()
    stamped = info.metadata.get(METADATA_CRC32C)
    if stamped and info.metadata.get(METADATA_SIZE) == str(info.size):
        return stamped.lower()
    return None


def is_verified_copy(src: ObjectInfo, dst: ObjectInfo) -> bool:
    """True when `dst` carries our stamps for exactly this version of `src`."""
    return (
        src.etag is not None
        and dst.size == src.size
        and dst.metadata.get(METADATA_SOURCE_ETAG) == src.etag
        and dst.metadata.get(METADATA_SIZE) == str(src.size)
    )


def etag_is_source_md5(src: ObjectInfo, dst: ObjectInfo) -> bool:
    """True when the destination's listed ETag is the MD5 the source reports: proof of equal bytes.

    Only a match counts (see the module docstring): an encrypted or multipart ETag differs
    from the MD5 even when the bytes are equal, so a mismatch leaves the question open.
    """
    md5, etag = src.checksums.get("md5"), dst.checksums.get("etag")
    return bool(md5 and etag and etag.lower() == md5.lower())


def same_etag(src: ObjectInfo, dst: ObjectInfo, same_store_type: bool) -> bool:
    """Equal etags on the same kind of store (an S3 -> S3 copy with the same part size)."""
    return same_store_type and src.etag is not None and src.etag == dst.etag


def compare(src: ObjectInfo, dst: ObjectInfo, same_store_type: bool) -> tuple[bool, str]:
    """(same, why) for sync; see the module docstring for the order of evidence."""
    if dst.size != src.size:
        return False, "size differs"
    if is_verified_copy(src, dst):
        return True, "verified copy of this source version"
    src_crc, dst_crc = source_crc32c(src), source_crc32c(dst)
    if src_crc and dst_crc:
        return (src_crc == dst_crc), ("crc32c matches" if src_crc == dst_crc else "crc32c differs")
    src_md5, dst_md5 = src.checksums.get("md5"), dst.checksums.get("md5")
    if src_md5 and dst_md5:
        return (src_md5 == dst_md5), ("md5 matches" if src_md5 == dst_md5 else "md5 differs")
    if etag_is_source_md5(src, dst):
        return True, "etag is the source's md5"
    if same_etag(src, dst, same_store_type):
        return True, "etag matches"
    if src.mtime is not None and dst.mtime is not None:
        if dst.mtime >= src.mtime:
            return True, "same size, destination not older"
        return False, "source is newer"
    return False, "no comparable checksum"


def plan_actions(
    sources: Iterator[ObjectInfo],
    destinations: Iterator[ObjectInfo],
    mapping: KeyMapping,
    *,
    mode: str,
    delete: bool,
    same_store_type: bool,
    stat_destination: Callable[[str], ObjectInfo | None] | None = None,
    stat_workers: int = 16,
) -> Iterator[Action]:
    """Merge two key-ordered listings into actions, in destination key order.

    Some listings (S3's) carry no user metadata, so our stamps are invisible there: when the
    stamps would decide and are missing, `stat_destination` fetches the full object info,
    `stat_workers` at a time (a rerun over many objects would otherwise wait on one
    round trip per object).
    """
    pairs = _merge(sources, destinations, mapping)
    if stat_destination is not None:
        pairs = _with_stamps(pairs, mode, same_store_type, stat_destination, stat_workers)
    for key, src, dst in pairs:
        if src is None:
            assert dst is not None
            if delete:
                yield Action("delete", key, "not in source", None, dst)
        elif dst is None:
            yield Action("copy", key, "missing at destination", src)
        else:
            if mode == "cp":
                same = is_verified_copy(src, dst)
                why = "verified copy of this source version" if same else "cp overwrites"
            else:
                same, why = compare(src, dst, same_store_type)
            yield Action("skip" if same else "copy", key, why, src, dst)


Pair = tuple[str, ObjectInfo | None, ObjectInfo | None]


def _merge(sources: Iterator[ObjectInfo], destinations: Iterator[ObjectInfo], mapping: KeyMapping) -> Iterator[Pair]:
    """(destination key, source or None, destination or None), in key order."""
    src_item = _mapped_next(sources, mapping)
    dst_item = next(destinations, None)
    while src_item is not None or dst_item is not None:
        if dst_item is None or (src_item is not None and src_item[0] < dst_item.key):
            assert src_item is not None
            yield src_item[0], src_item[1], None
            src_item = _mapped_next(sources, mapping)
        elif src_item is None or dst_item.key < src_item[0]:
            yield dst_item.key, None, dst_item
            dst_item = next(destinations, None)
        else:
            yield src_item[0], src_item[1], dst_item
            src_item = _mapped_next(sources, mapping)
            dst_item = next(destinations, None)


def _with_stamps(
    pairs: Iterator[Pair],
    mode: str,
    same_store_type: bool,
    stat: Callable[[str], ObjectInfo | None],
    workers: int,
) -> Iterator[Pair]:
    """Replace listing entries that lack our stamps by a full stat, in parallel, keeping order.

    At most `4 * workers` pairs are held in the look-ahead window, so memory stays bounded.
    """
    window: deque[Future[Pair] | Pair] = deque()

    def refreshed(pair: Pair) -> Pair:
        key, src, dst = pair
        return key, src, (stat(key) or dst)

    with ThreadPoolExecutor(workers, thread_name_prefix="sky-stat") as pool:
        for pair in pairs:
            _key, src, dst = pair
            needs = src is not None and dst is not None and _needs_stamps(mode, src, dst, same_store_type)
            window.append(pool.submit(refreshed, pair) if needs else pair)
            while len(window) > 4 * workers or (window and not isinstance(window[0], Future)):
                head = window.popleft()
                yield head.result() if isinstance(head, Future) else head
        while window:
            head = window.popleft()
            yield head.result() if isinstance(head, Future) else head


def _mapped_next(sources: Iterator[ObjectInfo], mapping: KeyMapping) -> tuple[str, ObjectInfo] | None:
    info = next(sources, None)
    return None if info is None else (mapping.dst_key(info.key), info)


def _needs_stamps(mode: str, src: ObjectInfo, dst: ObjectInfo, same_store_type: bool) -> bool:
    """True when only a full stat could decide: the listing shows neither stamps nor a proof of equal bytes."""
    if METADATA_SOURCE_ETAG in dst.metadata or dst.size != src.size:
        return False
    if mode == "cp":
        return True
    both_crc = source_crc32c(src) and source_crc32c(dst)
    both_md5 = src.checksums.get("md5") and dst.checksums.get("md5")
    listed_proof = etag_is_source_md5(src, dst) or same_etag(src, dst, same_store_type)
    return not (both_crc or both_md5 or listed_proof)
