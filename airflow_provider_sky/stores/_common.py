"""Small helpers the cloud store modules share: checksum encodings, the reserved prefix, pools.

Kept apart from `base.py` because they are implementation details of the cloud backends, not
part of the interface the copy engine programs against.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping

# Where a store keeps objects it writes for its own bookkeeping (GCS multipart parts, write
# probes). Listing hides it unless the caller asks for it explicitly, so `sync` never copies it.
RESERVED_PREFIX = ".sky-parts/"
# One HTTP connection per worker thread, with headroom: the engine drives a store from ~32 threads.
POOL_SIZE = 64
DEFAULT_PAGE_SIZE = 1000
OCTET_STREAM = "application/octet-stream"


def is_reserved(key: str, prefix: str) -> bool:
    """True when `key` is bookkeeping that a listing of `prefix` must not show."""
    return key.startswith(RESERVED_PREFIX) and not prefix.startswith(RESERVED_PREFIX)


def probe_key() -> str:
    """A unique reserved key for a write-permission probe (written, then deleted at once)."""
    return f"{RESERVED_PREFIX}probe-{uuid.uuid4().hex}"


def b64_to_hex(value: str | bytes | bytearray | None) -> str | None:
    """Stores report digests as base64 (GCS md5Hash/crc32c, S3 x-amz-checksum-*); we use hex."""
    if not value:
        return None
    raw = bytes(value) if isinstance(value, bytes | bytearray) else base64.b64decode(value)
    return raw.hex()


def md5_b64(md5: bytes) -> str:
    """The Content-MD5 header form of a raw digest."""
    return base64.b64encode(md5).decode("ascii")


def is_plain_md5(etag: str | None) -> bool:
    """An ETag that is a bare 32-hex MD5 (single-part, not KMS-encrypted), as opposed to 'md5-N'."""
    return etag is not None and len(etag) == 32 and all(c in "0123456789abcdef" for c in etag.lower())


def lower_keys(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """User metadata with lowercase keys, the base interface's convention on every store."""
    return {k.lower(): v for k, v in (metadata or {}).items()}


def strip_quotes(etag: str | None) -> str | None:
    return etag.strip('"') if etag else etag
