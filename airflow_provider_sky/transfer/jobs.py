"""Chunk jobs: how one object is cut into parts, and the stamps its copy will carry.

Kept apart from the engine so a planner or gateway can produce the same jobs elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.stores.base import (
    METADATA_CRC32C,
    METADATA_SIZE,
    METADATA_SOURCE_ETAG,
    ObjectInfo,
    PartLimits,
)
from airflow_provider_sky.transfer.diff import source_crc32c


@dataclass(frozen=True)
class ChunkJob:
    """Bytes [offset, offset+length) of one object, written as part `part_number` (1-based)."""

    part_number: int
    offset: int
    length: int


@dataclass(frozen=True)
class ObjectJob:
    """One object to copy; `part_size == 0` means a single whole-object put."""

    source: ObjectInfo
    dst_key: str
    part_size: int = 0

    @property
    def multipart(self) -> bool:
        return self.part_size > 0

    @property
    def part_count(self) -> int:
        return -(-self.source.size // self.part_size) if self.part_size else 1

    def chunks(self) -> Iterator[ChunkJob]:
        if not self.part_size:
            yield ChunkJob(1, 0, self.source.size)
            return
        for index in range(self.part_count):
            offset = index * self.part_size
            yield ChunkJob(index + 1, offset, min(self.part_size, self.source.size - offset))


def part_size_for(size: int, chunk_size: int, limits: PartLimits) -> int:
    """The smallest legal part size >= chunk_size for this store and object size."""
    part = max(chunk_size, limits.min_part_size, -(-size // limits.max_parts))
    if part > limits.max_part_size:
        raise SkyUserError(
            f"An object of {size} bytes needs parts of {part} bytes, above the destination's limit "
            f"of {limits.max_part_size}",
            "split the object at the source, or copy it to a store that allows larger objects",
        )
    return part


def part_size_of(size: int, *, chunk_size: int, threshold: int, limits: PartLimits) -> int:
    """0 (one whole-object put) for objects up to `threshold`, else a legal part size."""
    if size <= min(threshold, limits.max_part_size):
        return 0
    part = part_size_for(size, chunk_size, limits)
    return 0 if part >= size else part


def make_job(source: ObjectInfo, dst_key: str, *, chunk_size: int, threshold: int, limits: PartLimits) -> ObjectJob:
    """Small objects go in one put; larger ones in parts of a legal size."""
    return ObjectJob(
        source, dst_key, part_size_of(source.size, chunk_size=chunk_size, threshold=threshold, limits=limits)
    )


def stamps(source: ObjectInfo, crc32c_hex: str | None) -> dict[str, str]:
    """Destination metadata: the source's user metadata plus our proof-of-copy stamps.

    A multipart write must name its metadata before the bytes are read, so its CRC stamp is
    the one the source already reports (if any); the engine checks the bytes against it.
    """
    meta = {k: v for k, v in source.metadata.items() if not k.startswith("sky-")}
    meta[METADATA_SOURCE_ETAG] = source.etag or ""
    meta[METADATA_SIZE] = str(source.size)
    crc = crc32c_hex or source_crc32c(source)
    if crc:
        meta[METADATA_CRC32C] = crc
    return meta
