"""Azure listings parsed from the raw List Blobs XML give exactly the SDK's records (Azurite)."""

from __future__ import annotations

import hashlib

import pytest

from airflow_provider_sky.errors import SkyError
from airflow_provider_sky.stores import azure_listing

pytestmark = pytest.mark.emulators

NAMES = ["a.txt", "dir/b c.bin", "dir/ünï/ç.txt", "dir/x&y<z>.txt", "dir/empty/", "zzz", ".sky-parts/uploads/u1"]


def _both(store, monkeypatch, bucket: str, prefix: str) -> tuple[list, list]:
    ours = list(store.list(bucket, prefix))
    with monkeypatch.context() as patched:
        patched.setattr(azure_listing, "available", lambda container: False)
        sdk = list(store.list(bucket, prefix))
    return ours, sdk


@pytest.mark.parametrize("prefix", ["", "dir/", "dir/ü", "nothing-here/"])
def test_the_parsed_listing_equals_the_sdks_over_several_pages(fresh_bucket, monkeypatch, prefix):
    bucket = fresh_bucket("azure", page_size=2)
    for index, name in enumerate(NAMES):
        data = b"" if name.endswith("/") else f"body {index}".encode()
        bucket.store.put(bucket.bucket, name, data, hashlib.md5(data).digest(),
                         {"sky-source-etag": f"e{index}", "owner": "Team A"})  # fmt: skip
    assert azure_listing.available(bucket.store._client.get_container_client(bucket.bucket))

    ours, sdk = _both(bucket.store, monkeypatch, bucket.bucket, prefix)

    assert ours == sdk
    assert [o.key for o in ours] == sorted(n for n in NAMES if n.startswith(prefix) and not n.startswith(".sky"))
    if prefix == "":
        assert ours[0].metadata == {"sky-source-etag": "e0", "owner": "Team A"}
        assert ours[0].checksums["md5"] == hashlib.md5(b"body 0").hexdigest()


def test_a_missing_container_is_the_same_store_error(fresh_bucket, monkeypatch):
    bucket = fresh_bucket("azure")
    with pytest.raises(SkyError) as ours:
        list(bucket.store.list("no-such-container-x", ""))
    with monkeypatch.context() as patched:
        patched.setattr(azure_listing, "available", lambda container: False)
        with pytest.raises(SkyError) as sdk:
            list(bucket.store.list("no-such-container-x", ""))
    assert type(ours.value) is type(sdk.value)
    assert str(ours.value) == str(sdk.value)
    assert "container 'no-such-container-x' does not exist" in str(ours.value)
