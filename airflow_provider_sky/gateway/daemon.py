"""One gateway: runs the program it is given, reports progress, stops when told.

The gateway only runs what its program says (see program.py): a source reads chunks and
sends each along a partition chosen in proportion to the plan's flows; a relay forwards; a
destination writes, and may forward too (multicast). Chunk bookkeeping that spans gateways
(which chunks a destination has written) comes back to the source as acknowledgements the
runner relays; when an edge dies, the source sends every chunk not yet acknowledged on that
path again along another, and destinations drop the duplicates.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

from airflow_provider_sky.errors import SkyError
from airflow_provider_sky.gateway.frames import Frame, ObjectManifest
from airflow_provider_sky.gateway.program import GatewayProgram, Hop
from airflow_provider_sky.gateway.stages import (
    ChunkRequest,
    Delivery,
    ReadStage,
    ReceiveStage,
    SendStage,
    WriteStage,
    WrittenObject,
)
from airflow_provider_sky.gateway.storeconf import open_configured
from airflow_provider_sky.gateway.tls import client_context, server_context
from airflow_provider_sky.stores.base import ObjectStore
from airflow_provider_sky.transfer.jobs import ChunkJob, ObjectJob
from airflow_provider_sky.transfer.stages import ByteBudget, Chunk, Reader, Writer

log = logging.getLogger(__name__)
DEFAULT_WORKERS = 8
MAX_ERRORS_KEPT = 20


class ProgramError(SkyError):
    """The program cannot run here (bad store, unknown partition...); reported to the runner."""


class Gateway:
    """The stages of one gateway and the state the control API reports."""

    def __init__(self, gateway_id: str, tls_dir: Path, listener: Any, memory_budget: int) -> None:
        self.gateway_id = gateway_id
        self.budget = ByteBudget(memory_budget)
        self.state = "idle"  # idle -> running -> stopped | failed
        self.errors: list[str] = []
        self.program: GatewayProgram | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._client_ctx = client_context(tls_dir)
        self._senders: dict[str, list[SendStage]] = {}
        self._reader: ReadStage | None = None
        self._writer: WriteStage | None = None
        self._store: ObjectStore | None = None
        self._compress = False
        self._zstd = threading.local()
        # source bookkeeping
        self._next_chunk = 0
        self._unacked: dict[int, tuple[ChunkRequest, set[str]]] = {}
        self._dead_partitions: set[int] = set()
        self._partition_regions: dict[int, set[str]] = {}  # source: every region each path crosses
        self._chunks_submitted = 0
        self._objects_submitted = 0
        # destination bookkeeping, read by the runner with cursors
        self._acks: list[tuple[int, str, str]] = []  # (chunk id, region, origin gateway)
        self._results: list[WrittenObject] = []
        self.started = time.monotonic()
        self.receive = ReceiveStage(
            listener, server_context(tls_dir), self.budget, self.stopping, self._on_received, self.fail,
            self._cut_through, self._writes_here,
        )  # fmt: skip

    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- control ---------------------------------------------------------------------------
    def load(self, doc: dict[str, Any]) -> None:
        """Build the stages the program asks for (once per gateway)."""
        with self._lock:
            if self.program is not None:
                raise ProgramError(f"gateway {self.gateway_id} already runs a program")
            program = GatewayProgram.from_dict(doc)
            if program.gateway_id != self.gateway_id:
                raise ProgramError(f"program for {program.gateway_id} sent to gateway {self.gateway_id}")
            self.program = program
        self._compress = doc.get("compression") == "zstd"
        workers = int(doc.get("workers", DEFAULT_WORKERS))
        if program.reads or program.writes:
            self._store, uri = open_configured(program.store)
        for region in sorted(program.connections):
            self._add_senders(region, program.peers.get(region) or [], program.connections[region])
        if program.writes:
            assert self._store is not None
            self._writer = WriteStage(
                program.region, Writer(self._store, uri.bucket), workers, self.stopping,
                self._on_written, self._on_object, self.fail,
            )  # fmt: skip
        if program.reads:
            assert self._store is not None
            self._reader = ReadStage(
                Reader(self._store, uri.bucket, md5=False), workers, self.budget, self.stopping,
                self._frame_of, self._dispatch, self.fail, compressing=self._compress,
            )  # fmt: skip
        self._partition_regions = {int(p): set(r) for p, r in doc.get("partition_regions", {}).items()}
        self.state = "running"
        log.info("Gateway %s runs %s", self.gateway_id, _describe(program))

    def _add_senders(self, region: str, addresses: list[str], connections: int) -> None:
        if not addresses:
            raise ProgramError(f"program names next hop {region} but gives no address for it")
        per_peer = max(1, -(-connections // len(addresses)))
        self._senders[region] = [
            SendStage(region, [address], per_peer, self._client_ctx, self.stopping, self._on_dead_edge)
            for address in addresses
        ]

    def reroute(self, doc: dict[str, Any]) -> None:
        """Add a new plan's partitions; at the source its weights replace the old ones.

        Old partitions keep their hops, so chunks already on an old route finish on it; the
        source only stops assigning new chunks to them.
        """
        program = self.program
        if program is None:
            raise ProgramError(f"gateway {self.gateway_id} has no program to re-route")
        for region, connections in sorted(doc.get("connections", {}).items()):
            if region not in self._senders:
                self._add_senders(region, doc.get("peers", {}).get(region) or [], int(connections))
                program.connections[region] = int(connections)
        with self._lock:
            for p, hop in doc.get("hops", {}).items():
                program.hops[int(p)] = Hop(tuple(hop["next_hops"]), bool(hop["write"]))
            for p, regions in doc.get("partition_regions", {}).items():
                self._partition_regions[int(p)] = set(regions)
            if program.reads and doc.get("weights"):
                program.weights = {int(p): float(w) for p, w in doc["weights"].items()}
        if program.reads and doc.get("weights"):
            self._rehome_queued()
        log.info("Gateway %s re-routed: %s", self.gateway_id, _describe(program))

    def _rehome_queued(self) -> None:
        """Chunks still queued for an edge the new weights no longer use take a new route; chunks
        already on the wire finish on the old one."""
        program = self.program
        assert program is not None
        used = {n for p, w in program.weights.items() if w > 0 for n in program.hops[p].next_hops}
        for region, stages in self._senders.items():
            if region in used:
                continue
            for stage in stages:
                for delivery in stage.take_queued():
                    self._redispatch(delivery)

    def submit(self, objects: list[dict[str, Any]]) -> int:
        """Source: queue objects (manifests); each becomes chunk requests. Returns chunks queued."""
        if self._reader is None:
            raise ProgramError(f"gateway {self.gateway_id} is not a source")
        count = 0
        for doc in objects:
            manifest = ObjectManifest(**doc, origin=self.gateway_id)
            job = ObjectJob(manifest.source_info(), "", manifest.part_size)
            for chunk in job.chunks():
                with self._lock:
                    chunk_id = self._next_chunk
                    self._next_chunk += 1
                    request = ChunkRequest(chunk_id, manifest, chunk)
                    self._unacked[chunk_id] = (request, set(manifest.dst_keys))
                self._reader.queue.put(request)
                count += 1
        with self._lock:
            self._chunks_submitted += count
            self._objects_submitted += len(objects)
        return count

    def ack(self, acks: list[list[Any]]) -> None:
        """Source: destinations wrote these chunks ([chunk id, region] pairs)."""
        with self._lock:
            for chunk_id, region in acks:
                entry = self._unacked.get(int(chunk_id))
                if entry is not None:
                    entry[1].discard(region)
                    if not entry[1]:
                        del self._unacked[int(chunk_id)]

    def fail(self, message: str) -> None:
        with self._lock:
            if len(self.errors) < MAX_ERRORS_KEPT:
                self.errors.append(message)
            if self.state != "stopped":
                self.state = "failed"
        log.error("Gateway %s: %s", self.gateway_id, message)

    def stop(self) -> dict[str, Any]:
        """Stop every stage; abort this gateway's unfinished uploads."""
        self._stop.set()
        aborted = self._writer.abort_open() if self._writer is not None else 0
        with self._lock:
            if self.state != "failed":
                self.state = "stopped"
        if self._store is not None:
            with contextlib.suppress(Exception):
                self._store.close()
        return {"state": self.state, "uploads_aborted": aborted}

    def progress(self, acks_from: int = 0, results_from: int = 0) -> dict[str, Any]:
        program = self.program
        edges = {}
        for region, stages in self._senders.items():
            edges[region] = {
                "bytes": sum(s.stats.bytes for s in stages),
                "rate_bps": 8 * sum(s.stats.rate() for s in stages),
                "connections": sum(s.stats.connections for s in stages),
                "alive": all(s.stats.alive for s in stages),
                "error": next((s.stats.error for s in stages if s.stats.error), ""),
            }
        with self._lock:
            acks = [list(a) for a in self._acks[acks_from:]]
            results = [asdict(r) for r in self._results[results_from:]]
            doc = {
                "gateway_id": self.gateway_id,
                "region": program.region if program else None,
                "state": self.state,
                "errors": list(self.errors),
                "edges": edges,
                "bytes_received": self.receive.bytes_received,
                "bytes_read": self._reader.bytes_read if self._reader else 0,
                "bytes_written": self._writer.bytes_written if self._writer else 0,
                "chunks_submitted": self._chunks_submitted,
                "chunks_unacked": len(self._unacked),
                "objects_submitted": self._objects_submitted,
                "dead_partitions": sorted(self._dead_partitions),
                "refused_peers": self.receive.refused_peers,
                "budget": {"limit": self.budget.limit, "used": self.budget.used, "peak": self.budget.peak},
                "rss_bytes": psutil.Process().memory_info().rss,
                "rss_peak_bytes": _peak_rss(),
                "cpu_seconds": sum(psutil.Process().cpu_times()[:2]),
                "cpu_by_stage": _cpu_by_stage(),
                "uptime_s": time.monotonic() - self.started,
                "acks": acks,
                "acks_next": acks_from + len(acks),
                "results": results,
                "results_next": results_from + len(results),
            }
        return doc

    # -- routing -----------------------------------------------------------------------------
    def _frame_of(self, request: ChunkRequest, chunk: Chunk) -> Frame:
        """Source: the chunk's frame, compressed if it pays (the read stage then sends it)."""
        payload: bytes = chunk.data
        compressed = False
        if self._compress and payload:
            packed = self._compressor().compress(payload)
            if len(packed) < 0.95 * len(payload):
                payload, compressed = packed, True
        return Frame(
            request.chunk_id, 0, request.job.part_number, request.job.offset, request.job.length,
            chunk.digest.crc32c, request.manifest, payload, compressed=compressed,
        ).seal()  # fmt: skip

    def _compressor(self) -> Any:
        compressor = getattr(self._zstd, "c", None)
        if compressor is None:
            import zstandard

            compressor = self._zstd.c = zstandard.ZstdCompressor(level=1)
        return compressor

    def _dispatch(self, request: ChunkRequest, frame: Frame, nbytes: int) -> None:
        partition = self._choose(request, frame.manifest.object_id, nbytes)
        if partition is None:
            self.budget.release(nbytes)
            self._all_paths_down(frame)
            return
        request.partition = frame.partition = partition
        self._route(frame, lambda consumers: Delivery.charged(frame, self.budget, nbytes, consumers))

    def _all_paths_down(self, frame: Frame) -> None:
        region = self.program.region if self.program else "?"
        what = f"part {frame.part_number} of {frame.manifest.key!r}"
        self.fail(f"every path from {region} is down; {what} cannot be sent")

    def _choose(self, request: ChunkRequest, object_id: int, nbytes: int) -> int | None:
        """The live partition on which this chunk would be sent soonest (earliest finish).

        Each first hop's backlog is divided by its measured rate (the plan's rate until one is
        measured), so chunks follow the plan's proportions while the network matches the plan,
        shift towards paths that run faster than planned, and the slow path never holds more
        than it can send before the fast one would have (the tail of a transfer stays short).
        """
        program = self.program
        assert program is not None
        with self._lock:
            live = [p for p in program.weights if p not in self._dead_partitions and program.weights[p] > 0]
            if request.partition in live:
                chosen: int | None = request.partition
            elif not live:
                return None
            else:
                chosen = min(live, key=lambda p: (self._finish_estimate(p, object_id, nbytes), p))
            return chosen

    def _finish_estimate(self, partition: int, object_id: int, nbytes: int) -> float:
        program = self.program
        assert program is not None
        prior = program.weights[partition] * 1e9 / 8  # Gbit/s -> bytes/s
        return max(
            (self._sender_for(n, object_id).finish_estimate(nbytes, prior) for n in program.hops[partition].next_hops),
            default=0.0,
        )

    def _sender_for(self, region: str, object_id: int) -> SendStage:
        """All chunks of one object go to the same gateway of a region (it owns the upload)."""
        stages = self._senders[region]
        return stages[object_id % len(stages)]

    def _cut_through(self, frame: Frame) -> SendStage | None:
        """The next hop to stream a frame to as it arrives: pure relaying to exactly one next hop."""
        program = self.program
        hop = program.hops.get(frame.partition) if program is not None else None
        if hop is None or program is None or program.reads or len(hop.next_hops) != 1:
            return None
        if hop.write and program.region in frame.manifest.dst_keys:
            return None
        return self._sender_for(hop.next_hops[0], frame.manifest.object_id)

    def _on_received(self, frame: Frame, nbytes: int) -> None:
        program = self.program
        if program is None or frame.partition not in program.hops:
            self.budget.release(nbytes)
            self.fail(f"received a chunk of partition {frame.partition}, which this gateway's program lacks")
            return
        self._route(frame, lambda consumers: Delivery.charged(frame, self.budget, nbytes, consumers))

    def _writes_here(self, frame: Frame) -> bool:
        """Whether this gateway writes the frame (its partition writes in this region, a destination)."""
        program = self.program
        hop = program.hops.get(frame.partition) if program is not None else None
        if hop is None or program is None:
            return False
        return hop.write and program.region in frame.manifest.dst_keys and self._writer is not None

    def _route(self, frame: Frame, deliver: Callable[[int], Delivery]) -> None:
        """Hand the frame to its partition's next hops, and to the writer if this region writes it."""
        program = self.program
        assert program is not None
        hop = program.hops[frame.partition]
        write = self._writes_here(frame)
        delivery = deliver(len(hop.next_hops) + int(write))
        for region in hop.next_hops:
            self._sender_for(region, frame.manifest.object_id).put(delivery)
        if write:
            assert self._writer is not None
            self._writer.put(delivery)

    def _on_dead_edge(self, stage: SendStage, delivery: Delivery) -> None:
        """An edge died: the source re-routes; anywhere else the job cannot finish through here."""
        program = self.program
        assert program is not None
        if not program.reads:
            delivery.done()
            self.fail(stage.stats.error or f"next hop {stage.region} unreachable")
            return
        self._drop_paths_through({stage.region}, why=f"the edge to {stage.region} is down")
        self._redispatch(delivery)

    def _redispatch(self, delivery: Delivery) -> None:
        """Send a chunk held by one sender along another partition, without reading it again."""
        frame = delivery.frame
        job = ChunkJob(frame.part_number, frame.offset, frame.raw_length)
        request = ChunkRequest(frame.chunk_id, frame.manifest, job)
        partition = self._choose(request, frame.manifest.object_id, frame.raw_length)
        if partition is None:
            delivery.done()
            self._all_paths_down(frame)
            return
        with self._lock:
            entry = self._unacked.get(frame.chunk_id)
            if entry is not None:
                entry[0].partition = partition
        moved = dataclasses.replace(frame, partition=partition)
        self._route(moved, lambda consumers: delivery.redirect(moved, consumers))
        delivery.done()

    def avoid(self, regions: list[str]) -> int:
        """Source: stop using paths through ``regions`` (a relay there died); returns chunks re-sent."""
        return self._drop_paths_through(set(regions), why=f"the runner lost {', '.join(sorted(regions))}")

    def _drop_paths_through(self, regions: set[str], why: str) -> int:
        """Mark every partition through ``regions`` dead and queue its unacknowledged chunks again."""
        program = self.program
        if program is None or self._reader is None:
            return 0
        with self._lock:
            through = {p for p, h in program.hops.items() if regions & set(h.next_hops)}
            through |= {p for p in program.weights if regions & self._partition_regions.get(p, set())}
            newly_dead = through - self._dead_partitions
            self._dead_partitions |= newly_dead
            resend = [r for r, _ in self._unacked.values() if r.partition in newly_dead]
        if newly_dead:
            log.warning("Paths %s are down (%s); re-sending %d unacknowledged chunks on other paths",
                        sorted(newly_dead), why, len(resend))  # fmt: skip
        for request in resend:
            request.partition = None
            self._reader.queue.put(request)
        return len(resend)

    def _on_written(self, frame: Frame) -> None:
        program = self.program
        assert program is not None
        with self._lock:
            self._acks.append((frame.chunk_id, program.region, frame.manifest.origin))

    def _on_object(self, written: WrittenObject) -> None:
        with self._lock:
            self._results.append(written)


def _peak_rss() -> int:
    """The process's RSS high-water mark (VmHWM), 0 where /proc does not say."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu_by_stage() -> dict[str, float]:
    """CPU seconds per kind of thread (read, send, receive, write, control...), for profiling."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for thread in psutil.Process().threads():
        name = names.get(thread.id, "other")
        kind = name.split("-", 1)[0] if name != "MainThread" else "control"
        out[kind] = round(out.get(kind, 0.0) + thread.user_time + thread.system_time, 3)
    return out


def _describe(program: GatewayProgram) -> str:
    roles = [r for r, on in (("read", program.reads), ("write", program.writes)) if on] or ["relay"]
    hops = ", ".join(f"{n} x{c}" for n, c in program.connections.items()) or "none"
    return f"{'+'.join(roles)} in {program.region}; next hops: {hops}; partitions {sorted(program.hops)}"
