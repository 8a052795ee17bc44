"""Rate and ETA from counters, and how the terminal renderer shows them."""

import io

from airflow_provider_sky.transfer.progress import ProgressTracker, TerminalProgress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_rate_and_eta_follow_recent_progress():
    clock = Clock()
    tracker = ProgressTracker("file:///d/", clock=clock)
    tracker.planned(1000)
    tracker.listing_done = True
    tracker.snapshot()
    clock.now += 2
    tracker.bytes_moved(200)

    snap = tracker.snapshot()

    assert snap.rate == 100.0
    assert snap.eta == 8.0
    assert snap.fraction == 0.2


def test_eta_is_unknown_before_any_byte_moved():
    tracker = ProgressTracker("x", clock=Clock())
    tracker.planned(10)

    assert tracker.snapshot().eta is None


def test_tty_renderer_redraws_one_line_with_bar_rate_and_eta():
    clock = Clock()
    tracker = ProgressTracker("d", clock=clock)
    tracker.planned(4 * 1024 * 1024)
    tracker.snapshot()
    clock.now += 1
    tracker.bytes_moved(1024 * 1024)
    stream = io.StringIO()
    view = TerminalProgress(stream, tty=True)

    view.on_progress(tracker.snapshot())
    view.close()

    text = stream.getvalue()
    assert text.startswith("\r[######------------------]")
    assert "1.0 MiB / 4.0 MiB+ (25%), 1.0 MiB/s, ETA 0:00:03" in text
    assert text.endswith("\n")


def test_plain_renderer_prints_at_most_one_line_per_interval():
    clock = Clock()
    tracker = ProgressTracker("d", clock=clock)
    tracker.planned(100)
    stream = io.StringIO()
    view = TerminalProgress(stream, tty=False, plain_interval=10)

    for _ in range(5):
        clock.now += 1
        view.on_progress(tracker.snapshot())

    assert stream.getvalue().count("\n") == 1


def test_log_progress_logs_deletes_and_throttled_progress(caplog):
    import logging

    from airflow_provider_sky.transfer.progress import LogProgress, PlannedAction

    clock = Clock()
    tracker = ProgressTracker("s3://b/", clock=clock)
    tracker.planned(10)
    sink = LogProgress(logging.getLogger("task"), interval=30)

    with caplog.at_level(logging.INFO, logger="task"):
        sink.on_action(PlannedAction("copy", "file:///a", "s3://b/a", 10, "missing at destination"))
        sink.on_action(PlannedAction("delete", None, "s3://b/old", 3, "not in source"))
        for _ in range(3):
            clock.now += 1
            sink.on_progress(tracker.snapshot())

    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "delete s3://b/old (not in source)"
    assert len(lines) == 2 and "0 B / 10 B" in lines[1]
