"""The gateway's stages: read, send, receive, write, joined by bounded queues.

Each stage is one class with its own threads; the Router between them knows the program's
hops. Memory: every chunk takes its bytes from the gateway's ByteBudget before it is read
(from a store or a socket) and gives them back when its last consumer is done, so bytes in
flight never exceed the budget. Backpressure runs end to end: a slow writer fills its queue,
receivers stop reading their sockets, TCP windows close, senders upstream block, and the
source's readers wait for budget. A relay keeps chunks in memory only, never on disk.

Threads, not asyncio: ``ssl`` sockets decrypt and encrypt inside OpenSSL with the GIL
released, and store SDKs are blocking; one thread per connection is the simple, fast shape.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import google_crc32c

from airflow_provider_sky.errors import IntegrityError, StoreError
from airflow_provider_sky.gateway.frames import (
    Frame,
    FrameError,
    ObjectManifest,
    recv_header,
    recv_payload,
    send_frame,
)
from airflow_provider_sky.stores.base import MultipartUpload
from airflow_provider_sky.transfer.checksum import ChunkDigest, combine_chunks
from airflow_provider_sky.transfer.jobs import ChunkJob, ObjectJob
from airflow_provider_sky.transfer.stages import ByteBudget, Chunk, Reader, Stopped, Writer, check_against_source

_T = TypeVar("_T")  # what a retried store call returns
log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5.0
RECONNECT_TRIES = 3
STORE_RETRIES = 3


class Delivery:
    """One chunk handed to several consumers; ``on_last`` runs when the last one is done.

    The root delivery of a chunk returns its bytes to the budget on the last ``done``; a
    re-routed chunk is a child delivery of the same bytes (see ``redirect``).
    """

    def __init__(self, frame: Frame, on_last: Callable[[], None], consumers: int) -> None:
        self.frame, self._on_last = frame, on_last
        self._left = consumers
        self._lock = threading.Lock()
        if consumers == 0:
            on_last()

    @classmethod
    def charged(cls, frame: Frame, budget: ByteBudget, nbytes: int, consumers: int) -> Delivery:
        return cls(frame, lambda: budget.release(nbytes), consumers)

    def done(self) -> None:
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            self._on_last()

    def send(self, sock: ssl.SSLSocket, on_sent: Callable[[int], None]) -> None:
        """Write this chunk's frame to ``sock`` (may be called again on a new connection)."""
        send_frame(sock, self.frame, on_sent)

    @property
    def wire_bytes(self) -> int:
        return self.frame.wire_length

    def redirect(self, frame: Frame, consumers: int) -> Delivery:
        """The same bytes under another header for ``consumers`` more consumers (a new route)."""
        with self._lock:
            self._left += 1
        return Delivery(frame, self.done, consumers)


def wait_to_queue(
    target: queue.Queue[Delivery],
    delivery: Delivery,
    stopping: Callable[[], bool],
    halted: Callable[[], bool] = lambda: False,
) -> bool:
    """Queue ``delivery``, waiting while ``target`` is full: this wait is the backpressure.

    False when ``halted`` says the consumer is gone (the caller keeps the delivery); a stopping
    gateway drops it (its bytes go back to the budget) and counts as queued.
    """
    while True:
        if halted():
            return False
        try:
            target.put(delivery, timeout=0.1)
            return True
        except queue.Full:
            if stopping():
                delivery.done()
                return True


class StreamLost(Exception):
    """A cut-through frame could not be sent on; its bytes are gone from this relay."""


