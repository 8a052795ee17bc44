"""The "Destination" link opens the destination in its cloud's console, or is not shown at all."""

from __future__ import annotations

import pytest

from airflow_provider_sky.credentials import AwsCredentials, AzureCredentials, GcpCredentials, StoreCredentials
from airflow_provider_sky.links.storage import console_url
from airflow_provider_sky.uri import parse_uri


@pytest.fixture(autouse=True)
def _no_endpoint_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)


def test_real_clouds_link_to_their_consoles() -> None:
    assert console_url(parse_uri("s3://logs/2026/a.txt")) == (
        "https://s3.console.aws.amazon.com/s3/buckets/logs?prefix=2026%2F"
    )
    assert console_url(parse_uri("gs://logs/2026/")) == "https://console.cloud.google.com/storage/browser/logs/2026"
    real_azure = StoreCredentials(azure=AzureCredentials(account_url="https://acct.blob.core.windows.net"))
    assert console_url(parse_uri("azure://acct/box/x/"), real_azure).startswith("https://acct.blob.core.windows.net/")


@pytest.mark.parametrize(
    ("uri", "credentials"),
    [
        ("s3://logs/x/", StoreCredentials(aws=AwsCredentials(endpoint_url="http://127.0.0.1:9000"))),
        ("gs://logs/x/", StoreCredentials(gcp=GcpCredentials(endpoint_url="http://127.0.0.1:4443"))),
        ("azure://devstoreaccount1/box/x/",
         StoreCredentials(azure=AzureCredentials(account_url="http://127.0.0.1:10000/devstoreaccount1"))),
        ("azure://devstoreaccount1/box/x/",
         StoreCredentials(azure=AzureCredentials(connection_string="UseDevelopmentStorage=true"))),
        ("azure://devstoreaccount1/box/x/", StoreCredentials(azure=AzureCredentials(
            connection_string="AccountName=devstoreaccount1;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1"))),
    ],
)  # fmt: skip
def test_a_store_behind_a_custom_endpoint_gets_no_link(uri: str, credentials: StoreCredentials) -> None:
    assert console_url(parse_uri(uri), credentials) is None


def test_the_sdk_endpoint_variables_count_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443")
    assert console_url(parse_uri("s3://logs/x/")) is None and console_url(parse_uri("gs://logs/x/")) is None
