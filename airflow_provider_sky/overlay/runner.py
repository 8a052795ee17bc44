"""Turn a TransferPlan into running gateways that move the bytes, watch them, and tear them down.

The steps are separate because the operator runs them in different places: ``start`` in the
worker (list, diff, compile, start gateways, load programs, hand out the objects),
``watch`` in the triggerer (poll asynchronously, relay acknowledgements from destinations to
sources, log progress, end on one outcome), ``finish`` and ``teardown`` in the worker again.
``run_overlay`` chains them in one process for the CLI and ``deferrable=False``.

What it reuses from the direct path, unchanged: request validation, every pre-write check,
the streamed listing and sync diff, chunking rules and the ``sky-*`` stamps, so a rerun skips
what an earlier run (direct or overlay) verified, and ``sync --delete`` deletes only after
every copy succeeded.

Nothing is left behind: a failure in any step stops every gateway (each aborts its open
uploads), kills the processes, aborts stale uploads under the destination prefixes, and
removes the job directory with its keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_sky.credentials import StoreCredentials
from airflow_provider_sky.errors import SkyError, SkyUserError
from airflow_provider_sky.gateway.program import GatewayProgram, compile_programs, partitions
from airflow_provider_sky.gateway.storeconf import store_config
from airflow_provider_sky.gateway.tls import JobAuthority, read_token, write_token
from airflow_provider_sky.overlay.client import ControlClient
from airflow_provider_sky.overlay.fleet import (
    GatewayProcess,
    Placement,
    gateway_alive,
    placement_from_doc,
)
from airflow_provider_sky.planner.plan import TransferPlan
from airflow_provider_sky.transfer.engine import (
    StoreSet,
    common_limits,
    default_open_store,
    delete_extras,
    grouped_actions,
    preflight,
    skips,
)
from airflow_provider_sky.transfer.jobs import part_size_of
from airflow_provider_sky.transfer.pipeline import Dest
from airflow_provider_sky.transfer.progress import ProgressTracker
from airflow_provider_sky.transfer.request import CopyRequest
from airflow_provider_sky.transfer.stages import Writer
from airflow_provider_sky.transfer.summary import CopySummary, DestinationSummary
from airflow_provider_sky.uri import parse_uri

log = logging.getLogger(__name__)
SUBMIT_BATCH = 500
POLL_INTERVAL_S = 0.5
GATEWAY_LOST_AFTER_S = 6.0  # a gateway that misses polls this long is dead


class OverlayFailed(SkyError):
    """The overlay could not finish; every gateway was stopped and nothing partial is left."""


@dataclass
class OverlayOptions:
    compression: str = "off"  # "zstd" or "off" (``auto`` is decided before, from a sample)
    memory_mb: int = 256  # chunk bytes in flight per gateway
    workers: int = 8  # read / write threads per gateway
    idle_timeout_s: float = 900.0
    poll_interval_s: float = POLL_INTERVAL_S
    log_interval_s: float = 10.0
    heartbeat_interval_s: float = 300.0  # gateway VMs' janitor TTL counts from the last beat


@dataclass
class OverlayHandle:
    """Everything needed to watch, finish or tear down a running overlay job: plain data.

    No secret: the token and keys live in ``job_dir`` (mode 0700), which teardown removes.
    """

    job_id: str
    job_dir: str
    request: dict[str, Any]
    plan: dict[str, Any]
    gateways: list[dict[str, Any]]
    destinations: dict[str, str]  # destination URI -> region
    expected: dict[str, dict[str, int]]  # region -> {"objects": n, "bytes": b}
    skipped: dict[str, dict[str, int]]  # destination URI -> {"objects": n, "bytes": b}
    started_at: float
    placement: str
    options: dict[str, Any] = field(default_factory=dict)
    placement_doc: dict[str, Any] = field(default_factory=dict)
    stale_uploads_aborted: dict[str, int] = field(default_factory=dict)  # destination URI -> uploads
    replan: dict[str, Any] | None = None  # ReplanSpec as a dict; None: keep the first plan
    submitted_at: float = 0.0  # when the sources got their objects: the transfer's own clock starts

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> OverlayHandle:
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})

    def processes(self) -> list[GatewayProcess]:
        return [GatewayProcess(**g) for g in self.gateways]

    @property
    def path(self) -> Path:
        return Path(self.job_dir)


@dataclass
class OverlayOutcome:
    """What the watch ended with: ``status`` is "success" or "failed"."""

    status: str
    message: str = ""
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # region -> written objects
    edges: dict[str, dict[str, Any]] = field(default_factory=dict)  # "a->b" -> bytes, seconds
    gateways: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> rss, cpu, budget
    seconds: float = 0.0  # from handing out the objects to the last one written
    wall_seconds: float = 0.0  # from the first gateway started (start-up included)
    switches: list[dict[str, Any]] = field(default_factory=list)  # re-plans applied (replan.Switch)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> OverlayOutcome:
        return cls(**doc)


def jobs_root() -> Path:
    from airflow_provider_sky.launch.state import state_root

    root = state_root() / "overlay-jobs"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


# -- start ------------------------------------------------------------------------------------
@dataclass
class PreparedCopy:
    """The request checked, listed and diffed: what each destination needs, before any gateway."""

    request: CopyRequest
    destinations: dict[str, str]  # destination URI -> region
    manifests: list[dict[str, Any]]
    expected: dict[str, dict[str, int]]  # region -> {"objects", "bytes"}
    skipped: dict[str, dict[str, int]]  # destination URI -> {"objects", "bytes"}
    stale_uploads_aborted: dict[str, int] = field(default_factory=dict)  # destination URI -> uploads

    @property
    def volume_bytes(self) -> int:
        """Bytes leaving the source (once per object, whatever the number of destinations)."""
        return sum(m["size"] for m in self.manifests)


def prepare(
    request: CopyRequest, destination_regions: dict[str, str], credentials: StoreCredentials | None = None
) -> PreparedCopy:
    """Every pre-write check of the direct path, then the listing and diff (no byte written).

    ``destination_regions`` maps each destination URI to its region in the plan.
    """
    request.validate()
    stores = StoreSet(default_open_store, credentials or StoreCredentials())
    try:
        src_uri = parse_uri(request.source)
        dst_uris = [parse_uri(d) for d in request.destinations]
        source_store, selection, targets = preflight(request, src_uri, dst_uris, stores)
        dests = [
            Dest(t, Writer(t.store, t.uri.bucket), ProgressTracker(str(t.uri)), DestinationSummary(str(t.uri)))
            for t in targets
        ]
        region_of = {d.name: destination_regions[d.name] for d in dests}
        aborted = {}
        if not request.dry_run:  # what a killed earlier run left unfinished where this run writes
            aborted = {str(t.uri): t.store.abort_stale_uploads(t.uri.bucket, t.mapping.dst_prefix) for t in targets}
        limits = common_limits([type(d.target.store).part_limits for d in dests])
        manifests, expected, skipped = _manifests(request, source_store, selection, dests, region_of, limits)
        return PreparedCopy(request, region_of, manifests, expected, skipped, aborted)
    finally:
        stores.close()


def launch(
    prepared: PreparedCopy,
    plan: TransferPlan,
    placement: Placement,
    credentials: StoreCredentials | None = None,
    options: OverlayOptions | None = None,
    *,
    replan: dict[str, Any] | None = None,
    grid: dict[str, Any] | None = None,
) -> OverlayHandle:
    """Start gateways, load their programs and hand the objects to the sources.

    With ``replan`` (a ReplanSpec dict) and the ``grid`` document the plan came from, the
    watch re-plans when measured rates drift (see replan.py).

    On any failure every gateway started so far is torn down before the error propagates.
    """
    options = options or OverlayOptions()
    credentials = credentials or StoreCredentials()
    request = prepared.request
    check_plan_regions(plan, prepared.destinations)
    job_id = uuid.uuid4().hex[:12]
    programs = compile_programs(plan, job_id)
    job_dir = jobs_root() / job_id
    _write_job_dir(job_dir, job_id, programs)
    handle = OverlayHandle(
        job_id=job_id, job_dir=str(job_dir), request=request.to_dict(), plan=plan.to_dict(), gateways=[],
        destinations=prepared.destinations, expected=prepared.expected, skipped=prepared.skipped,
        started_at=time.time(), placement=placement.name, options=asdict(options), placement_doc=placement.to_doc(),
        stale_uploads_aborted=prepared.stale_uploads_aborted, replan=replan,
    )  # fmt: skip
    try:
        _save_expected(job_dir, prepared.manifests)
        if grid is not None:
            (job_dir / "grid.json").write_text(json.dumps(grid))
        _start_all(handle, programs, placement, options)
        record_gateways(handle)
        loaded = programs_for(programs, handle, placement, request, credentials, prepared.destinations, options)
        asyncio.run(_load_and_submit(handle, loaded, prepared.manifests))
        handle.submitted_at = time.time()
        log.info("Overlay job %s: %d gateways running", job_id, len(handle.gateways))
        return handle
    except BaseException:
        teardown(handle, credentials=credentials)
        raise


def start(
    request: CopyRequest,
    plan: TransferPlan,
    destination_regions: dict[str, str],
    placement: Placement,
    credentials: StoreCredentials | None = None,
    options: OverlayOptions | None = None,
) -> OverlayHandle:
    """``prepare`` then ``launch``."""
    return launch(prepare(request, destination_regions, credentials), plan, placement, credentials, options)


def _abort_stale(request: CopyRequest, destinations: dict[str, str], credentials: StoreCredentials) -> int:
    """What a killed earlier run left unfinished where this run writes."""
    stores = StoreSet(default_open_store, credentials)
    try:
        _, _, targets = preflight(request, parse_uri(request.source), [parse_uri(d) for d in destinations], stores)
        return sum(t.store.abort_stale_uploads(t.uri.bucket, t.mapping.dst_prefix) for t in targets)
    finally:
        stores.close()


def _start_all(
    handle: OverlayHandle, programs: dict[str, GatewayProgram], placement: Placement, options: OverlayOptions
) -> None:
    """Start every gateway at once (each takes a second or two to import and bind)."""

    def one(gateway_id: str) -> GatewayProcess:
        return placement.start_gateway(
            gateway_id, programs[gateway_id].region, handle.path / "gateways" / gateway_id,
            memory_mb=options.memory_mb, idle_timeout_s=options.idle_timeout_s,
        )  # fmt: skip

    with ThreadPoolExecutor(max(1, len(programs))) as pool:
        futures = [pool.submit(one, g) for g in programs]
    errors = []
    for future in futures:
        try:
            handle.gateways.append(future.result().to_dict())
        except SkyError as exc:
            errors.append(str(exc))
    if errors:
        raise OverlayFailed("; ".join(errors))


def _write_job_dir(job_dir: Path, job_id: str, programs: dict[str, GatewayProgram]) -> None:
    """The job's CA signs one identity per gateway and one for the runner.

    The CA stays in the runner's job directory (0700, never sent to a gateway) so that a
    re-plan can add a gateway; teardown removes it with the directory.
    """
    job_dir.mkdir(parents=True, mode=0o700)
    authority = JobAuthority(job_id)
    authority.save(job_dir / "ca")
    write_token(job_dir, secrets.token_urlsafe(32))
    authority.issue("runner").write(job_dir / "runner")
    for gateway_id in programs:
        issue_gateway_identity(job_dir, job_id, gateway_id, authority)


def issue_gateway_identity(job_dir: Path, job_id: str, gateway_id: str, authority: JobAuthority | None = None) -> Path:
    """A gateway's certificate, key and the job token, in its own directory."""
    authority = authority or JobAuthority.load(job_dir / "ca", job_id)
    directory = authority.issue(gateway_id).write(job_dir / "gateways" / gateway_id)
    write_token(directory, read_token(job_dir))
    return directory


