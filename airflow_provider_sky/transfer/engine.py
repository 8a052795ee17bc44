"""The copy engine: validate everything, then stream listing -> diff -> chunk jobs -> read -> write.

Guarantees, and how they are kept:
- Bounded memory: every read first takes its length from a ByteBudget of
  `concurrency * chunk_size` bytes and gives it back only after the write, so object bytes in
  flight never exceed it; queued tasks are bounded too. Listings are streamed.
- Integrity: each chunk's MD5 goes with its write (the store verifies it), and CRC32Cs are
  combined into a whole-object CRC checked against the source's and destination's own
  checksums when they report one. A mismatch raises IntegrityError and the object is
  removed (multipart: never completed).
- No partial objects: on any failure or cancellation, new work stops, in-flight chunks drain,
  every open multipart upload is aborted; objects already written and verified stay, so a
  rerun skips them (their `sky-*` stamps prove it) and only redoes the rest.
- Nothing is written before every URI, bucket, permission and key has been checked.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from airflow_provider_sky.credentials import StoreCredentials
from airflow_provider_sky.errors import SkyError, SkyUserError, StoreError
from airflow_provider_sky.stores.base import MultipartUpload, ObjectStore
from airflow_provider_sky.stores.local import bad_keys_error, key_problem
from airflow_provider_sky.transfer.checksum import ChunkDigest, combine_chunks
from airflow_provider_sky.transfer.diff import Action, plan_actions
from airflow_provider_sky.transfer.jobs import ChunkJob, ObjectJob, make_job
from airflow_provider_sky.transfer.listing import (
    KeyMapping,
    SourceSelection,
    check_not_overlapping,
    iter_destination,
    iter_source,
    map_keys,
    resolve_source,
)
from airflow_provider_sky.transfer.progress import (
    PlannedAction,
    ProgressReporter,
    ProgressSink,
    ProgressTracker,
)
from airflow_provider_sky.transfer.request import CopyRequest
from airflow_provider_sky.transfer.stages import (
    ByteBudget,
    Chunk,
    Reader,
    Stopped,
    Writer,
    check_against_source,
    verifies_by_crc32c,
)
from airflow_provider_sky.transfer.summary import CopySummary, DestinationSummary
from airflow_provider_sky.uri import ObjectURI, parse_uri

log = logging.getLogger(__name__)

StoreOpener = Callable[[ObjectURI, StoreCredentials], ObjectStore]
T = TypeVar("T")
_BAD_KEYS_SHOWN = 10


class CopyCancelled(SkyError):
    """The cancel event was set; finished objects are kept and a rerun resumes from them."""


def default_open_store(uri: ObjectURI, credentials: StoreCredentials) -> ObjectStore:
    """The store registry, with file:// served locally even before the cloud backends exist."""
    try:
        from airflow_provider_sky.stores.registry import open_store
    except ImportError:
        if uri.scheme == "file":
            from airflow_provider_sky.stores.local import LocalStore

            return LocalStore()
        raise SkyUserError(f"No store backend for {uri.scheme}:// is installed", "use file:// URIs") from None
    return open_store(uri, credentials)


class _Stores:
    """One store per (scheme, account), shared by source and destinations, closed at the end."""

    def __init__(self, opener: StoreOpener, credentials: StoreCredentials) -> None:
        self._opener, self._credentials = opener, credentials
        self._open: dict[tuple[str, str], ObjectStore] = {}

    def get(self, uri: ObjectURI) -> ObjectStore:
        key = (uri.scheme, uri.account)
        if key not in self._open:
            self._open[key] = self._opener(uri, self._credentials)
        return self._open[key]

    def close(self) -> None:
        for store in self._open.values():
            store.close()


@dataclass
class _Target:
    """One validated destination: its store, URI and key mapping."""

    uri: ObjectURI
    store: ObjectStore
    mapping: KeyMapping


