"""Extra links: a button on the task that opens the transfer's destination in the cloud console.

Airflow 3 renders extra links from XCom, so the operator persists the URL while it runs
(`persist`), and the UI never has to import cloud SDKs or rebuild the URL.

A store reached through its own endpoint (MinIO, moto, fake-gcs-server, Azurite: an
``endpoint_url`` / ``account_url`` in the connection, or the SDKs' endpoint variables) has no
page in the cloud's console: the bucket there is not the bucket we wrote. Such a destination
gets no button rather than a link to someone else's (or no) bucket.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlparse

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

from airflow_provider_sky.uri import ObjectURI

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

    from airflow_provider_sky.credentials import StoreCredentials

_AZURE_HOST_SUFFIX = ".blob.core.windows.net"


def custom_endpoint(uri: ObjectURI, credentials: StoreCredentials | None) -> str | None:
    """The non-cloud endpoint the store of ``uri`` is reached through, or None for the real cloud."""
    if uri.scheme == "s3":
        given = credentials.aws.endpoint_url if credentials else None
        return given or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if uri.scheme == "gs":
        return (credentials.gcp.endpoint_url if credentials else None) or os.environ.get("STORAGE_EMULATOR_HOST")
    if uri.scheme == "azure" and credentials:
        azure = credentials.azure
        if azure.account_url and not (urlparse(azure.account_url).hostname or "").endswith(_AZURE_HOST_SUFFIX):
            return azure.account_url
        fields = dict(
            part.split("=", 1) for part in (azure.connection_string or "").split(";") if "=" in part
        )  # fmt: skip
        if fields.get("UseDevelopmentStorage", "").lower() == "true":
            return "Azurite (UseDevelopmentStorage=true)"
        endpoint = fields.get("BlobEndpoint")
        if endpoint and not (urlparse(endpoint).hostname or "").endswith(_AZURE_HOST_SUFFIX):
            return endpoint
    return None


def console_url(uri: ObjectURI, credentials: StoreCredentials | None = None) -> str | None:
    """The web-console page of a bucket prefix, or None where no console shows it (local files,
    stores behind a custom endpoint)."""
    if custom_endpoint(uri, credentials):
        return None
    prefix = uri.key if uri.is_prefix_like else uri.key.rpartition("/")[0] + ("/" if "/" in uri.key else "")
    if uri.scheme == "s3":
        return f"https://s3.console.aws.amazon.com/s3/buckets/{uri.bucket}?prefix={quote(prefix, safe='')}"
    if uri.scheme == "gs":
        path = "/".join(part for part in (uri.bucket, prefix.rstrip("/")) if part)
        return f"https://console.cloud.google.com/storage/browser/{quote(path, safe='/')}"
    if uri.scheme == "azure":
        # The portal needs the subscription id to deep-link; the service's own listing URL does not.
        return (
            f"https://{uri.account}.blob.core.windows.net/{quote(uri.bucket, safe='')}"
            f"?restype=container&comp=list&prefix={quote(prefix, safe='')}"
        )
    return None


class SkyDestinationLink(BaseOperatorLink):
    """"Destination": the first destination of a SkyTransferOperator in its cloud console."""

    name = "Destination"

    @classmethod
    def persist(cls, context: Any, uri: ObjectURI, credentials: StoreCredentials | None = None) -> None:
        # An empty value (no console shows it) hides the button instead of erroring.
        context["ti"].xcom_push(key=cls().xcom_key, value=console_url(uri, credentials) or "")

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return XCom.get_value(key=self.xcom_key, ti_key=ti_key) or ""
