"""Extra links: a button on the task that opens the transfer's destination in the cloud console.

Airflow 3 renders extra links from XCom, so the operator persists the URL while it runs
(`persist`), and the UI never has to import cloud SDKs or rebuild the URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

from airflow_provider_sky.uri import ObjectURI

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


def console_url(uri: ObjectURI) -> str | None:
    """The web-console page of a bucket prefix, or None where no console exists (local files)."""
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
    def persist(cls, context: Any, uri: ObjectURI) -> None:
        # An empty value (local files have no console) hides the button instead of erroring.
        context["ti"].xcom_push(key=cls().xcom_key, value=console_url(uri) or "")

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return XCom.get_value(key=self.xcom_key, ti_key=ti_key) or ""