class StreamedFrame(Delivery):
    """A relay's cut-through: the payload goes from the inbound socket to the outbound one as it
    arrives, in small pieces, instead of landing whole first.

    Store-and-forward costs one chunk-time per relay hop (8 MiB over one of 8 connections of a
    200 Mbit/s link is 2.7 s); cut-through costs a piece. The receiving thread waits while a
    connection thread of the next hop copies. The wire CRC32C is checked on the way; a mismatch
    or a broken outbound connection loses the chunk at this relay, which then reports failure
    so the source sends it along another path (it keeps every unacknowledged chunk).
    """

    PIECE = 256 * 1024

    def __init__(self, frame: Frame, inbound: ssl.SSLSocket, length: int) -> None:
        self._finished = threading.Event()
        super().__init__(frame, self._finished.set, 1)
        self._inbound, self._length = inbound, length
        self._sent = False
        self.error: str = ""
        self.inbound_broken = False

    def send(self, sock: ssl.SSLSocket, on_sent: Callable[[int], None]) -> None:
        if self._sent:
            raise StreamLost("already streamed")
        self._sent = True
        left, crc, out_error = self._length, 0, None
        try:
            sock.sendall(self.frame.header(self._length))
        except OSError as exc:
            out_error = exc
        while left:
            try:
                piece = self._inbound.recv(min(left, self.PIECE))
            except OSError as exc:
                self.inbound_broken, self.error = True, f"inbound connection broke mid-chunk: {exc}"
                raise StreamLost(self.error) from exc
            if not piece:
                self.inbound_broken, self.error = True, "inbound connection closed mid-chunk"
                raise StreamLost(self.error)
            left -= len(piece)
            crc = google_crc32c.extend(crc, piece)
            if out_error is None:
                try:
                    sock.sendall(piece)
                    on_sent(len(piece))
                except OSError as exc:
                    out_error = exc  # keep reading: the inbound stream must stay in step
        if out_error is not None:
            self.error = f"next hop broke mid-chunk: {out_error}"
            raise StreamLost(self.error) from out_error
        if crc != self.frame.wire_crc32c:
            self.error = f"chunk {self.frame.chunk_id} arrived damaged (CRC32C {crc:08x})"
            raise StreamLost(self.error)

    @property
    def wire_bytes(self) -> int:
        return self._length

    def wait(self, stopping: Callable[[], bool]) -> None:
        while not self._finished.wait(0.2):
            if stopping():
                return


@dataclass
class EdgeStats:
    """Bytes sent to one next-hop region, and a rate over the last few seconds."""

    bytes: int = 0
    connections: int = 0
    alive: bool = True
    error: str = ""
    started: float = 0.0
    _window: list[tuple[float, int]] = field(default_factory=list)

    def add(self, n: int) -> None:
        now = time.monotonic()
        if not self.started:
            self.started = now
        self.bytes += n
        self._window.append((now, self.bytes))
        while len(self._window) > 2 and now - self._window[0][0] > 3.0:
            self._window.pop(0)

    def rate(self) -> float:
        """Bytes/s over the recent window; 0 until the window spans a second (the first megabytes
        only fill the kernel's send buffer and would read as a burst)."""
        if len(self._window) < 2 or self._window[-1][0] - self._window[0][0] < 1.0:
            return 0.0
        (t0, b0), (t1, b1) = self._window[0], self._window[-1]
        recent = time.monotonic() - t1 < 3.0
        return (b1 - b0) / (t1 - t0) if t1 > t0 and recent else 0.0


class Stopping(Exception):
    """Internal: the gateway is stopping; drop the work in hand."""


