"""Progress: thread-safe counters, rate and ETA, and two renderers (TTY bar, plain lines).

The engine only bumps counters; a reporter thread turns them into snapshots every interval
and hands them to a ProgressSink, so a slow sink (a task log, a terminal) never slows a copy.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TextIO


@dataclass(frozen=True)
class ProgressSnapshot:
    """What a progress display needs; `bytes_total` grows while the listing is still streaming."""

    destination: str
    bytes_done: int
    bytes_total: int
    objects_done: int
    objects_total: int
    objects_skipped: int
    listing_done: bool
    elapsed: float
    rate: float  # bytes per second over the recent window
    eta: float | None  # seconds; None while unknown

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.bytes_total if self.bytes_total else (1.0 if self.listing_done else 0.0)


@dataclass(frozen=True)
class PlannedAction:
    """One copy or delete, reported as it is decided (what `--dry-run` prints)."""

    kind: str  # "copy" or "delete"
    source: str | None
    destination: str
    size: int
    reason: str


class ProgressSink(Protocol):
    """Receives progress.

    `on_progress` comes from one reporter thread every interval (never two at once);
    `on_action` comes from the planning thread as each copy or delete is decided, so the two
    may overlap: a sink that shares state between them must lock it.
    """

    def on_progress(self, snapshot: ProgressSnapshot) -> None: ...

    def on_action(self, action: PlannedAction) -> None: ...


class ProgressTracker:
    """Counters the engine's threads update; cheap enough to call per chunk."""

    WINDOW = 5.0  # seconds of history the rate is averaged over

    def __init__(self, destination: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.destination = destination
        self._clock = clock
        self._lock = threading.Lock()
        self.start = clock()
        self.bytes_done = self.bytes_total = 0
        self.objects_done = self.objects_total = self.objects_skipped = 0
        self.listing_done = False
        self._samples: deque[tuple[float, int]] = deque()

    def planned(self, size: int) -> None:
        with self._lock:
            self.bytes_total += size
            self.objects_total += 1

    def skipped(self) -> None:
        with self._lock:
            self.objects_skipped += 1

    def bytes_moved(self, n: int) -> None:
        with self._lock:
            self.bytes_done += n

    def object_done(self) -> None:
        with self._lock:
            self.objects_done += 1

    def snapshot(self) -> ProgressSnapshot:
        now = self._clock()
        with self._lock:
            done, total = self.bytes_done, self.bytes_total
            self._samples.append((now, done))
            while len(self._samples) > 2 and now - self._samples[0][0] > self.WINDOW:
                self._samples.popleft()
            t0, b0 = self._samples[0]
            if now <= t0:  # a single sample so far: average since the start
                t0, b0 = self.start, 0
            rate = (done - b0) / (now - t0) if now > t0 else 0.0
            remaining = total - done
            eta = remaining / rate if rate > 0 else (0.0 if remaining == 0 and self.listing_done else None)
            return ProgressSnapshot(
                self.destination,
                done,
                total,
                self.objects_done,
                self.objects_total,
                self.objects_skipped,
                self.listing_done,
                now - self.start,
                rate,
                eta,
            )


class ProgressReporter:
    """A daemon thread that feeds snapshots to a sink every `interval` seconds, and once at the end.

    One snapshot per destination tracker each time (`snapshot.destination` tells them apart).
    """

    def __init__(
        self, trackers: ProgressTracker | list[ProgressTracker], sink: ProgressSink | None, interval: float = 0.5
    ) -> None:
        self._trackers = trackers if isinstance(trackers, list) else [trackers]
        self._sink, self._interval = sink, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sky-progress", daemon=True)

    def __enter__(self) -> ProgressReporter:
        if self._sink is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sink is None:
            return
        self._stop.set()
        self._thread.join()
        self._report()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._report()

    def _report(self) -> None:
        assert self._sink is not None
        for tracker in self._trackers:
            self._sink.on_progress(tracker.snapshot())


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def format_line(s: ProgressSnapshot) -> str:
    total = human_bytes(s.bytes_total) + ("" if s.listing_done else "+")
    return (
        f"{human_bytes(s.bytes_done)} / {total} ({s.fraction:.0%}), {human_bytes(s.rate)}/s, "
        f"ETA {human_duration(s.eta)}, objects {s.objects_done}/{s.objects_total}"
        + (f", skipped {s.objects_skipped}" if s.objects_skipped else "")
    )


class TerminalProgress:
    """A redrawn one-line bar on a TTY; otherwise a plain line every `plain_interval` seconds.

    Planned actions are printed (to `actions_stream`, stdout by default) only when
    `show_actions` is set, which the CLI does for --dry-run.
    """

    WIDTH = 24

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        plain_interval: float = 10.0,
        show_actions: bool = False,
        show_progress: bool = True,
        actions_stream: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.plain_interval = plain_interval
        self.show_actions = show_actions
        self.show_progress = show_progress
        self.actions_stream = actions_stream or sys.stdout
        self._last_plain = float("-inf")
        self._drawn = False

    def on_action(self, action: PlannedAction) -> None:
        if not self.show_actions:
            return
        if action.kind == "copy":
            line = f"would copy {action.source} -> {action.destination} ({human_bytes(action.size)})"
        else:
            line = f"would delete {action.destination}"
        print(line, file=self.actions_stream, flush=True)

    def on_progress(self, snapshot: ProgressSnapshot) -> None:
        if not self.show_progress:
            return
        if self.tty:
            filled = int(self.WIDTH * min(1.0, snapshot.fraction))
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {format_line(snapshot)}\x1b[K")
            self.stream.flush()
            self._drawn = True
            return
        if snapshot.elapsed - self._last_plain >= self.plain_interval or (
            snapshot.listing_done and snapshot.objects_done == snapshot.objects_total
        ):
            self._last_plain = snapshot.elapsed
            print(f"progress {snapshot.destination}: {format_line(snapshot)}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()


class InfoLog(Protocol):
    """What LogProgress writes to: a ``logging.Logger``, or the logger Airflow gives a task."""

    def info(self, msg: str, /, *args: object) -> object: ...


class LogProgress:
    """A sink for task logs: one line per `interval` seconds, plus the last one; deletes logged.

    Copies are not logged one by one (there may be millions); `log_copies=True` does it anyway
    (a dry run, where the list of actions is the point). Each destination keeps its own clock,
    so with several destinations every one of them is reported each interval.
    """

    def __init__(
        self, log: InfoLog, interval: float = 30.0, *, log_copies: bool = False, dry_run: bool = False
    ) -> None:
        self.log, self.interval, self.log_copies = log, interval, log_copies
        self._verb = "would " if dry_run else ""
        self._last: dict[str, float] = {}

    def on_action(self, action: PlannedAction) -> None:
        if action.kind == "delete":
            self.log.info("%sdelete %s (%s)", self._verb, action.destination, action.reason)
        elif self.log_copies:
            self.log.info(
                "%scopy %s -> %s (%s, %s)",
                self._verb, action.source, action.destination, human_bytes(action.size), action.reason,
            )

    def on_progress(self, snapshot: ProgressSnapshot) -> None:
        finished = snapshot.listing_done and snapshot.objects_done == snapshot.objects_total
        last = self._last.get(snapshot.destination, float("-inf"))
        if snapshot.elapsed - last >= self.interval or finished:
            self._last[snapshot.destination] = snapshot.elapsed
            self.log.info("Progress %s: %s", snapshot.destination, format_line(snapshot))