def is_folder_marker(key: str, size: int) -> bool:
    """A zero-byte key ending in '/': a "folder" some tools create; a file tree needs none."""
    return size == 0 and key.endswith("/")


def run_copy(
    request: CopyRequest,
    credentials: StoreCredentials | None = None,
    progress: ProgressSink | None = None,
    cancel: threading.Event | None = None,
    *,
    open_store: StoreOpener | None = None,
) -> CopySummary:
    """Copy `request.source` to each destination; raise SkyUserError before writing on bad input.

    Returns a JSON-serialisable summary (`.to_dict()`). Raises IntegrityError on a checksum
    mismatch, CopyCancelled when `cancel` is set, StoreError on store failures; in every case
    no partial object is left and verified objects stay for a rerun to skip.
    """
    request.validate()
    credentials = credentials or StoreCredentials()
    cancel = cancel or threading.Event()
    src_uri = parse_uri(request.source)
    dst_uris = [parse_uri(d) for d in request.destinations]
    stores = _Stores(open_store or default_open_store, credentials)
    started = time.monotonic()
    try:
        source_store, selection, targets = _preflight(request, src_uri, dst_uris, stores)
        summary = CopySummary(str(src_uri), request.mode, dry_run=request.dry_run)
        for target in targets:
            summary.destinations.append(_copy_to(request, source_store, selection, target, progress, cancel))
        summary.seconds = time.monotonic() - started
        return summary
    finally:
        stores.close()


def _preflight(
    request: CopyRequest, src_uri: ObjectURI, dst_uris: list[ObjectURI], stores: _Stores
) -> tuple[ObjectStore, SourceSelection, list[_Target]]:
    """Every check that can fail on user input, before a single byte is written."""
    source_store = stores.get(src_uri)
    source_store.check_bucket(src_uri.bucket, write=False)
    selection = resolve_source(source_store, src_uri)
    if selection.single is None and next(iter_source(source_store, selection), None) is None:
        raise SkyUserError(
            f"Nothing to copy: no object {src_uri} and no objects under {src_uri.with_key(selection.prefix)}",
            "check the source path (keys are case-sensitive) and that the credentials can list it",
        )
    targets = []
    for dst_uri in dst_uris:
        mapping = map_keys(selection, dst_uri)
        check_not_overlapping(selection, dst_uri, mapping)
        store = stores.get(dst_uri)
        store.check_bucket(dst_uri.bucket, write=not request.dry_run)
        check_writable = getattr(store, "check_writable", None)
        if check_writable is not None:
            check_writable(mapping.dst_prefix)
        if dst_uri.scheme == "file" and src_uri.scheme != "file":
            _refuse_unmappable_keys(source_store, selection, mapping, dst_uri)
        targets.append(_Target(dst_uri, store, mapping))
    return source_store, selection, targets


def _refuse_unmappable_keys(
    store: ObjectStore, selection: SourceSelection, mapping: KeyMapping, dst_uri: ObjectURI
) -> None:
    """List the source once and name every key a file tree cannot hold (see stores/local.py)."""
    bad: list[tuple[str, str]] = []
    total = 0
    for info in iter_source(store, selection):
        if is_folder_marker(info.key, info.size):
            continue
        why = key_problem(mapping.dst_key(info.key))
        if why:
            total += 1
            if len(bad) < _BAD_KEYS_SHOWN:
                bad.append((info.key, why))
    if total:
        raise bad_keys_error(bad, total, str(dst_uri))


