"""Keys Azure Blob Storage cannot hold unchanged are refused before any byte is written."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from airflow_provider_sky.credentials import StoreCredentials
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.stores.azure_blob import AzureBlobStore
from airflow_provider_sky.transfer.engine import run_copy
from airflow_provider_sky.transfer.request import CopyRequest


@pytest.mark.parametrize(("key", "refused"), [("a/./b", True), ("../x", True), ("a/..", True), ("a/.b/c..d", False)])
def test_dot_segments_are_named_as_the_problem(key: str, refused: bool) -> None:
    assert (AzureBlobStore.key_problem(key) is not None) is refused


@pytest.mark.emulators
def test_copy_of_a_dot_segment_key_into_azure_is_refused_up_front(fresh_bucket: Any) -> None:
    s3, azure = fresh_bucket("s3"), fresh_bucket("azure")
    for key in ("fine.txt", "odd/./name.txt"):
        s3.store.put(s3.bucket, key, b"x", hashlib.md5(b"x").digest(), {})
    assert sorted(i.key for i in s3.store.list(s3.bucket, "")) == ["fine.txt", "odd/./name.txt"]
    credentials = StoreCredentials(aws=s3.emulator.credentials.aws, azure=azure.emulator.credentials.azure)
    with pytest.raises(SkyUserError, match=r"odd/\./name\.txt"):
        run_copy(CopyRequest.build(s3.url, azure.url), credentials)
    assert list(azure.store.list(azure.bucket, "")) == []
