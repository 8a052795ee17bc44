"""Bad input against real (emulated) stores: one clear error, and nothing written anywhere."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from airflow_provider_sky.credentials import StoreCredentials
from airflow_provider_sky.devtools import emulators
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.transfer import CopyRequest, run_copy
from airflow_provider_sky.transfer.checksum import digest
from tests.transfer.helpers import uri, write

pytestmark = pytest.mark.emulators


def _copy(source: str, destination: str, credentials: StoreCredentials) -> None:
    run_copy(CopyRequest.build(source, destination), credentials)


def test_a_missing_source_bucket_names_the_bucket_and_writes_nothing(s3_emulator, dst):
    with pytest.raises(SkyUserError, match="no-such-bucket-sky") as info:
        _copy("s3://no-such-bucket-sky/data/", uri(dst), s3_emulator.credentials)

    assert "Fix:" in str(info.value)
    assert not dst.exists()


def test_a_missing_destination_container_is_reported_before_reading(azure_emulator, src):
    write(src / "a", b"a")

    with pytest.raises(SkyUserError, match="no-such-container") as info:
        _copy(uri(src), f"azure://{emulators.AZURITE_ACCOUNT}/no-such-container/x/", azure_emulator.credentials)

    assert "Fix:" in str(info.value)


def test_wrong_credentials_fail_once_with_a_fix_and_write_nothing(azure_emulator, fresh_bucket, dst):
    bucket = fresh_bucket("azure")
    bucket.store.put(bucket.bucket, "a", b"a", digest(b"a").md5, {})
    wrong_key = base64.b64encode(b"not the account key").decode()
    creds = dataclasses.replace(
        azure_emulator.credentials,
        azure=dataclasses.replace(azure_emulator.credentials.azure, account_key=wrong_key),
    )

    with pytest.raises(SkyUserError) as info:
        _copy(bucket.url, uri(dst), creds)

    message = str(info.value)
    assert bucket.bucket in message and "Fix:" in message
    assert wrong_key not in message
    assert not dst.exists()


def test_a_read_only_grant_on_the_destination_fails_before_any_byte_moves(azure_emulator, fresh_bucket, src):
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    write(src / "a", b"a")
    bucket = fresh_bucket("azure")
    sas = generate_container_sas(
        emulators.AZURITE_ACCOUNT,
        bucket.bucket,
        account_key=emulators.AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    azure = azure_emulator.credentials.azure
    creds = StoreCredentials(azure=type(azure)(account_name=azure.account_name, account_url=azure.account_url,
                                               sas_token=sas))

    with pytest.raises(SkyUserError, match=r"(?i)permission|not allowed|authoriz") as info:
        _copy(uri(src), bucket.url, creds)

    assert "Fix:" in str(info.value)
    assert list(bucket.store.list(bucket.bucket, "")) == []