def _copy_to(
    request: CopyRequest,
    source_store: ObjectStore,
    selection: SourceSelection,
    target: _Target,
    sink: ProgressSink | None,
    cancel: threading.Event,
) -> DestinationSummary:
    """Copy (or plan, for dry runs) everything for one destination, then delete extras if asked."""
    result = DestinationSummary(str(target.uri), dry_run=request.dry_run)
    tracker = ProgressTracker(str(target.uri))
    started = time.monotonic()
    if not request.dry_run:
        # What a killed earlier run left unfinished where this run writes (for one object: its key).
        result.stale_uploads_aborted = target.store.abort_stale_uploads(target.uri.bucket, target.mapping.dst_prefix)
    pipeline = _Pipeline(
        request,
        Reader(source_store, selection.uri.bucket, md5=not verifies_by_crc32c(target.store)),
        Writer(target.store, target.uri.bucket),
        tracker,
        result,
        cancel,
    )
    with ProgressReporter(tracker, sink):
        try:
            try:
                for action in _actions(request, source_store, selection, target, delete=request.dry_run):
                    if pipeline.stopping:
                        break
                    _dispatch(action, request, selection, target, pipeline, tracker, result, sink)
            except Stopped:
                pass  # a worker failed or the run was cancelled; finish() raises the reason
            tracker.listing_done = True
            pipeline.finish()
        except BaseException as exc:
            pipeline.abort(exc)
            raise
        if request.delete and not request.dry_run:
            _delete_extras(request, source_store, selection, target, pipeline, result, sink)
    result.seconds = time.monotonic() - started
    return result


def _actions(
    request: CopyRequest,
    source_store: ObjectStore,
    selection: SourceSelection,
    target: _Target,
    *,
    delete: bool,
) -> Iterator[Action]:
    return plan_actions(
        iter_source(source_store, selection),
        iter_destination(target.store, target.uri, target.mapping),
        target.mapping,
        mode=request.mode,
        delete=delete and request.delete,
        same_store_type=selection.uri.scheme == target.uri.scheme,
        stat_destination=lambda key: target.store.stat(target.uri.bucket, key),
    )


def _dispatch(
    action: Action,
    request: CopyRequest,
    selection: SourceSelection,
    target: _Target,
    pipeline: _Pipeline,
    tracker: ProgressTracker,
    result: DestinationSummary,
    sink: ProgressSink | None,
) -> None:
    """Route one decision: skip it, report it (dry run), or hand it to the pipeline."""
    if action.kind == "delete":
        assert action.destination is not None
        result.objects_deleted += 1  # only reached in dry runs; real deletes run after the copies
        if sink is not None:
            sink.on_action(
                PlannedAction(
                    "delete",
                    None,
                    str(target.uri.with_key(action.dst_key)),
                    action.destination.size,
                    action.reason,
                )
            )
        return
    source = action.source
    assert source is not None
    if action.kind == "skip" or (target.uri.scheme == "file" and is_folder_marker(source.key, source.size)):
        result.objects_skipped += 1
        result.bytes_skipped += source.size
        tracker.skipped()
        return
    tracker.planned(source.size)
    if sink is not None:
        sink.on_action(
            PlannedAction(
                "copy",
                str(selection.uri.with_key(source.key)),
                str(target.uri.with_key(action.dst_key)),
                source.size,
                action.reason,
            )
        )
    if request.dry_run:
        result.objects_copied += 1
        result.bytes_copied += source.size
        return
    limits = type(target.store).part_limits
    pipeline.submit(
        make_job(
            source,
            action.dst_key,
            chunk_size=request.chunk_size,
            threshold=request.multipart_threshold,
            limits=limits,
        )
    )


def _delete_extras(
    request: CopyRequest,
    source_store: ObjectStore,
    selection: SourceSelection,
    target: _Target,
    pipeline: _Pipeline,
    result: DestinationSummary,
    sink: ProgressSink | None,
) -> None:
    """Second merge pass, run only after every copy succeeded: delete what the source lacks."""
    batch: list[str] = []
    deleter = _Pipeline(request, pipeline.reader, pipeline.writer, pipeline.tracker, result, pipeline.cancel)
    try:
        try:
            for action in _actions(request, source_store, selection, target, delete=True):
                if action.kind != "delete":
                    continue
                if deleter.stopping:
                    break
                if sink is not None and action.destination is not None:
                    sink.on_action(
                        PlannedAction(
                            "delete",
                            None,
                            str(target.uri.with_key(action.dst_key)),
                            action.destination.size,
                            action.reason,
                        )
                    )
                batch.append(action.dst_key)
                if len(batch) >= 64:
                    deleter.run_deletes(batch)
                    batch = []
            if batch:
                deleter.run_deletes(batch)
        except Stopped:
            pass
        deleter.finish()
    except BaseException as exc:
        deleter.abort(exc)
        raise


