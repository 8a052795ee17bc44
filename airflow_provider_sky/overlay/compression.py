"""``compression="auto"``: zstd when a sample of the job's own data compresses, off otherwise.

Compressing costs gateway CPU at both ends; it pays only when the bytes shrink noticeably
(text, CSV, JSON, logs), and is wasted on media, archives and already-compressed columnar
files. So the decision is made once per job from a sample: the first bytes of a few objects
spread over the listing, compressed at the level the gateways use.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_sky.credentials import StoreCredentials
from airflow_provider_sky.stores.registry import open_store
from airflow_provider_sky.uri import parse_uri

SAMPLE_OBJECTS = 8
SAMPLE_BYTES = 256 * 1024
PAYS_BELOW = 0.8  # compressed / raw; above this, the CPU is not worth the bytes saved


def sample_ratio(prepared: Any, credentials: StoreCredentials) -> float | None:
    """Compressed/raw size of the sample, or None when there is nothing to sample."""
    import zstandard

    manifests = [m for m in prepared.manifests if m["size"] > 0]
    if not manifests:
        return None
    step = max(1, len(manifests) // SAMPLE_OBJECTS)
    picked = manifests[::step][:SAMPLE_OBJECTS]
    uri = parse_uri(prepared.request.source)
    store = open_store(uri, credentials)
    try:
        raw = packed = 0
        compressor = zstandard.ZstdCompressor(level=1)
        for manifest in picked:
            data = store.read_range(uri.bucket, manifest["key"], 0, min(SAMPLE_BYTES, manifest["size"]))
            raw += len(data)
            packed += len(compressor.compress(data))
        return packed / raw if raw else None
    finally:
        store.close()


def choose_compression(mode: str, prepared: Any, credentials: StoreCredentials) -> str:
    """"zstd" or "off" for the gateways; ``mode`` "zstd"/"off" is taken as given."""
    if mode != "auto":
        return mode
    ratio = sample_ratio(prepared, credentials)
    return "zstd" if ratio is not None and ratio < PAYS_BELOW else "off"
