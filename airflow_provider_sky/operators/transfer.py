"""SkyTransferOperator: copy or sync objects between clouds and the local disk from a DAG.

Today the copy runs inside the worker on the direct path (source store -> destination store);
the gateway overlay chosen by the planner will run the same request on remote gateways and
defer to a trigger. The operator's arguments and XCom result stay the same when it does.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_sky.hooks.transfer import SkyTransferHook
from airflow_provider_sky.links.storage import SkyDestinationLink
from airflow_provider_sky.transfer.progress import LogProgress
from airflow_provider_sky.transfer.request import CopyRequest, MiB
from airflow_provider_sky.uri import parse_uri

if TYPE_CHECKING:
    from airflow.sdk import Context


class SkyTransferOperator(BaseOperator):
    """Copy (`mode="cp"`) or synchronise (`mode="sync"`) a source prefix or object to destinations.

    :param source: `s3://`, `gs://`, `azure://` (or `https://ACCOUNT.blob.core.windows.net/...`)
        or `file:///` URI of one object or a prefix (a trailing `/` copies the prefix's contents).
    :param destination: one URI or a list of URIs; a trailing `/` means "into this directory".
    :param mode: "cp" copies every object (objects already copied and verified by an earlier try
        are skipped); "sync" copies only objects missing or differing at the destination.
    :param delete: with "sync", delete destination objects the source no longer has.
    :param aws_conn_id / gcp_conn_id / azure_conn_id: Airflow connections in the official
        providers' formats; only those the URIs need are looked up.
    :param chunk_size_mb: size of the parallel chunks large objects are split into.
    :param concurrency: chunks (or batches of small objects) in flight at once; memory for
        object bytes stays below `concurrency * chunk_size_mb`.
    :param multipart_threshold_mb: objects larger than this move as parallel chunks.
    :param dry_run: list what would be copied or deleted, write nothing.
    :param progress_interval_s: how often progress (bytes, rate, ETA) is logged.
    """

    template_fields: Sequence[str] = (
        "source",
        "destination",
        "mode",
        "delete",
        "aws_conn_id",
        "gcp_conn_id",
        "azure_conn_id",
        "chunk_size_mb",
        "concurrency",
        "multipart_threshold_mb",
        "dry_run",
    )
    ui_color = "#cfe8ff"
    operator_extra_links = (SkyDestinationLink(),)

    def __init__(
        self,
        *,
        source: str,
        destination: str | Sequence[str],
        mode: str = "cp",
        delete: bool = False,
        aws_conn_id: str | None = "aws_default",
        gcp_conn_id: str | None = "google_cloud_default",
        azure_conn_id: str | None = "wasb_default",
        chunk_size_mb: int = 16,
        concurrency: int = 16,
        multipart_threshold_mb: int = 16,
        dry_run: bool = False,
        progress_interval_s: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.destination = destination
        self.mode = mode
        self.delete = delete
        self.aws_conn_id = aws_conn_id
        self.gcp_conn_id = gcp_conn_id
        self.azure_conn_id = azure_conn_id
        self.chunk_size_mb = chunk_size_mb
        self.concurrency = concurrency
        self.multipart_threshold_mb = multipart_threshold_mb
        self.dry_run = dry_run
        self.progress_interval_s = progress_interval_s
        self._cancel = threading.Event()

    def build_request(self) -> CopyRequest:
        """Validate rendered arguments into the engine's request; raises SkyUserError on bad input."""
        return CopyRequest.build(
            self.source,
            self.destination,
            mode=self.mode,
            delete=bool(self.delete),
            chunk_size=int(self.chunk_size_mb) * MiB,
            concurrency=int(self.concurrency),
            multipart_threshold=int(self.multipart_threshold_mb) * MiB,
            dry_run=bool(self.dry_run),
        )

    def execute(self, context: Context) -> dict[str, Any]:
        request = self.build_request()
        hook = SkyTransferHook(self.aws_conn_id, self.gcp_conn_id, self.azure_conn_id)
        verb = "Dry run of" if request.dry_run else request.mode
        self.log.info("%s %s -> %s", verb, request.source, ", ".join(request.destinations))
        progress = LogProgress(
            self.log, self.progress_interval_s, log_copies=request.dry_run, dry_run=request.dry_run
        )
        summary = hook.copy(request, progress=progress, cancel=self._cancel)
        SkyDestinationLink.persist(context, parse_uri(request.destinations[0]))
        result = summary.to_dict()
        self.log.info("Transfer summary: %s", result)
        return result

    def on_kill(self) -> None:
        """Stop scheduling chunks; the engine aborts open multipart uploads before it returns."""
        self._cancel.set()
