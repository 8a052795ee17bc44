"""Endpoint URLs and account keys checked by shape before a store is built.

The SDKs meet a malformed value late and obscurely: boto3 raises a bare ValueError, a GCS
client with a bad endpoint reports missing Application Default Credentials, an Azure account
URL without a scheme becomes https://not-a-url and "rejected credentials", and an account key
that is not base64 fails inside the request signer. Each of those is one SkyUserError here,
naming the setting and the way to write it, before any request is sent.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

from airflow_provider_sky.credentials import StoreCredentials
from airflow_provider_sky.errors import SkyUserError

# Per scheme: what the setting is called, and where users set it.
_WHERE = {
    "s3": ("S3 endpoint URL", "--s3-endpoint-url, AWS_ENDPOINT_URL(_S3) or the aws connection's endpoint_url"),
    "gs": ("GCS endpoint URL", "--gcs-endpoint-url, STORAGE_EMULATOR_HOST or the connection's endpoint_url"),
    "azure": ("Azure account URL", "--azure-account-url, the connection string's BlobEndpoint or the connection"),
}


def check_endpoint_url(what: str, url: str, where: str) -> None:
    """`url` is http(s)://HOST[:PORT][/PATH]: the only form every SDK accepts."""
    shown = _without_secrets(url)
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is no number or out of range
    except ValueError as exc:
        raise SkyUserError(f"The {what} {shown!r} is malformed ({exc})", f"fix it in {where}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SkyUserError(
            f"The {what} {shown!r} is not an http:// or https:// URL with a host",
            f"write it as http(s)://HOST[:PORT] (e.g. http://127.0.0.1:9000) in {where}",
        )


def check_account_key(what: str, key: str) -> None:
    """An Azure account key is base64 (the portal shows 88 characters ending in '==')."""
    try:
        decoded = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if not decoded:
        raise SkyUserError(
            f"The {what} is not base64 text",
            "copy the key again from the storage account's 'Access keys' page (88 characters ending in '==')",
        )


def check_store_settings(scheme: str, credentials: StoreCredentials) -> None:
    """Every endpoint and key the store for `scheme` would be built from."""
    if scheme not in _WHERE:
        return
    what, where = _WHERE[scheme]
    urls = {"s3": credentials.aws.endpoint_url, "gs": credentials.gcp.endpoint_url}
    url = urls.get(scheme, credentials.azure.account_url)
    if url:
        check_endpoint_url(what, url, where)
    if scheme != "azure":
        return
    if credentials.azure.account_key:
        check_account_key("Azure account key", credentials.azure.account_key)
    fields = _connection_string_fields(credentials.azure.connection_string or "")
    if fields.get("accountkey"):
        check_account_key("AccountKey in the Azure connection string", fields["accountkey"])
    if fields.get("blobendpoint"):
        check_endpoint_url("BlobEndpoint in the Azure connection string", fields["blobendpoint"], where)


def _connection_string_fields(text: str) -> dict[str, str]:
    pairs = (part.partition("=") for part in text.split(";"))
    return {name.strip().lower(): value.strip() for name, sep, value in pairs if sep}


def _without_secrets(url: str) -> str:
    """The URL as it may be shown: no user:password@ and no query (a SAS token lives there)."""
    head, _, _ = url.partition("?")
    scheme, sep, rest = head.rpartition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"
