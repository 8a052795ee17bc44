"""SkyTransferHook: Airflow connections in, a verified copy out.

The hook is the only place where the transfer path touches Airflow: it turns the official
providers' connections (`aws_default`, `google_cloud_default`, `wasb_default`) into the plain
credential objects the Airflow-free engine takes, and reports the source and destinations to
Airflow's hook-lineage collector so OpenLineage and Assets see them.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from airflow.sdk import BaseHook
from airflow.sdk.lineage import get_hook_lineage_collector

from airflow_provider_sky.credentials import StoreCredentials
from airflow_provider_sky.hooks.connections import store_credentials_from_connections
from airflow_provider_sky.hooks.masking import mask_in_airflow
from airflow_provider_sky.transfer.engine import run_copy
from airflow_provider_sky.transfer.progress import ProgressSink
from airflow_provider_sky.transfer.request import CopyRequest
from airflow_provider_sky.transfer.summary import CopySummary
from airflow_provider_sky.uri import ObjectURI, parse_uri


class SkyTransferHook(BaseHook):
    """Copies between s3://, gs://, azure:// and file:// using the connections named here."""

    hook_name = "Sky transfer"

    def __init__(
        self,
        aws_conn_id: str | None = "aws_default",
        gcp_conn_id: str | None = "google_cloud_default",
        azure_conn_id: str | None = "wasb_default",
    ) -> None:
        super().__init__()
        mask_in_airflow()
        self.aws_conn_id = aws_conn_id
        self.gcp_conn_id = gcp_conn_id
        self.azure_conn_id = azure_conn_id

    def get_credentials(self, uris: Sequence[ObjectURI]) -> StoreCredentials:
        """Look up only the connections the given URIs need, so unused clouds need no connection."""
        return store_credentials_from_connections(
            aws_conn_id=self.aws_conn_id,
            gcp_conn_id=self.gcp_conn_id,
            azure_conn_id=self.azure_conn_id,
            needed_schemes={uri.scheme for uri in uris},
        )

    def copy(
        self, request: CopyRequest, *, progress: ProgressSink | None = None, cancel: threading.Event | None = None
    ) -> CopySummary:
        """Run the copy in this process and return the engine's summary."""
        uris = [parse_uri(request.source), *(parse_uri(d) for d in request.destinations)]
        credentials = self.get_credentials(uris)
        summary = run_copy(request, credentials, progress=progress, cancel=cancel)
        if not request.dry_run:
            self._report_lineage(uris[0], uris[1:])
        return summary

    def _report_lineage(self, source: ObjectURI, destinations: Sequence[ObjectURI]) -> None:
        collector = get_hook_lineage_collector()
        collector.add_input_asset(context=self, uri=str(source))
        for destination in destinations:
            collector.add_output_asset(context=self, uri=str(destination))