def record_gateways(handle: OverlayHandle) -> None:
    """Every gateway ever started, in the job directory too: teardown stops gateways a re-plan
    added even when it only has an older copy of the handle (a restarted trigger's kwargs)."""
    (handle.path / "gateways.json").write_text(json.dumps(handle.gateways))


def load_recorded_gateways(handle: OverlayHandle) -> None:
    """Add to ``handle`` the gateways ``record_gateways`` wrote that it does not know yet."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        recorded = json.loads((handle.path / "gateways.json").read_text())
        known = {g["gateway_id"] for g in handle.gateways}
        handle.gateways.extend(g for g in recorded if g["gateway_id"] not in known)


def _manifests(
    request: CopyRequest,
    source_store: Any,
    selection: Any,
    dests: list[Dest],
    region_of: dict[str, str],
    limits: Any,
) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """One manifest per source object that some destination needs, with each one's key there."""
    manifests: list[dict[str, Any]] = []
    expected = {region: {"objects": 0, "bytes": 0} for region in region_of.values()}
    skipped = {d.name: {"objects": 0, "bytes": 0} for d in dests}
    for group in grouped_actions(request, source_store, selection, dests):
        dst_keys: dict[str, str] = {}
        source = group[0][1].source
        assert source is not None
        for dest, action in group:
            if skips(dest, action):
                skipped[dest.name]["objects"] += 1
                skipped[dest.name]["bytes"] += source.size
                continue
            region = region_of[dest.name]
            dst_keys[region] = action.dst_key
            expected[region]["objects"] += 1
            expected[region]["bytes"] += source.size
        if not dst_keys:
            continue
        part_size = part_size_of(
            source.size, chunk_size=request.chunk_size, threshold=request.multipart_threshold, limits=limits
        )
        manifests.append({
            "object_id": len(manifests), "key": source.key, "size": source.size, "etag": source.etag,
            "checksums": dict(source.checksums), "metadata": dict(source.metadata), "part_size": part_size,
            "dst_keys": dst_keys,
        })  # fmt: skip
    return manifests, expected, skipped


