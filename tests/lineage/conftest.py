"""OpenLineage's own listener, writing every event to a file, for the lineage tests.

The provider's listener is registered by Airflow's plugin loader only when lineage is
configured at first import, which a shared test process cannot promise; so each test that asks
for ``lineage_events`` gets a fresh listener with a file transport, registered on the task
runner's listener manager for that test only, and the provider's cached configuration is
cleared before and after so no other test sees lineage switched on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def _clear_openlineage_configuration() -> None:
    from airflow.providers.openlineage import conf

    for name in dir(conf):
        cached = getattr(conf, name)
        if callable(getattr(cached, "cache_clear", None)):
            cached.cache_clear()


@pytest.fixture
def lineage_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A callable returning every OpenLineage event written so far, as parsed JSON, in order."""
    from airflow.providers.openlineage.plugins.listener import OpenLineageListener
    from airflow.sdk.listener import get_listener_manager

    path = tmp_path / "openlineage.jsonl"
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT",
                       json.dumps({"type": "file", "log_file_path": str(path), "append": True}))  # fmt: skip
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__NAMESPACE", "sky-tests")
    monkeypatch.delenv("AIRFLOW__OPENLINEAGE__DISABLED", raising=False)
    _clear_openlineage_configuration()
    manager = get_listener_manager()
    displaced = [p for p in manager.pm.get_plugins() if isinstance(p, OpenLineageListener)]
    for plugin in displaced:
        manager.pm.unregister(plugin)
    listener = OpenLineageListener()
    manager.add_listener(listener)

    def read() -> list[dict[str, Any]]:
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    try:
        yield read
    finally:
        manager.pm.unregister(listener)
        for plugin in displaced:
            manager.add_listener(plugin)
        monkeypatch.undo()
        _clear_openlineage_configuration()


def task_events(events: list[dict[str, Any]], task_id: str) -> dict[str, dict[str, Any]]:
    """The START and COMPLETE (or FAIL) events of one task, by event type."""
    return {e["eventType"]: e for e in events if e["job"]["name"].endswith(f".{task_id}")}
