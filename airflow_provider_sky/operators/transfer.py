"""SkyTransferOperator: copy or sync objects between clouds and the local disk from a DAG.

Two ways to move the bytes, one result:

- **direct path**: the worker copies source -> destination itself (``overlay="never"``, or
  ``"auto"`` when gateways would not pay);
- **gateway overlay**: the planner's relays, gateway counts and connections become running
  gateways (``overlay="always"``, or ``"auto"`` when the plan says they pay; see
  docs/overlay.md). ``execute`` lists, diffs, plans, starts the gateways and defers to
  :class:`SkyTransferTrigger`; ``execute_complete`` verifies, tears down and reports.

The XCom result keeps the direct path's keys and adds ``overlay``: the decision and its reason,
the plan, bytes and rate per overlay edge, the gateways, and predicted vs measured throughput
and cost.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.sdk import BaseOperator

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.hooks.transfer import SkyTransferHook
from airflow_provider_sky.links.plan import SkyPlanLink
from airflow_provider_sky.links.storage import SkyDestinationLink
from airflow_provider_sky.params import (
    parse_backend_options,
    parse_bool,
    parse_choice,
    parse_list,
    parse_number,
    parse_optional_number,
)
from airflow_provider_sky.transfer.progress import LogProgress
from airflow_provider_sky.transfer.request import CopyRequest, MiB
from airflow_provider_sky.uri import parse_uri

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_sky.hooks.planner import SkyPlannerHook
    from airflow_provider_sky.overlay.runner import OverlayHandle
    from airflow_provider_sky.planner.plan import TransferPlan


class SkyTransferOperator(BaseOperator):
    """Copy (`mode="cp"`) or synchronise (`mode="sync"`) a source prefix or object to destinations.

    :param source: `s3://`, `gs://`, `azure://` (or `https://ACCOUNT.blob.core.windows.net/...`)
        or `file:///` URI of one object or a prefix (a trailing `/` copies the prefix's contents).
    :param destination: one URI or a list of URIs; a trailing `/` means "into this directory".
    :param mode: "cp" copies every object (objects already copied and verified by an earlier try
        are skipped); "sync" copies only objects missing or differing at the destination.
    :param delete: with "sync", delete destination objects the source no longer has.
    :param objective: "cost" (least cost at ``throughput_goal_gbps``) or "throughput" (most
        throughput within ``budget_usd_per_gb``).
    :param throughput_goal_gbps: the planner's goal (with ``objective="cost"``; default 1 Gbit/s).
    :param budget_usd_per_gb: the planner's budget in US dollars per GB (with ``objective="throughput"``).
    :param max_instances_per_region: gateway VMs a region may run (planner limit).
    :param deny_regions: region globs the data must never transit.
    :param allow_regions: region globs the data may only transit.
    :param grid: throughput/price grid: a packaged name, a testbed profile name (`triangle`), a
        `sky-grid/1` file; default from the `sky` connection, else the packaged cloud grid.
    :param sky_conn_id: a `sky` connection with team defaults (grid, limits, region rules).
    :param source_region: the grid region the source store is in; needed for the overlay.
    :param destination_region: the grid region of the destination (for several destinations, a
        list in their order); needed for the overlay.
    :param overlay: "auto", "always" or "never" (the direct path in the worker).
    :param gateway_cloud: where gateways run: "vm" (a VM per gateway in each region's own cloud,
        started over SSH; ``local:*`` regions use the embedded sshd cloud; "local" is an older name),
        "testbed" (a live network-namespace testbed), "process" (plain processes on this machine);
        default: the testbed holding the plan's regions, else "vm".
    :param backend_options: per-cloud options for gateway VMs, as ``SkyLaunchOperator`` takes them
        plus ``gateway_instance_type``, ``gateway_python``, ``gateway_setup`` and ``gateway_ports``
        (docs/overlay.md), e.g. ``{"aws": {"image_id": "ami-...", "security_group_ids": ["sg-..."]}}``.
    :param compression: "auto" (zstd when a sample of the data compresses), "zstd" or "off".
    :param deferrable: wait for the gateways in the triggerer (no worker slot held).
    :param cancel_on_kill: stop the gateways when the task is killed while deferred.
    :param aws_conn_id: Airflow connection for s3:// (the amazon provider's format).
    :param gcp_conn_id: Airflow connection for gs:// (the google provider's format).
    :param azure_conn_id: Airflow connection for azure:// (the microsoft-azure provider's format);
        only the connections the URIs need are looked up.
    :param chunk_size_mb: size of the parallel chunks large objects are split into.
    :param concurrency: chunks (or batches of small objects) in flight at once on the direct path.
    :param multipart_threshold_mb: objects larger than this move as parallel chunks.
    :param gateway_memory_mb: chunk bytes in flight per gateway, at most.
    :param dry_run: list what would be copied or deleted, write nothing (kept as ``dry_run_only``:
        ``BaseOperator.dry_run()`` is a method this attribute must not hide).
    :param progress_interval_s: how often progress (bytes, rate, ETA) is logged.
    :param assets: add the source to ``inlets`` and each destination to ``outlets`` as Airflow
        Assets (docs/lineage.md). Decided when the DAG is parsed, so the URIs must be literal.
    """

    template_fields: Sequence[str] = (
        "source", "destination", "mode", "delete", "objective", "throughput_goal_gbps", "budget_usd_per_gb",
        "max_instances_per_region", "deny_regions", "allow_regions", "grid", "sky_conn_id", "source_region",
        "destination_region", "overlay", "gateway_cloud", "backend_options", "compression", "aws_conn_id",
        "gcp_conn_id", "azure_conn_id", "chunk_size_mb", "concurrency", "multipart_threshold_mb", "gateway_memory_mb",
        "dry_run_only", "cancel_on_kill",
    )  # fmt: skip
    template_fields_renderers = {"backend_options": "json"}
    ui_color = "#cfe8ff"
    operator_extra_links = (SkyDestinationLink(), SkyPlanLink())

    def __init__(
        self,
        *,
        source: str,
        destination: str | Sequence[str],
        mode: str = "cp",
        delete: bool | str = False,
        objective: str = "cost",
        throughput_goal_gbps: float | str | None = None,
        budget_usd_per_gb: float | str | None = None,
        max_instances_per_region: int | str | None = None,
        deny_regions: Sequence[str] | str | None = None,
        allow_regions: Sequence[str] | str | None = None,
        grid: str | dict[str, Any] | None = None,
        sky_conn_id: str | None = None,
        source_region: str | None = None,
        destination_region: str | Sequence[str] | None = None,
        overlay: str = "auto",
        gateway_cloud: str | None = None,
        backend_options: dict[str, dict[str, Any]] | str | None = None,
        compression: str = "auto",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool | str = True,
        aws_conn_id: str | None = "aws_default",
        gcp_conn_id: str | None = "google_cloud_default",
        azure_conn_id: str | None = "wasb_default",
        chunk_size_mb: int | str = 16,
        concurrency: int | str = 16,
        multipart_threshold_mb: int | str = 16,
        gateway_memory_mb: int | str = 256,
        dry_run: bool | str = False,
        progress_interval_s: float = 10.0,
        assets: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if parse_bool("assets", assets):
            from airflow_provider_sky.lineage.assets import transfer_assets

            inlets, outlets = transfer_assets(source, destination)
            self.inlets, self.outlets = [*self.inlets, *inlets], [*self.outlets, *outlets]
        self.source = source
        self.destination = destination
        self.mode = mode
        self.delete = delete
        self.objective = objective
        self.throughput_goal_gbps = throughput_goal_gbps
        self.budget_usd_per_gb = budget_usd_per_gb
        self.max_instances_per_region = max_instances_per_region
        self.deny_regions = deny_regions
        self.allow_regions = allow_regions
        self.grid = grid
        self.sky_conn_id = sky_conn_id
        self.source_region = source_region
        self.destination_region = destination_region
        self.overlay = overlay
        self.gateway_cloud = gateway_cloud
        self.backend_options = backend_options
        self.compression = compression
        self.deferrable = deferrable
        self.cancel_on_kill = cancel_on_kill
        self.aws_conn_id = aws_conn_id
        self.gcp_conn_id = gcp_conn_id
        self.azure_conn_id = azure_conn_id
        self.chunk_size_mb = chunk_size_mb
        self.concurrency = concurrency
        self.multipart_threshold_mb = multipart_threshold_mb
        self.gateway_memory_mb = gateway_memory_mb
        self.dry_run_only = dry_run
        self.progress_interval_s = progress_interval_s
        self._cancel = threading.Event()
        self._handle: OverlayHandle | None = None
        self._lineage_result: dict[str, Any] | None = None  # the XCom result, for lineage on complete

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """Refuses ``assets=True``: a mapped task's Assets must be known when the DAG is parsed."""
        from airflow_provider_sky.lineage.assets import refuse_in_partial

        refuse_in_partial(kwargs)
        return super().partial(**kwargs)

    # -- arguments ---------------------------------------------------------------------------
    def build_request(self) -> CopyRequest:
        """Validate rendered arguments into the engine's request; raises SkyUserError on bad input."""
        return CopyRequest.build(
            self.source,
            self.destination,
            mode=parse_choice("mode", self.mode, ("cp", "sync")),
            delete=parse_bool("delete", self.delete),
            chunk_size=int(parse_number("chunk_size_mb", self.chunk_size_mb, minimum=1, maximum=5120, integer=True))
            * MiB,
            concurrency=int(parse_number("concurrency", self.concurrency, minimum=1, maximum=1024, integer=True)),
            multipart_threshold=int(
                parse_number("multipart_threshold_mb", self.multipart_threshold_mb, minimum=1, integer=True)
            )
            * MiB,
            dry_run=parse_bool("dry_run", self.dry_run_only),
        )

    def _switches(self) -> tuple[bool, bool]:
        """(deferrable, cancel_on_kill), parsed: a rendered "False" must neither defer nor cancel."""
        return parse_bool("deferrable", self.deferrable), parse_bool("cancel_on_kill", self.cancel_on_kill)

    def _check_overlay_arguments(self) -> None:
        """Every planner and gateway argument parsed up front: a bad one fails even on the direct path."""
        self._goal()
        self._gateway_memory_mb()
        parse_list("deny_regions", self.deny_regions)
        parse_list("allow_regions", self.allow_regions)
        parse_optional_number("max_instances_per_region", self.max_instances_per_region, minimum=1, maximum=1000,
                              integer=True)  # fmt: skip
        parse_backend_options("backend_options", self.backend_options)
        if self.gateway_cloud:
            from airflow_provider_sky.overlay.decide import GATEWAY_CLOUDS

            parse_choice("gateway_cloud", self.gateway_cloud, GATEWAY_CLOUDS)

    def _gateway_memory_mb(self) -> int:
        return int(parse_number("gateway_memory_mb", self.gateway_memory_mb, minimum=16, maximum=65536, integer=True))

    def _goal(self) -> tuple[float | None, float | None]:
        """(throughput goal, budget): the objective says which one is used; the default goal is 1 Gbit/s."""
        objective = parse_choice("objective", self.objective, ("cost", "throughput"))
        goal = parse_optional_number("throughput_goal_gbps", self.throughput_goal_gbps, minimum=0,
                                     exclusive_minimum=True)  # fmt: skip
        budget = parse_optional_number("budget_usd_per_gb", self.budget_usd_per_gb, minimum=0,
                                       exclusive_minimum=True)  # fmt: skip
        if objective == "cost":
            return (goal if goal is not None else 1.0), None
        if budget is None:
            raise SkyUserError(
                "objective='throughput' needs a cost budget", "pass budget_usd_per_gb (US dollars per GB moved)"
            )
        return None, budget

    def _regions(self, request: CopyRequest) -> tuple[str, dict[str, str]] | None:
        """The grid regions of the source and of each destination (in order), when given."""
        if not self.source_region:
            return None
        given = parse_list("destination_region", self.destination_region) or []
        from airflow_provider_sky.overlay.session import check_regions

        check_regions(request, given)
        return str(self.source_region), {str(parse_uri(d)): r for d, r in zip(request.destinations, given, strict=True)}

    def _planner_hook(self) -> SkyPlannerHook:
        from airflow_provider_sky.hooks.planner import SkyPlannerHook

        limit = parse_optional_number("max_instances_per_region", self.max_instances_per_region, minimum=1,
                                      maximum=1000, integer=True)  # fmt: skip
        return SkyPlannerHook(grid=self.grid, max_instances_per_region=None if limit is None else int(limit),
                              sky_conn_id=self.sky_conn_id)  # fmt: skip

    def _tags(self, context: Context) -> dict[str, str]:
        """DAG, run and task on every gateway VM, so the janitor can tell when its run is over."""
        from airflow_provider_sky.launch.backends.base import TAG_DAG, TAG_RUN, TAG_TASK

        ti = context["ti"]
        return {TAG_DAG: ti.dag_id, TAG_RUN: ti.run_id, TAG_TASK: ti.task_id}

    def _hook(self) -> SkyTransferHook:
        return SkyTransferHook(self.aws_conn_id, self.gcp_conn_id, self.azure_conn_id)

    # -- execution ---------------------------------------------------------------------------
    def execute(self, context: Context) -> dict[str, Any]:
        request = self.build_request()
        mode = parse_choice("overlay", self.overlay, ("auto", "always", "never"))
        compression = parse_choice("compression", self.compression, ("auto", "zstd", "off"))
        self._switches()
        self._check_overlay_arguments()
        verb = "Dry run of" if request.dry_run else request.mode
        self.log.info("%s %s -> %s", verb, request.source, ", ".join(request.destinations))
        regions = self._regions(request) if mode != "never" else None
        if mode == "always" and regions is None:
            raise SkyUserError(
                "overlay='always' needs to know where the stores are",
                "pass source_region= and destination_region= (grid region ids, e.g. aws:us-east-1)",
            )
        if regions is None or request.dry_run:
            why = "overlay='never'" if mode == "never" else "dry run" if request.dry_run else "no source_region given"
            return self._direct(context, request, {"used": False, "reason": why})
        return self._with_plan(context, request, mode, compression, *regions)

    def _direct(self, context: Context, request: CopyRequest, overlay: dict[str, Any]) -> dict[str, Any]:
        hook = self._hook()
        self.log.info("Direct path (%s)", overlay["reason"])
        progress = LogProgress(self.log, self.progress_interval_s, log_copies=request.dry_run, dry_run=request.dry_run)
        summary = hook.copy(request, progress=progress, cancel=self._cancel)
        destination = parse_uri(request.destinations[0])
        SkyDestinationLink.persist(context, destination, hook.get_credentials([destination]))
        result = self._lineage_result = summary.to_dict() | {"overlay": overlay}
        self.log.info("Transfer summary: %s", result)
        return result

    def _with_plan(
        self, context: Context, request: CopyRequest, mode: str, compression: str, source_region: str,
        destination_regions: dict[str, str],
    ) -> dict[str, Any]:  # fmt: skip
        from airflow_provider_sky.overlay import runner
        from airflow_provider_sky.overlay.decide import GATEWAY_CLOUDS
        from airflow_provider_sky.overlay.session import OverlaySettings, start_overlay
        from airflow_provider_sky.overlay.watch import watch

        goal, budget = self._goal()
        planner = self._planner_hook()
        memory = self._gateway_memory_mb()
        cloud = parse_choice("gateway_cloud", self.gateway_cloud, GATEWAY_CLOUDS) if self.gateway_cloud else None
        settings = OverlaySettings(
            source_region, destination_regions, mode, goal, budget,
            planner.rules(parse_list("deny_regions", self.deny_regions), "deny_regions"),
            planner.rules(parse_list("allow_regions", self.allow_regions), "allow_regions"),
            cloud, compression, int(memory), self.progress_interval_s, tags=self._tags(context),
            backend_options=parse_backend_options("backend_options", self.backend_options),
        )  # fmt: skip
        uris = [parse_uri(request.source), *(parse_uri(d) for d in request.destinations)]
        credentials = self._hook().get_credentials(uris)
        started = start_overlay(request, settings, planner.get_conn(), credentials, self.log.info)
        self._push_view(context, started.plan, planner, settings.deny_regions, settings.allow_regions)
        if started.handle is None:
            why = {"used": False, "reason": started.decision.reason, "plan": started.plan.to_dict()}
            return self._direct(context, request, why)
        handle = self._handle = started.handle
        SkyDestinationLink.persist(context, parse_uri(request.destinations[0]), credentials)
        state = {"reason": started.decision.reason}
        timeout = self.execution_timeout.total_seconds() if self.execution_timeout else None
        deferrable, cancel_on_kill = self._switches()
        if deferrable:
            from airflow_provider_sky.triggers.transfer import SkyTransferTrigger

            trigger = SkyTransferTrigger(
                handle=handle.to_dict(), deadline=time.time() + timeout if timeout else None,
                cancel_on_kill=cancel_on_kill, state=state,
            )  # fmt: skip
            self.defer(trigger=trigger, method_name="execute_complete")
        try:
            outcome = asyncio.run(watch(handle, log_line=self.log.info, cancel=self._cancel.is_set,
                                               timeout_s=timeout))  # fmt: skip
        except BaseException:
            runner.teardown(handle, credentials=credentials)
            raise
        event = {"status": outcome.status, "outcome": outcome.to_dict(), "handle": handle.to_dict(), "state": state}
        return self.execute_complete(context, event)

    def _push_view(self, context: Context, plan: TransferPlan, planner: SkyPlannerHook, deny: list[str] | None,
                   allow: list[str] | None) -> None:  # fmt: skip
        """The plan and its pair's frontier for the plan view, and the "Sky plan" link to it: pushed
        when planned, so the view shows the route while the gateways still work (docs/ui.md)."""
        from airflow_provider_sky.ui.view_model import VIEW_XCOM_KEY

        view = planner.viewable(plan, deny_regions=deny, allow_regions=allow, kind="transfer")
        context["ti"].xcom_push(key=VIEW_XCOM_KEY, value=view)
        SkyPlanLink.persist(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Verify every destination, delete extras if asked, tear down, and report."""
        from airflow_provider_sky.overlay import runner
        from airflow_provider_sky.overlay.report import overlay_report
        from airflow_provider_sky.planner.plan import TransferPlan

        handle = runner.OverlayHandle.from_dict(event["handle"])
        outcome = runner.OverlayOutcome.from_dict(event["outcome"])
        request = CopyRequest.from_dict(handle.request)
        uris = [parse_uri(request.source), *(parse_uri(d) for d in request.destinations)]
        credentials = self._hook().get_credentials(uris)
        summary = runner.finish(handle, outcome, credentials, self._cancel)
        plan = TransferPlan.from_dict(handle.plan)
        try:
            grid = self._planner_hook().get_conn().grid
        except SkyUserError:
            grid = None
        report = overlay_report(plan, handle, outcome, grid, event.get("state", {}).get("reason", ""))
        result = self._lineage_result = summary.to_dict() | {"overlay": report}
        self.log.info(
            "Overlay %s: %.3f Gbit/s measured vs %.3f predicted; $%.4f measured vs $%.4f predicted",
            handle.job_id, report["measured"]["throughput_gbps"], report["predicted"]["throughput_gbps"],
            report["measured"]["cost_usd"], report["predicted"]["cost_usd"],
        )  # fmt: skip
        self.log.info("Transfer summary: %s", result)
        return result

    # -- lineage (called by the OpenLineage listener only when lineage is on) ------------------
    def get_openlineage_facets_on_start(self) -> Any:
        from airflow_provider_sky.lineage.facets import transfer_lineage

        return transfer_lineage(self.source, self.destination)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from airflow_provider_sky.lineage.facets import transfer_lineage

        return transfer_lineage(self.source, self.destination, self._lineage_result)

    def on_kill(self) -> None:
        """Stop scheduling chunks; tear down gateways this try started (before it deferred)."""
        self._cancel.set()
        if self._handle is not None:
            from airflow_provider_sky.overlay import runner

            runner.teardown(self._handle)