class SendStage:
    """Connections to one next-hop region; each connection thread sends frames from one queue.

    Several gateways in the next region share the connections round-robin. A connection that
    breaks is re-dialled a few times; when none can be re-established the edge is dead and
    every frame it holds goes to ``on_dead`` (the source re-routes them on another path).
    """

    def __init__(
        self,
        region: str,
        addresses: list[str],
        connections: int,
        context: ssl.SSLContext,
        stopping: Callable[[], bool],
        on_dead: Callable[[SendStage, Delivery], None],
    ) -> None:
        self.region, self.addresses, self.context = region, addresses, context
        self._stopping, self._on_dead = stopping, on_dead
        self.stats = EdgeStats()
        self._backlog = 0
        # One waiting frame per connection: enough to keep each busy, and what is queued on a slow
        # edge is what the tail of a transfer (or a re-route) has to wait for.
        self.queue: queue.Queue[Delivery] = queue.Queue(maxsize=max(1, connections))
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._connection, args=(i,), name=f"send-{region}-{i}", daemon=True)
            for i in range(connections)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def backlog(self) -> int:
        """Bytes handed to this edge and not yet sent (queued or on the wire)."""
        return self._backlog

    def finish_estimate(self, nbytes: int, prior_bytes_per_s: float) -> float:
        """Seconds until ``nbytes`` more would be sent: the backlog at the measured rate (the plan's
        rate until there is a measurement, and twice the plan's at most, so a burst cannot make a
        slow edge look fast)."""
        measured = self.stats.rate()
        rate = min(measured, 2 * prior_bytes_per_s) if measured and prior_bytes_per_s else measured or prior_bytes_per_s
        return (self._backlog + nbytes) / rate if rate > 0 else float("inf")

    def _sent_bytes(self, n: int) -> None:
        with self._lock:
            self.stats.add(n)
            self._backlog -= n

    def _owe(self, n: int) -> None:
        with self._lock:
            self._backlog += n

    def put(self, delivery: Delivery) -> None:
        """Queue a frame, waiting while the edge is busy (this is the backpressure)."""
        self._owe(delivery.wire_bytes)
        if not wait_to_queue(self.queue, delivery, self._stopping, halted=lambda: not self.stats.alive):
            self._owe(-delivery.wire_bytes)
            self._on_dead(self, delivery)

    def _dial(self, index: int) -> ssl.SSLSocket:
        host, port = self.addresses[index % len(self.addresses)].rsplit(":", 1)
        raw = socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = self.context.wrap_socket(raw)
        sock.settimeout(None)
        return sock

    def _connection(self, index: int) -> None:
        sock: ssl.SSLSocket | None = None
        try:
            while not self._stopping():
                try:
                    delivery = self.queue.get(timeout=0.2)
                except queue.Empty:
                    if not self.stats.alive:
                        return
                    continue
                sock = self._send_one(index, sock, delivery)
                del delivery  # its bytes are back in the budget: free them now, not when the next frame comes
        finally:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()

    def _send_one(self, index: int, sock: ssl.SSLSocket | None, delivery: Delivery) -> ssl.SSLSocket | None:
        sent = [0]

        def on_sent(n: int) -> None:
            sent[0] += n
            self._sent_bytes(n)

        try:
            return self._send_with_redial(index, sock, delivery, on_sent)
        finally:  # what was handed over, less what already left slice by slice
            self._owe(-max(0, delivery.wire_bytes - sent[0]))

    def _send_with_redial(
        self, index: int, sock: ssl.SSLSocket | None, delivery: Delivery, on_sent: Callable[[int], None]
    ) -> ssl.SSLSocket | None:
        last_error: Exception | None = None
        for attempt in range(RECONNECT_TRIES):
            if not self.stats.alive or self._stopping():
                break
            try:
                if sock is None:
                    sock = self._dial(index + attempt)
                    with self._lock:
                        self.stats.connections += 1
                delivery.send(sock, on_sent)
                delivery.done()
                return sock
            except StreamLost:  # nothing to re-send: the relay reports it, the source re-routes
                with contextlib.suppress(OSError):
                    sock.close()  # type: ignore[union-attr]
                with self._lock:
                    self.stats.connections -= 1
                self._on_dead(self, delivery)
                return None
            except (OSError, ssl.SSLError) as exc:
                last_error = exc
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()
                    with self._lock:
                        self.stats.connections -= 1
                    sock = None
                time.sleep(0.2 * 2**attempt)
        if self._stopping():
            delivery.done()
            return None
        with self._lock:
            if self.stats.alive:
                self.stats.alive = False
                self.stats.error = f"next hop {self.region} unreachable: {last_error}"
                log.warning("Edge to %s is dead: %s", self.region, last_error)
        self._on_dead(self, delivery)
        self._drain_to_dead()
        return None

    def take_queued(self) -> list[Delivery]:
        """Remove and return the frames still waiting for a connection (not those on the wire)."""
        taken: list[Delivery] = []
        while True:
            try:
                delivery = self.queue.get_nowait()
            except queue.Empty:
                return taken
            self._owe(-delivery.wire_bytes)
            taken.append(delivery)

    def _drain_to_dead(self) -> None:
        while True:
            try:
                delivery = self.queue.get_nowait()
            except queue.Empty:
                return
            self._owe(-delivery.wire_bytes)
            self._on_dead(self, delivery)


