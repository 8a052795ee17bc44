"""Chunk checksums: MD5 for the store to verify each write, CRC32C for the whole object.

Why two: stores verify an uploaded part against an MD5 (S3 Content-MD5, Azure transactional
MD5), but MD5 cannot be combined across chunks. CRC32C can: the CRC of A+B follows from
crc(A), crc(B) and len(B), so chunks read in parallel, in any order, still yield the
whole-object CRC32C that GCS reports and that we stamp as `sky-crc32c`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import google_crc32c

_POLY = 0x82F63B78  # CRC32C (Castagnoli), bit-reflected


@dataclass(frozen=True)
class ChunkDigest:
    """Checksums of one chunk, computed once, right after the bytes were read."""

    md5: bytes | None  # None when the destination verifies writes by CRC32C alone
    crc32c: int
    length: int


def digest(data: bytes | memoryview, *, md5: bool = True) -> ChunkDigest:
    """CRC32C of `data`, and MD5 unless not needed (hashlib releases the GIL on large buffers)."""
    return ChunkDigest(hashlib.md5(data).digest() if md5 else None, google_crc32c.value(data), len(data))


def crc32c_hex(value: int) -> str:
    """The 8-hex-digit form used in `sky-crc32c` stamps and ObjectInfo.checksums."""
    return f"{value:08x}"


def _multmodp(a: int, b: int) -> int:
    """a(x) * b(x) modulo the CRC polynomial, in reflected bit order."""
    if a == 0:
        return 0
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x2n_table() -> list[int]:
    table = [1 << 30]  # x^1
    for _ in range(31):
        table.append(_multmodp(table[-1], table[-1]))
    return table


_X2N = _x2n_table()


@lru_cache(maxsize=64)
def _x8n(length: int) -> int:
    """x^(8*length) modulo the polynomial: the operator that shifts a CRC past `length` bytes."""
    xp = 1 << 31  # x^0
    k = 3
    while length:
        if length & 1:
            xp = _multmodp(_X2N[k & 31], xp)
        length >>= 1
        k += 1
    return xp


def crc32c_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC32C of A+B from crc(A), crc(B) and len(B), without touching the bytes."""
    return _multmodp(_x8n(len2), crc1) ^ crc2


def combine_chunks(digests: list[ChunkDigest]) -> int:
    """Whole-object CRC32C from the digests of consecutive chunks, in order."""
    crc = 0
    for d in digests:
        crc = crc32c_combine(crc, d.crc32c, d.length)
    return crc


class OrderedMd5:
    """The MD5 of a whole object whose chunks are read in parallel, fed back in part order.

    Why: a store that keeps a whole-object MD5 for multipart writes (Azure Content-MD5) needs
    one, and MD5, unlike CRC32C, cannot be combined from chunk digests. Each chunk's worker
    waits for its turn while it holds the chunk (already inside the byte budget), so no extra
    memory is needed. Chunks are handed to the pool in part order, so the chunk whose turn it is
    has always started: the wait cannot deadlock.
    """

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self._next = 1
        self._cond = threading.Condition()

    def feed(self, part_number: int, data: bytes, stopping: Callable[[], bool]) -> bool:
        """Hash part `part_number` once parts 1..n-1 are in; False when the run stopped first."""
        with self._cond:
            while self._next != part_number:
                if stopping():
                    return False
                self._cond.wait(0.1)
        self._md5.update(data)  # outside the lock: other parts only wait on _next, not on it
        with self._cond:
            self._next += 1
            self._cond.notify_all()
        return True

    def digest(self) -> bytes:
        return self._md5.digest()