def _save_expected(job_dir: Path, manifests: list[dict[str, Any]]) -> None:
    """What each destination must hold at the end, for the final check (kept out of XCom)."""
    with open(job_dir / "expected.jsonl", "w") as fh:
        for m in manifests:
            fh.write(json.dumps({"size": m["size"], "dst_keys": m["dst_keys"]}) + "\n")


def _iter_expected(job_dir: Path) -> Iterator[dict[str, Any]]:
    with open(job_dir / "expected.jsonl") as fh:
        for line in fh:
            yield json.loads(line)


def programs_for(
    programs: dict[str, GatewayProgram],
    handle: OverlayHandle,
    placement: Placement,
    request: CopyRequest,
    credentials: StoreCredentials,
    region_of: dict[str, str],
    options: OverlayOptions,
    parts: list[Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each program with its peers' addresses (as seen from its region) and its store."""
    by_region: dict[str, list[GatewayProcess]] = {}
    for process in handle.processes():
        by_region.setdefault(process.region, []).append(process)
    uri_of_region = {region: uri for uri, region in region_of.items()}
    parts = parts if parts is not None else partitions(TransferPlan.from_dict(handle.plan))
    out = {}
    for gateway_id, program in programs.items():
        program.peers = {
            n: [f"{p.host or placement.data_host(program.region, n)}:{p.data_port}" for p in by_region[n]]
            for n in program.connections
        }
        uri = request.source if program.reads else uri_of_region.get(program.region)
        if uri is not None:
            scheme = parse_uri(uri).scheme
            program.store = store_config(uri, credentials, placement.store_endpoint(program.region, scheme))
        doc = program.to_dict()
        if program.reads:  # so the source can drop every path through a relay the runner lost
            doc["partition_regions"] = {str(p.id): sorted(p.regions() - {program.region}) for p in parts}
        doc["compression"] = options.compression
        doc["workers"] = options.workers
        out[gateway_id] = doc
    return out


async def _load_and_submit(
    handle: OverlayHandle, programs: dict[str, dict[str, Any]], manifests: list[dict[str, Any]]
) -> None:
    """Load receivers before senders, then hand the objects out to the source gateways."""
    urls = {p.gateway_id: p.control_url for p in handle.processes()}
    async with ControlClient(handle.path) as client:
        order = sorted(programs, key=lambda g: programs[g]["reads"])  # sources last
        for gateway_id in order:
            await client.load(urls[gateway_id], programs[gateway_id])
        sources = [g for g in order if programs[g]["reads"]]
        for start_at in range(0, len(manifests), SUBMIT_BATCH):
            batch = manifests[start_at : start_at + SUBMIT_BATCH]
            target = sources[(start_at // SUBMIT_BATCH) % len(sources)]
            await client.submit(urls[target], batch)


# -- finish and teardown ------------------------------------------------------------------------
def finish(
    handle: OverlayHandle,
    outcome: OverlayOutcome,
    credentials: StoreCredentials | None = None,
    cancel: threading.Event | None = None,
) -> CopySummary:
    """Check every destination holds what it should, delete extras if asked, tear down, summarise.

    Raises OverlayFailed (after teardown) when the outcome failed or a check does not hold.
    """
    try:
        if outcome.status != "success":
            raise OverlayFailed(
                f"Overlay transfer {handle.job_id} failed: {outcome.message}. Every gateway was stopped and no "
                "partial object was kept; objects already verified stay and a retry skips them"
            )
        request = CopyRequest.from_dict(handle.request)
        summary = _verify_and_summarise(handle, outcome, request, credentials or StoreCredentials(), cancel)
        return summary
    finally:
        teardown(handle, aborted=outcome.status != "success", credentials=credentials)


def _verify_and_summarise(
    handle: OverlayHandle,
    outcome: OverlayOutcome,
    request: CopyRequest,
    credentials: StoreCredentials,
    cancel: threading.Event | None,
) -> CopySummary:
    stores = StoreSet(default_open_store, credentials)
    try:
        summary = CopySummary(request.source, request.mode)
        src_uri = parse_uri(request.source)
        for uri_text, region in handle.destinations.items():
            uri = parse_uri(uri_text)
            store = stores.get(uri)
            results = outcome.results.get(region, [])
            written = {r["dst_key"]: r for r in results}
            for expected in _iter_expected(handle.path):
                key = expected["dst_keys"].get(region)
                if key is None:
                    continue
                info = store.stat(uri.bucket, key)
                if key not in written or info is None or info.size != expected["size"]:
                    raise OverlayFailed(
                        f"Overlay transfer {handle.job_id}: {uri.with_key(key)} is missing or has the wrong size "
                        "after the gateways reported it written; rerun the task (verified objects are skipped)"
                    )
            dest = DestinationSummary(uri_text)
            dest.objects_copied = len(results)
            dest.bytes_copied = sum(r["size"] for r in results)
            dest.checksums_verified = len(results)
            dest.whole_object_verified = sum(1 for r in results if r["whole_object_verified"])
            dest.multipart_objects = sum(1 for r in results if r["multipart"])
            dest.objects_skipped = handle.skipped[uri_text]["objects"]
            dest.bytes_skipped = handle.skipped[uri_text]["bytes"]
            dest.stale_uploads_aborted = handle.stale_uploads_aborted.get(uri_text, 0)
            dest.seconds = outcome.seconds
            summary.destinations.append(dest)
        if request.delete:
            source_store, selection, targets = preflight(request, src_uri, [parse_uri(d) for d in handle.destinations],
                                                         stores)  # fmt: skip
            for target, dest in zip(targets, summary.destinations, strict=True):
                live = Dest(target, Writer(target.store, target.uri.bucket), ProgressTracker(dest.destination), dest)
                delete_extras(request, source_store, selection, live, cancel or threading.Event(), None)
        summary.seconds = outcome.seconds
        return summary
    finally:
        stores.close()


def teardown(handle: OverlayHandle, *, aborted: bool = True, credentials: StoreCredentials | None = None) -> None:
    """Stop every gateway (each aborts its open uploads), kill what is left, remove the job dir.

    Idempotent and safe to call from anywhere (worker, trigger, on_kill, CLI).
    """
    load_recorded_gateways(handle)
    processes = handle.processes()
    if handle.path.exists() and processes:
        with contextlib.suppress(Exception):
            asyncio.run(_stop_all(handle, processes))
    placement_from_doc(handle.placement_doc).release(processes)
    if aborted:
        _abort_destination_uploads(handle, credentials)
    shutil.rmtree(handle.path, ignore_errors=True)


async def _stop_all(handle: OverlayHandle, processes: list[GatewayProcess]) -> None:
    async with ControlClient(handle.path, timeout=5.0) as client:

        async def stop(process: GatewayProcess) -> None:
            with contextlib.suppress(SkyError):
                await client.stop(process.control_url)

        await asyncio.gather(*(stop(p) for p in processes))
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(gateway_alive(p.pid, p.gateway_id) for p in processes):
        await asyncio.sleep(0.05)


def _abort_destination_uploads(handle: OverlayHandle, credentials: StoreCredentials | None) -> None:
    """A gateway killed before it could abort leaves unfinished uploads: clear ours under each prefix."""
    with contextlib.suppress(SkyError, OSError):
        _abort_stale(CopyRequest.from_dict(handle.request), handle.destinations, credentials or StoreCredentials())


# -- one call ---------------------------------------------------------------------------------
def run_overlay(
    request: CopyRequest,
    plan: TransferPlan,
    destination_regions: dict[str, str],
    placement: Placement,
    credentials: StoreCredentials | None = None,
    options: OverlayOptions | None = None,
    *,
    log_line: Callable[[str], Any] | None = None,
    cancel: threading.Event | None = None,
    timeout_s: float | None = None,
) -> tuple[CopySummary, OverlayHandle, OverlayOutcome]:
    """Start, watch, finish and tear down in this process."""
    from airflow_provider_sky.overlay.watch import watch

    handle = start(request, plan, destination_regions, placement, credentials, options)
    try:
        outcome = asyncio.run(
            watch(handle, log_line=log_line, cancel=cancel.is_set if cancel else None, timeout_s=timeout_s)
        )
    except BaseException:
        teardown(handle, credentials=credentials)
        raise
    return finish(handle, outcome, credentials, cancel), handle, outcome


def check_plan_regions(plan: TransferPlan, destination_regions: dict[str, str]) -> None:
    """The plan must start where the source is and end where each destination is."""
    wanted = set(destination_regions.values())
    if wanted != set(plan.destinations):
        raise SkyUserError(
            f"The plan goes to {', '.join(plan.destinations)} but the destinations are in {', '.join(sorted(wanted))}",
            "plan from the source's region to each destination's region",
        )
    if not partitions(plan):
        raise SkyUserError("The plan carries no flow", "plan again with a reachable throughput goal")
