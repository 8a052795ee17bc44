"""The direct HTTP data paths (GCS ranged reads, Azure Put Blob) fail like the SDK paths did."""

from __future__ import annotations

import hashlib

import pytest

from airflow_provider_sky.credentials import AzureCredentials, StoreCredentials
from airflow_provider_sky.devtools import emulators
from airflow_provider_sky.errors import IntegrityError, SkyUserError, StoreError
from airflow_provider_sky.stores.registry import open_store
from airflow_provider_sky.uri import parse_uri

pytestmark = pytest.mark.emulators


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


def test_azure_account_key_store_writes_small_objects_directly(fresh_bucket):
    fresh = fresh_bucket("azure")
    assert fresh.store._direct_put is not None  # the bench route: connection string with an account key

    info = fresh.store.put(fresh.bucket, "a/b c+ü", b"xyz", _md5(b"xyz"), {"sky-size": "3", "Owner": "me"})

    stat = fresh.store.stat(fresh.bucket, "a/b c+ü")
    assert (info.size, stat.size, stat.checksums["md5"]) == (3, 3, _md5(b"xyz").hex())
    assert stat.metadata == {"sky-size": "3", "owner": "me"} == info.metadata
    assert info.etag == stat.etag


def test_azure_direct_put_into_a_missing_container_names_it(fresh_bucket):
    store = fresh_bucket("azure").store

    with pytest.raises(SkyUserError) as caught:
        store.put("no-such-container-here", "k", b"x", _md5(b"x"), {})

    assert "Azure container 'no-such-container-here' does not exist" in str(caught.value)


def test_azure_direct_put_with_a_wrong_key_is_a_credentials_error_without_the_key(fresh_bucket):
    fresh = fresh_bucket("azure")
    wrong_key = "A" * 20 + emulators.AZURITE_KEY[20:]
    store = open_store(
        parse_uri(f"azure://{emulators.AZURITE_ACCOUNT}/{fresh.bucket}"),
        StoreCredentials(
            azure=AzureCredentials(
                account_name=emulators.AZURITE_ACCOUNT, account_key=wrong_key, account_url=fresh.emulator.endpoint
            )
        ),
    )
    try:
        with pytest.raises(SkyUserError) as caught:
            store.put(fresh.bucket, "k", b"x", _md5(b"x"), {})
    finally:
        store.close()

    assert "credentials" in str(caught.value) and wrong_key not in str(caught.value)


def test_azure_direct_put_refused_by_the_service_on_a_wrong_md5_leaves_nothing(fresh_bucket):
    fresh = fresh_bucket("azure")

    with pytest.raises(IntegrityError):
        fresh.store.put(fresh.bucket, "k", b"actual", _md5(b"other"), {})

    assert fresh.store.stat(fresh.bucket, "k") is None


def test_gcs_read_of_a_missing_object_is_a_store_error(fresh_bucket):
    fresh = fresh_bucket("gs")

    with pytest.raises(StoreError):
        fresh.store.read_range(fresh.bucket, "not-there", 0, 10)


def test_gcs_reads_reuse_connections_and_return_exact_ranges(fresh_bucket):
    fresh = fresh_bucket("gs")
    data = bytes(range(256)) * 64
    fresh.store.put(fresh.bucket, "d", data, _md5(data), {})

    parts = [fresh.store.read_range(fresh.bucket, "d", offset, 1000) for offset in range(0, len(data), 1000)]

    assert b"".join(parts) == data
    assert all(isinstance(part, bytes) for part in parts)