class ReceiveStage:
    """Accepts TLS connections from upstream gateways (job certificate required) and reads frames."""

    def __init__(
        self,
        listener: socket.socket,
        context: ssl.SSLContext,
        budget: ByteBudget,
        stopping: Callable[[], bool],
        on_frame: Callable[[Frame, int], None],
        on_error: Callable[[str], None],
        cut_through: Callable[[Frame], SendStage | None] = lambda frame: None,
        writes_here: Callable[[Frame], bool] = lambda frame: True,
    ) -> None:
        self._listener, self._context, self._budget = listener, context, budget
        self._stopping, self._on_frame, self._on_error = stopping, on_frame, on_error
        self._cut_through, self._writes_here = cut_through, writes_here
        self.refused_peers = 0
        self.bytes_received = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept_loop, name="receive-accept", daemon=True).start()

    def _accept_loop(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stopping():
            try:
                raw, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw, peer), name=f"receive-{peer[0]}", daemon=True).start()

    def _receive_one(self, sock: ssl.SSLSocket) -> bool:
        """Read one frame and hand it on; False when the peer is done.

        One call per frame, so this thread lets go of a chunk as soon as it is handed on: a
        reference kept while waiting for the next frame would hold bytes the budget no longer counts.
        """
        head = recv_header(sock)
        if head is None:
            return False
        frame, length = head
        onward = self._cut_through(frame)
        if onward is not None:
            stream = StreamedFrame(frame, sock, length)
            onward.put(stream)
            stream.wait(self._stopping)
            if stream.inbound_broken:
                return False
            with self._lock:
                self.bytes_received += length
            return True
        # Twice the payload while it lands: the socket fills a buffer that is then copied
        # into the read-only bytes the CRC32C and store SDKs take (see recv_payload). A
        # compressed chunk this gateway writes keeps room for the raw bytes it is decompressed into.
        kept = length + (frame.raw_length if frame.compressed and self._writes_here(frame) else 0)
        charge = max(2 * length, kept)
        self._budget.acquire(charge, self._stopping)
        try:
            recv_payload(sock, frame, length)
        except BaseException:
            self._budget.release(charge)
            raise
        self._budget.release(charge - kept)
        with self._lock:
            self.bytes_received += length
        self._on_frame(frame, kept)
        return True

    def _serve(self, raw: socket.socket, peer: tuple[str, int]) -> None:
        raw.settimeout(10.0)
        try:
            sock = self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            with self._lock:
                self.refused_peers += 1
            log.warning("Refused a data connection from %s: no valid job certificate (%s)", peer[0], exc)
            with contextlib.suppress(OSError):
                raw.close()
            return
        sock.settimeout(None)
        try:
            while not self._stopping() and self._receive_one(sock):
                pass
        except Stopped:
            pass
        except IntegrityError as exc:
            self._on_error(str(exc))
        except (FrameError, OSError, ssl.SSLError) as exc:
            if not self._stopping():
                log.warning("Data connection from %s ended: %s", peer[0], exc)
        except Exception as exc:  # a bug here must fail the job loudly, not hang it
            log.exception("Receiving from %s failed", peer[0])
            self._on_error(f"receiving from {peer[0]} failed: {type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(OSError):
                sock.close()


@dataclass
class _ObjectWrite:
    """One object being written at this destination: its upload and part digests."""

    object_id: int
    job: ObjectJob
    upload: MultipartUpload | None = None
    digests: dict[int, ChunkDigest] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False


@dataclass(frozen=True)
class WrittenObject:
    """What a destination reports about each object it finished (and verified)."""

    object_id: int
    dst_key: str
    size: int
    whole_object_verified: bool
    multipart: bool


def decompress(frame: Frame) -> bytes | bytearray:
    """The chunk's raw bytes, checked against the CRC32C taken when they were read."""
    data = frame.payload
    if not frame.compressed:  # the wire bytes are the raw bytes, and the receiver checked their CRC
        if len(data) == frame.raw_length and frame.raw_crc32c == frame.wire_crc32c:
            return data
    else:
        import zstandard

        data = zstandard.ZstdDecompressor().decompress(bytes(data), max_output_size=frame.raw_length)
    if len(data) != frame.raw_length or google_crc32c.value(data) != frame.raw_crc32c:
        raise IntegrityError(
            f"part {frame.part_number} of {frame.manifest.key!r} does not match the CRC32C taken when it was read"
        )
    return data


class WriteStage:
    """Writes chunks into the destination store; opens, completes and verifies each object once.

    All chunks of an object reach the same destination gateway (the sender picks the gateway
    by object id), so this gateway owns the object's multipart upload from first part to
    complete, and aborts it if the job fails.
    """

    def __init__(
        self,
        region: str,
        writer: Writer,
        workers: int,
        stopping: Callable[[], bool],
        on_written: Callable[[Frame], None],
        on_object: Callable[[WrittenObject], None],
        on_error: Callable[[str], None],
    ) -> None:
        self.region, self.writer = region, writer
        self._stopping, self._on_written, self._on_object, self._on_error = stopping, on_written, on_object, on_error
        self.queue: queue.Queue[Delivery] = queue.Queue(maxsize=workers * 2)
        self._objects: dict[int, _ObjectWrite] = {}
        self._seen: set[tuple[int, int]] = set()
        self._lock = threading.Lock()
        self.bytes_written = 0
        self._md5 = not writer.by_crc32c
        for i in range(workers):
            threading.Thread(target=self._work, name=f"write-{i}", daemon=True).start()

    def put(self, delivery: Delivery) -> None:
        key = (delivery.frame.manifest.object_id, delivery.frame.part_number)
        with self._lock:
            duplicate = key in self._seen
            self._seen.add(key)
        if duplicate:  # re-sent on another path after a failure; the first copy is in hand
            delivery.done()
            self._on_written(delivery.frame)
            return
        wait_to_queue(self.queue, delivery, self._stopping)

    def _work(self) -> None:
        while not self._stopping():
            try:
                delivery = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._write_one(delivery)
            del delivery  # its bytes are back in the budget: free them now, not when the next chunk comes

    def _write_one(self, delivery: Delivery) -> None:
        try:
            self._write(delivery.frame)
            self._on_written(delivery.frame)
        except Exception as exc:
            self._on_error(f"writing part {delivery.frame.part_number} of {delivery.frame.manifest.key!r}: {exc}")
        finally:
            delivery.done()

    def _state(self, frame: Frame) -> _ObjectWrite:
        m = frame.manifest
        with self._lock:
            state = self._objects.get(m.object_id)
            if state is None:
                job = ObjectJob(m.source_info(), m.dst_keys[self.region], m.part_size)
                state = self._objects[m.object_id] = _ObjectWrite(m.object_id, job)
            return state

    def _write(self, frame: Frame) -> None:
        data = decompress(frame)
        digest = ChunkDigest(hashlib.md5(data).digest() if self._md5 else None, frame.raw_crc32c, len(data))
        chunk = Chunk(ChunkJob(frame.part_number, frame.offset, len(data)), bytes(data), digest)
        state = self._state(frame)
        job = state.job
        if not job.multipart:
            verified = _retrying(lambda: self.writer.put(job, chunk), self._stopping)
            self._finish(state, verified)
            return
        with state.lock:
            if state.upload is None:
                state.upload = _retrying(lambda: self.writer.start(job), self._stopping)
        upload = state.upload
        assert upload is not None  # started just above, or by an earlier part
        _retrying(lambda: self.writer.write_part(upload, chunk), self._stopping)
        with self._lock:
            self.bytes_written += len(data)
        with state.lock:
            state.digests[frame.part_number] = digest
            last = len(state.digests) == job.part_count and not state.done
            if last:
                state.done = True
        if last:
            digests = [state.digests[n] for n in sorted(state.digests)]
            crc = combine_chunks(digests)
            source_checked = check_against_source(job, crc, None)
            info = _retrying(upload.complete, self._stopping)
            part_md5s = [d.md5 for d in digests if d.md5 is not None]
            verified = self.writer.after_write(info, job, crc, None, part_md5s) or source_checked
            with state.lock:
                state.upload = None
            self._finish(state, verified)

    def _finish(self, state: _ObjectWrite, verified: bool) -> None:
        job = state.job
        if not job.multipart:
            with self._lock:
                self.bytes_written += job.source.size
        state.done = True
        with self._lock:
            self._objects.pop(state.object_id, None)
        self._on_object(WrittenObject(state.object_id, job.dst_key, job.source.size, verified, job.multipart))

    def abort_open(self) -> int:
        """Abort every unfinished upload (the job failed or was stopped); returns how many."""
        with self._lock:
            states = list(self._objects.values())
            self._objects.clear()
        aborted = 0
        for state in states:
            if state.upload is not None:
                try:
                    state.upload.abort()
                    aborted += 1
                except Exception:
                    log.warning("Could not abort the unfinished upload of %r", state.job.dst_key, exc_info=True)
        return aborted


def _retrying(attempt: Callable[[], _T], stopping: Callable[[], bool]) -> _T:
    """A store call, again after a transient StoreError (never after an IntegrityError)."""
    for retry in range(STORE_RETRIES + 1):
        try:
            return attempt()
        except StoreError:
            if retry == STORE_RETRIES or stopping():
                raise
            time.sleep(0.5 * 2**retry)
    raise AssertionError("unreachable")


@dataclass
class ChunkRequest:
    """One chunk the source must read and send; ``partition`` None means "choose when read"."""

    chunk_id: int
    manifest: ObjectManifest
    job: ChunkJob
    partition: int | None = None

    @property
    def key(self) -> str:
        return self.manifest.key


def zstd_bound(nbytes: int) -> int:
    """The most zstd can write for ``nbytes`` of input (ZSTD_compressBound): its output buffer."""
    return nbytes + (nbytes >> 8) + 128


class ReadStage:
    """Reads chunks from the source store and hands them, framed, to the router.

    Budget: a chunk is charged before it is read, for its bytes and, when ``compressing``, for
    the compressor's output buffer too; once framed, the raw bytes are dropped (when the frame
    carries the compressed copy) and the charge shrinks to the payload the frame holds.
    """

    def __init__(
        self,
        reader: Reader,
        workers: int,
        budget: ByteBudget,
        stopping: Callable[[], bool],
        frame_of: Callable[[ChunkRequest, Chunk], Frame],
        on_frame: Callable[[ChunkRequest, Frame, int], None],
        on_error: Callable[[str], None],
        compressing: bool = False,
    ) -> None:
        self.reader, self._budget, self._compressing = reader, budget, compressing
        self._stopping, self._frame_of, self._on_frame, self._on_error = stopping, frame_of, on_frame, on_error
        self.queue: queue.Queue[ChunkRequest] = queue.Queue()
        self.bytes_read = 0
        self._lock = threading.Lock()
        for i in range(workers):
            threading.Thread(target=self._work, name=f"read-{i}", daemon=True).start()

    def _work(self) -> None:
        while not self._stopping():
            try:
                request = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._read_one(request)
            except Stopped:
                return

    def _read_one(self, request: ChunkRequest) -> None:
        """Read, frame and route one chunk; one call per chunk, so no reference outlives it."""
        key, job = request.key, request.job
        charge = job.length + (zstd_bound(job.length) if self._compressing else 0)
        self._budget.acquire(charge, self._stopping)
        try:
            chunk = _retrying(lambda: self.reader.read(key, job), self._stopping)
            with self._lock:
                self.bytes_read += job.length
            frame = self._frame_of(request, chunk)
        except Exception as exc:
            self._budget.release(charge)
            self._on_error(f"reading part {job.part_number} of {key!r}: {exc}")
            return
        del chunk  # the raw bytes, unless the frame carries them: gone before the frame waits to be sent
        held = frame.wire_length
        self._budget.release(charge - held)
        self._on_frame(request, frame, held)
