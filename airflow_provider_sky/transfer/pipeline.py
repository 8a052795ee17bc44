"""The worker pool of the copy engine: small-object batches and chunk tasks, bounded in bytes.

Chunk bookkeeping lives here, in one place: which parts of which object are done, which
multipart uploads are open (and must be aborted on failure), and the byte budget that keeps
memory at `concurrency * chunk_size` whatever the number or size of objects.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from airflow_provider_sky.errors import SkyError, StoreError
from airflow_provider_sky.stores.base import MultipartUpload, ObjectInfo, ObjectStore
from airflow_provider_sky.transfer.checksum import ChunkDigest, OrderedMd5, combine_chunks
from airflow_provider_sky.transfer.jobs import ChunkJob, ObjectJob
from airflow_provider_sky.transfer.listing import KeyMapping
from airflow_provider_sky.transfer.progress import ProgressTracker
from airflow_provider_sky.transfer.request import CopyRequest
from airflow_provider_sky.transfer.stages import ByteBudget, Chunk, Reader, Stopped, Writer, check_against_source
from airflow_provider_sky.transfer.summary import DestinationSummary
from airflow_provider_sky.uri import ObjectURI

log = logging.getLogger(__name__)
T = TypeVar("T")


class CopyCancelled(SkyError):
    """The cancel event was set; finished objects are kept and a rerun resumes from them."""


@dataclass
class Target:
    """One validated destination: its store, URI and key mapping."""

    uri: ObjectURI
    store: ObjectStore
    mapping: KeyMapping


@dataclass
class Dest:
    """One destination during a run: where it writes, and what happened there."""

    target: Target
    writer: Writer
    tracker: ProgressTracker
    result: DestinationSummary

    @property
    def name(self) -> str:
        return str(self.target.uri)


Fan = list[tuple[Dest, ObjectJob]]  # one source object, the destinations it goes to (same chunking)


@dataclass
class _OpenUpload:
    """One destination's unfinished multipart write, started by the first chunk that needs it.

    Starting (and looking for an interrupted run's upload to resume) costs a request or three;
    done by a pool thread instead of the planning thread, it never holds up the next object.
    """

    dest: Dest
    job: ObjectJob
    upload: MultipartUpload | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def opened(self) -> MultipartUpload:
        with self.lock:
            if self.upload is None:
                # An interrupted earlier run's parts of this object are offered for reuse.
                self.upload = self.dest.writer.start(self.job, resume=True)
            return self.upload


@dataclass
class _FanState:
    """Chunk bookkeeping for one multipart object and all its destinations, in one place."""

    source: ObjectInfo
    first: ObjectJob  # the chunking, shared by every destination
    uploads: list[_OpenUpload]
    remaining: int
    digests: list[ChunkDigest | None]
    whole_md5: OrderedMd5 | None = None  # only when a destination keeps a whole-object MD5
    lock: threading.Lock = field(default_factory=threading.Lock)


class Pipeline:
    """A bounded thread pool fed with small-object batches and chunk tasks.

    A chunk is read once and written to every destination of its object before its bytes
    leave the budget, so several destinations cost no extra source reads or memory.
    """

    def __init__(self, request: CopyRequest, reader: Reader | None, dests: list[Dest], cancel: threading.Event):
        self.request, self.reader, self.dests, self.cancel = request, reader, dests, cancel
        self.budget = ByteBudget(request.memory_budget)
        self._pool = ThreadPoolExecutor(request.concurrency, thread_name_prefix="sky-copy")
        self._slots = threading.BoundedSemaphore(request.concurrency * 2)  # queued + running tasks
        self._cond = threading.Condition()
        self._pending = 0
        self._error: BaseException | None = None
        self._uploads: dict[int, _OpenUpload] = {}
        self._batch: list[Fan] = []
        self._batch_bytes = 0

    @property
    def stopping(self) -> bool:
        return self._error is not None or self.cancel.is_set()

    # -- submission (planning thread) ------------------------------------------------------
    def submit(self, fan: Fan) -> None:
        """Queue one object: multipart objects fan out into chunk tasks at once; small ones batch.

        A batch is handed over as soon as a worker is idle, so a few objects still run in
        parallel; it only grows (to `small_batch_objects`) while every worker is busy,
        which is when per-task overhead starts to matter.
        """
        first = fan[0][1]
        if first.multipart:
            self._submit_multipart(fan)
            return
        size = first.source.size
        if self._batch and self._batch_bytes + size > self.request.chunk_size:
            self._flush()
        self._batch.append(fan)
        self._batch_bytes += size
        if len(self._batch) >= self.request.small_batch_objects or self._pending < self.request.concurrency:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            batch, nbytes = self._batch, self._batch_bytes
            self._batch, self._batch_bytes = [], 0
            self._spawn(lambda: self._copy_small(batch), nbytes)

    def _submit_multipart(self, fan: Fan) -> None:
        if self.stopping:
            return
        first = fan[0][1]
        uploads = []
        for dest, job in fan:
            state = _OpenUpload(dest, job)
            with self._cond:
                self._uploads[id(state)] = state
            uploads.append(state)
        fan_state = _FanState(first.source, first, uploads, first.part_count, [None] * first.part_count)
        if self.reader is not None and self.reader.md5 and any(d.writer.wants_whole_md5 for d, _ in fan):
            fan_state.whole_md5 = OrderedMd5()
        for chunk in first.chunks():
            self._spawn(functools.partial(self._copy_part, fan_state, chunk), chunk.length)

    def run_deletes(self, dest: Dest, keys: list[str]) -> None:
        def delete_all() -> None:
            for key in keys:
                dest.writer.store.delete(dest.writer.bucket, key)
                with self._cond:
                    dest.result.objects_deleted += 1

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
    def _copy_small(self, batch: list[Fan]) -> None:
        assert self.reader is not None
        reader = self.reader
        for fan in batch:
            if self.stopping:
                return
            source = fan[0][1].source

            def read_and_put(fan: Fan = fan, source: ObjectInfo = source) -> list[bool]:
                chunk = reader.read(source.key, ChunkJob(1, 0, source.size))
                return [dest.writer.put(job, chunk) for dest, job in fan]

            compared = self._retrying(source.key, read_and_put)
            for (dest, job), whole_checked in zip(fan, compared, strict=True):
                dest.tracker.bytes_moved(source.size)
                self._record(dest, job, whole_checked)

    def _copy_part(self, state: _FanState, job: ChunkJob) -> None:
        assert self.reader is not None
        reader = self.reader

        def read_and_write() -> tuple[Chunk, list[bool]]:
            chunk = reader.read(state.source.key, job)
            return chunk, [u.dest.writer.write_part(u.opened(), chunk) for u in state.uploads]

        chunk, sent = self._retrying(f"part {job.part_number} of {state.source.key}", read_and_write)
        for open_upload, was_sent in zip(state.uploads, sent, strict=True):
            open_upload.dest.tracker.bytes_moved(job.length)
            if not was_sent:
                with self._cond:
                    open_upload.dest.result.parts_reused += 1
                    open_upload.dest.result.bytes_reused += job.length
        if state.whole_md5 is not None and not state.whole_md5.feed(job.part_number, chunk.data, lambda: self.stopping):
            return
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

    def _finish_multipart(self, state: _FanState) -> None:
        """Check the combined CRC against the source, then complete and check each destination."""
        digests = [d for d in state.digests if d is not None]
        crc = combine_chunks(digests)
        md5_whole = state.whole_md5.digest() if state.whole_md5 is not None else None
        source_checked = check_against_source(state.first, crc, md5_whole)
        part_md5s = [d.md5 for d in digests if d.md5 is not None]
        for open_upload in state.uploads:
            if self.stopping:
                return  # another object failed: leave the rest for abort, publish nothing more
            writer = open_upload.dest.writer
            info = writer.complete(open_upload.opened(), md5_whole)
            with self._cond:
                self._uploads.pop(id(open_upload), None)
            checked = writer.after_write(info, open_upload.job, crc, md5_whole, part_md5s)
            self._record(open_upload.dest, open_upload.job, checked or source_checked)

    def _record(self, dest: Dest, job: ObjectJob, whole_object_checked: bool) -> None:
        with self._cond:
            result = dest.result
            result.objects_copied += 1
            result.bytes_copied += job.source.size
            result.checksums_verified += 1
            result.whole_object_verified += int(whole_object_checked)
            result.multipart_objects += int(job.multipart)
        dest.tracker.object_done()

    # -- ending ----------------------------------------------------------------------------
    def _drain(self) -> None:
        with self._cond:
            while self._pending:
                self._cond.wait()
        self._pool.shutdown(wait=True)

    def _abort_open_uploads(self) -> None:
        for state in list(self._uploads.values()):
            if state.upload is None:
                continue  # never started: nothing to undo
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
            done = ", ".join(f"{d.name}: {d.result.objects_copied}" for d in self.dests)
            raise CopyCancelled(
                f"Copy cancelled after copying objects ({done}); they are verified and a rerun skips them"
            )

    def abort(self, exc: BaseException) -> None:
        """Stop after a failure in the planning thread: drain the pool, abort every open upload."""
        with self._cond:
            if self._error is None:
                self._error = exc
        self._drain()
        self._abort_open_uploads()