@dataclass
class _OpenUpload:
    """Chunk bookkeeping for one multipart object, in one place."""

    job: ObjectJob
    upload: MultipartUpload
    remaining: int
    digests: list[ChunkDigest | None]
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Pipeline:
    """A bounded thread pool fed with small-object batches and chunk tasks."""

    def __init__(
        self,
        request: CopyRequest,
        reader: Reader,
        writer: Writer,
        tracker: ProgressTracker,
        result: DestinationSummary,
        cancel: threading.Event,
    ) -> None:
        self.request, self.reader, self.writer = request, reader, writer
        self.tracker, self.result, self.cancel = tracker, result, cancel
        self.budget = ByteBudget(request.memory_budget)
        self._pool = ThreadPoolExecutor(request.concurrency, thread_name_prefix="sky-copy")
        self._slots = threading.BoundedSemaphore(request.concurrency * 2)  # queued + running tasks
        self._cond = threading.Condition()
        self._pending = 0
        self._error: BaseException | None = None
        self._uploads: dict[str, _OpenUpload] = {}
        self._batch: list[ObjectJob] = []
        self._batch_bytes = 0

    @property
    def stopping(self) -> bool:
        return self._error is not None or self.cancel.is_set()

    # -- submission (main thread) ----------------------------------------------------------
    def submit(self, job: ObjectJob) -> None:
        """Queue one object: multipart objects fan out into chunk tasks at once; small ones batch.

        A batch is handed over as soon as a worker is idle, so a few objects still run in
        parallel; it only grows (to `small_batch_objects`) while every worker is busy,
        which is when per-task overhead starts to matter.
        """
        if job.multipart:
            self._submit_multipart(job)
            return
        size = job.source.size
        if self._batch and self._batch_bytes + size > self.request.chunk_size:
            self._flush()
        self._batch.append(job)
        self._batch_bytes += size
        if len(self._batch) >= self.request.small_batch_objects or self._pending < self.request.concurrency:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            batch, nbytes = self._batch, self._batch_bytes
            self._batch, self._batch_bytes = [], 0
            self._spawn(lambda: self._copy_small(batch), nbytes)

    def _submit_multipart(self, job: ObjectJob) -> None:
        if self.stopping:
            return
        upload = self.writer.start(job)
        state = _OpenUpload(job, upload, job.part_count, [None] * job.part_count)
        with self._cond:
            self._uploads[upload.upload_id] = state
        for chunk in job.chunks():
            self._spawn(lambda c=chunk: self._copy_part(state, c), chunk.length)

    def run_deletes(self, keys: list[str]) -> None:
        def delete_all() -> None:
            for key in keys:
                self.writer.store.delete(self.writer.bucket, key)
                with self._cond:
                    self.result.objects_deleted += 1

        self._spawn(delete_all, 0)

    def _spawn(self, work: Callable[[], None], nbytes: int) -> None:
        self.budget.acquire(nbytes, lambda: self.stopping)
        while not self._slots.acquire(timeout=0.1):
            if self.stopping:
                self.budget.release(nbytes)
                raise Stopped
        with self._cond:
            self._pending += 1
        self._pool.submit(self._run, work, nbytes)

    def _run(self, work: Callable[[], None], nbytes: int) -> None:
        try:
            if not self.stopping:
                work()
        except Stopped:
            pass
        except BaseException as exc:
            with self._cond:
                if self._error is None:
                    self._error = exc
        finally:
            self.budget.release(nbytes)
            self._slots.release()
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()

    # -- work (pool threads) ---------------------------------------------------------------
    def _copy_small(self, batch: list[ObjectJob]) -> None:
        for job in batch:
            if self.stopping:
                return
            compared = self._retrying(
                job.dst_key,
                lambda job=job: self.writer.put(job, self.reader.read(job.source.key, ChunkJob(1, 0, job.source.size))),
            )
            self.tracker.bytes_moved(job.source.size)
            self._record(job, compared)

    def _copy_part(self, state: _OpenUpload, job: ChunkJob) -> None:
        def read_and_write() -> Chunk:
            chunk = self.reader.read(state.job.source.key, job)
            self.writer.write_part(state.upload, chunk)
            return chunk

        chunk = self._retrying(f"part {job.part_number} of {state.job.dst_key}", read_and_write)
        self.tracker.bytes_moved(job.length)
        with state.lock:
            state.digests[job.part_number - 1] = chunk.digest
            state.remaining -= 1
            last = state.remaining == 0
        del chunk
        if last:
            self._finish_multipart(state)

    def _retrying(self, what: str, attempt: Callable[[], T]) -> T:
        """Run one read+write, again after a transient StoreError (never after an IntegrityError).

        Re-reading is safe: a part re-uploaded under its number replaces the earlier attempt,
        and a small object is only visible once its put succeeds.
        """
        for retry in range(self.request.retries + 1):
            try:
                return attempt()
            except StoreError as exc:
                if retry == self.request.retries or self.stopping:
                    raise
                delay = self.request.retry_backoff * 2**retry
                log.warning("Retrying %s in %.1fs after: %s", what, delay, exc)
                if self.cancel.wait(delay):
                    raise Stopped from exc
        raise AssertionError("unreachable")

    def _finish_multipart(self, state: _OpenUpload) -> None:
        crc = combine_chunks([d for d in state.digests if d is not None])
        compared = check_against_source(state.job, crc, None)
        if self.stopping:
            return  # another object failed: leave this one for abort, do not publish it
        info = state.upload.complete()
        with self._cond:
            self._uploads.pop(state.upload.upload_id, None)
        compared = self.writer.after_write(info, state.job, crc, None) or compared
        self._record(state.job, compared)

    def _record(self, job: ObjectJob, whole_object_checked: bool) -> None:
        with self._cond:
            self.result.objects_copied += 1
            self.result.bytes_copied += job.source.size
            self.result.checksums_verified += 1
            self.result.whole_object_verified += int(whole_object_checked)
            self.result.multipart_objects += int(job.multipart)
        self.tracker.object_done()

    # -- ending ----------------------------------------------------------------------------
    def _drain(self) -> None:
        with self._cond:
            while self._pending:
                self._cond.wait()
        self._pool.shutdown(wait=True)

    def _abort_open_uploads(self) -> None:
        for state in list(self._uploads.values()):
            try:
                state.upload.abort()
            except Exception:
                log.warning("Could not abort the unfinished upload of %r", state.job.dst_key, exc_info=True)
        self._uploads.clear()

    def finish(self) -> None:
        """Wait for all work; raise the first failure (after aborting open uploads) or a cancel."""
        with contextlib.suppress(Stopped):
            self._flush()
        self._drain()
        if self._error is not None or self.cancel.is_set() or self._uploads:
            self._abort_open_uploads()
            if self._error is not None:
                raise self._error
            raise CopyCancelled(
                f"Copy to {self.result.destination} cancelled after {self.result.objects_copied} objects; "
                "they are verified and a rerun skips them"
            )

    def abort(self, exc: BaseException) -> None:
        """Stop after a failure in the main thread: drain the pool, abort every open upload."""
        with self._cond:
            if self._error is None:
                self._error = exc
        self._drain()
        self._abort_open_uploads()
