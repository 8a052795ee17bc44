"""The data channel's wire format: one frame per chunk, self-describing and checksummed.

A frame is a fixed header, the object's manifest (JSON) and the payload:

    magic "SKY1" | flags u8 | partition u16 | part u32 | chunk id u64 | offset u64 |
    raw length u64 | wire length u64 | raw CRC32C u32 | wire CRC32C u32 | manifest length u32

Why the manifest travels with every chunk: chunks of one object take different paths and
arrive in any order, and a chunk re-sent on another path after a relay failed must still be
writable; a destination needs nothing but the frame to write it. Why two CRCs: a relay checks
the bytes it received (the wire CRC) without decompressing them; the destination checks both,
and the raw CRC is the one combined into the whole-object CRC32C stamped on the copy.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import google_crc32c

from airflow_provider_sky.errors import IntegrityError
from airflow_provider_sky.stores.base import ObjectInfo

MAGIC = b"SKY1"
FLAG_ZSTD = 0x01
_HEADER = struct.Struct("!4sBHIQQQQIII")
HEADER_SIZE = _HEADER.size
MAX_MANIFEST = 1 << 20  # a manifest is a few hundred bytes; anything near this is garbage
MAX_PAYLOAD = 5 * 1024**3 + 1024  # the largest part any store accepts, plus zstd's worst-case growth


class FrameError(Exception):
    """The peer sent something that is not a frame of this protocol (drop the connection)."""


@dataclass(frozen=True)
class ObjectManifest:
    """What a destination needs to write an object: the source's record and where it goes."""

    object_id: int
    key: str  # source key
    size: int
    etag: str | None
    checksums: dict[str, str]
    metadata: dict[str, str]
    part_size: int  # 0: one whole-object put
    dst_keys: dict[str, str]  # destination region -> key there
    origin: str  # the source gateway that read it (acks go back to it)

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ObjectManifest:
        try:
            doc: dict[str, Any] = json.loads(raw)
            return cls(**doc)
        except (ValueError, TypeError) as exc:
            raise FrameError(f"unreadable object manifest ({exc})") from exc

    def source_info(self) -> ObjectInfo:
        """The source object's record as the copy engine's jobs and checks take it."""
        return ObjectInfo(self.key, self.size, self.etag, None, dict(self.checksums), dict(self.metadata))

    @property
    def part_count(self) -> int:
        return -(-self.size // self.part_size) if self.part_size else 1


@dataclass
class Frame:
    """One chunk on the wire; ``payload`` is compressed when ``compressed``."""

    chunk_id: int
    partition: int
    part_number: int
    offset: int
    raw_length: int
    raw_crc32c: int
    manifest: ObjectManifest
    payload: bytes | bytearray
    compressed: bool = False
    wire_crc32c: int = 0
    _manifest_raw: bytes = b""

    def seal(self) -> Frame:
        """Compute the wire CRC (call once the payload is final)."""
        self.wire_crc32c = google_crc32c.value(self.payload)
        return self

    def header(self, wire_length: int | None = None) -> bytes:
        """Header and manifest; ``wire_length`` for a payload not in hand (a relay streaming it)."""
        wire = len(self.payload) if wire_length is None else wire_length
        manifest = self._manifest_raw or self.manifest.to_json()
        self._manifest_raw = manifest
        flags = FLAG_ZSTD if self.compressed else 0
        return (
            _HEADER.pack(
                MAGIC, flags, self.partition, self.part_number, self.chunk_id, self.offset,
                self.raw_length, wire, self.raw_crc32c, self.wire_crc32c, len(manifest),
            )
            + manifest
        )  # fmt: skip

    @property
    def wire_length(self) -> int:
        return len(self.payload)


SEND_SLICE = 1024 * 1024
# A payload lands in a bytearray and is copied into bytes. A bytes object of n bytes is one malloc
# of n plus its header and NUL (getsizeof(b"")); a bytearray of m is one of m + 1. Padding the
# landing buffer makes both requests the same size, so the heap hole either leaves fits the
# other: unpadded, a freed landing buffer is a few bytes too small for the next chunk's bytes,
# and a destination's heap grew 80-130 MiB past its budget in such holes.
LANDING_PAD = sys.getsizeof(b"") - 1


def send_frame(sock: socket.socket, frame: Frame, on_sent: Callable[[int], None] = lambda n: None) -> None:
    """Write one frame (header and manifest in one record, then the payload in slices).

    ``on_sent`` hears every slice as it leaves, so an edge's measured rate follows the bytes on
    the wire; counted per whole frame, several slow connections finishing together read as a
    burst many times the link's rate.
    """
    sock.sendall(frame.header())
    view = memoryview(frame.payload)
    for start in range(0, len(view), SEND_SLICE):
        piece = view[start : start + SEND_SLICE]
        sock.sendall(piece)
        on_sent(len(piece))


def _recv_exactly(sock: socket.socket, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = sock.recv_into(view[got:])
        if n == 0:
            raise ConnectionError("peer closed the connection mid-frame")
        got += n


def recv_header(sock: socket.socket) -> tuple[Frame, int] | None:
    """Read a frame's header and manifest; None on a clean close between frames.

    Returns the frame (payload still empty) and the payload length still to read, so the
    caller can take that many bytes from its memory budget before reading them.
    """
    head = bytearray(HEADER_SIZE)
    view = memoryview(head)
    first = sock.recv_into(view)
    if first == 0:
        return None
    _recv_exactly(sock, view[first:])
    magic, flags, partition, part, chunk_id, offset, raw_len, wire_len, raw_crc, wire_crc, man_len = _HEADER.unpack(
        head
    )
    if magic != MAGIC:
        raise FrameError("bad magic: the peer does not speak the gateway protocol")
    if man_len > MAX_MANIFEST or wire_len > MAX_PAYLOAD or raw_len > MAX_PAYLOAD:
        raise FrameError(f"frame too large (manifest {man_len}, payload {wire_len}, raw {raw_len} bytes)")
    raw_manifest = bytearray(man_len)
    _recv_exactly(sock, memoryview(raw_manifest))
    frame = Frame(
        chunk_id, partition, part, offset, raw_len, raw_crc, ObjectManifest.from_json(bytes(raw_manifest)), b"",
        compressed=bool(flags & FLAG_ZSTD), wire_crc32c=wire_crc, _manifest_raw=bytes(raw_manifest),
    )  # fmt: skip
    return frame, wire_len


def recv_payload(sock: socket.socket, frame: Frame, length: int) -> Frame:
    """Read the payload and check its wire CRC32C: every hop checks what it received."""
    if length:
        landing = bytearray(length + LANDING_PAD)
        with memoryview(landing) as whole, whole[:length] as view:
            _recv_exactly(sock, view)
            payload = bytes(view)  # the CRC32C and store SDKs take read-only bytes; one memcpy per chunk
        del landing
    else:
        payload = b""
    frame.payload = payload
    got = google_crc32c.value(payload)
    if got != frame.wire_crc32c:
        raise IntegrityError(
            f"chunk {frame.chunk_id} (part {frame.part_number} of {frame.manifest.key!r}) arrived damaged: "
            f"CRC32C {got:08x}, sent {frame.wire_crc32c:08x}"
        )
    return frame
