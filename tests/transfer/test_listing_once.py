"""A copy between stores lists its source once: the key check before any write and the copy share it."""

from __future__ import annotations

import pytest

from airflow_provider_sky.transfer import CopyRequest, engine, run_copy
from airflow_provider_sky.transfer.checksum import digest

COUNT = 12


class _CountingStore:
    """The real store, counting the objects its listings yield."""

    def __init__(self, store) -> None:
        self._store, self.listed = store, 0

    def list(self, bucket: str, prefix: str):
        for info in self._store.list(bucket, prefix):
            self.listed += 1
            yield info

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def _copy(src, dst, source_store, mode: str = "sync"):
    stores = {src.scheme: source_store, dst.scheme: dst.store}
    request = CopyRequest.build(src.url, dst.url, mode=mode, concurrency=4)
    return run_copy(request, open_store=lambda uri, creds: stores[uri.scheme])


@pytest.mark.emulators
@pytest.mark.parametrize("mode", ["cp", "sync"])
def test_a_gcs_to_file_copy_lists_the_source_once_and_a_rerun_skips_everything(fresh_bucket, mode):
    src, dst = fresh_bucket("gs"), fresh_bucket("file")
    for i in range(COUNT):
        data = f"object {i}".encode()
        src.store.put(src.bucket, f"o{i:03d}", data, digest(data).md5, {})

    counting = _CountingStore(src.store)
    first = _copy(src, dst, counting, mode)
    # one object for the "is the source empty" probe, then the listing the key check kept
    assert counting.listed <= COUNT + 1
    assert first.destinations[0].objects_copied == COUNT

    counting.listed = 0
    again = _copy(src, dst, counting, "sync")
    assert counting.listed <= COUNT + 1
    assert again.destinations[0].objects_copied == 0 and again.destinations[0].objects_skipped == COUNT


@pytest.mark.emulators
def test_a_listing_over_the_replay_bound_is_listed_again(fresh_bucket, monkeypatch):
    src, dst = fresh_bucket("gs"), fresh_bucket("file")
    for i in range(COUNT):
        data = f"object {i}".encode()
        src.store.put(src.bucket, f"o{i:03d}", data, digest(data).md5, {})
    monkeypatch.setattr(engine, "REPLAY_LISTING_MAX", 5)

    counting = _CountingStore(src.store)
    summary = _copy(src, dst, counting)

    assert counting.listed == 2 * COUNT + 1  # kept no copy: listed for the check and for the copy
    assert summary.destinations[0].objects_copied == COUNT
