"""The URI scheme picks the store backend (as in fsspec or obstore).

Backends are imported lazily so that a transfer between two clouds never imports the SDKs of
the third, and so `file://` works with no cloud SDK at all.
"""

from __future__ import annotations

import threading

from airflow_provider_sky.credentials import StoreCredentials
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.stores.base import ObjectStore
from airflow_provider_sky.stores.endpoints import check_store_settings
from airflow_provider_sky.uri import ObjectURI


def open_store(uri: ObjectURI, credentials: StoreCredentials) -> ObjectStore:
    """A new store able to serve `uri` (and every other bucket of the same account)."""
    check_store_settings(uri.scheme, credentials)
    if uri.scheme == "s3":
        from airflow_provider_sky.stores.s3 import S3Store

        return S3Store(credentials.aws)
    if uri.scheme == "gs":
        from airflow_provider_sky.stores.gcs import GcsStore

        return GcsStore(credentials.gcp)
    if uri.scheme == "azure":
        from airflow_provider_sky.stores.azure_blob import AzureBlobStore

        return AzureBlobStore(uri.account, credentials.azure)
    if uri.scheme == "file":
        from airflow_provider_sky.stores.local import LocalStore

        return LocalStore()
    raise SkyUserError(
        f"No object store for scheme {uri.scheme!r} ({uri})", "use s3://, gs://, azure:// or file://"
    )


class StoreCache:
    """One store per (scheme, account) for the lifetime of a transfer; `close()` releases them all.

    A store holds an HTTP connection pool, so a copy of a million objects must reuse one
    rather than build one per object. The cache is per call site, not global, so credentials
    from one task never leak into another.
    """

    def __init__(self, credentials: StoreCredentials) -> None:
        self._credentials = credentials
        self._stores: dict[tuple[str, str], ObjectStore] = {}
        self._lock = threading.Lock()

    def get(self, uri: ObjectURI) -> ObjectStore:
        key = (uri.scheme, uri.account)
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = open_store(uri, self._credentials)
            return store

    def close(self) -> None:
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            store.close()

    def __enter__(self) -> StoreCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
