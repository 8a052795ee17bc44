"""Who owns a testbed, and removing the ones whose owner died.

A testbed killed with its process (SIGKILL, an OOM kill, a CI job timeout) leaves namespaces,
veths and processes behind. Each testbed writes an owner record ``/run/sky-testbed/<id>.json``
(pid and that process's start time, so a recycled pid is not mistaken for the owner); a sweep
removes only objects whose names match the testbed patterns exactly and whose owner is gone, so
it never touches anything else, nor a testbed another process is using right now. /run is a
tmpfs, like /run/netns, so records and namespaces vanish together on reboot.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from airflow_provider_sky.testbed import iproute
from airflow_provider_sky.testbed.naming import DEFAULT_PREFIX, namespace_pattern, veth_pattern

OWNER_DIR = Path("/run/sky-testbed")
log = logging.getLogger(__name__)


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (clock ticks since boot), or None if there is no such pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def write_owner(testbed_id: str) -> None:
    OWNER_DIR.mkdir(mode=0o755, exist_ok=True)
    record = {"pid": os.getpid(), "start": _start_time(os.getpid())}
    (OWNER_DIR / f"{testbed_id}.json").write_text(json.dumps(record))


def remove_owner(testbed_id: str) -> None:
    (OWNER_DIR / f"{testbed_id}.json").unlink(missing_ok=True)
    (OWNER_DIR / f"{testbed_id}.layout.json").unlink(missing_ok=True)


def write_layout(testbed_id: str, layout: dict[str, Any]) -> None:
    """Beside the owner record: namespaces and addresses, for processes that place gateways in it."""
    (OWNER_DIR / f"{testbed_id}.layout.json").write_text(json.dumps(layout))


def live_layouts() -> list[dict[str, Any]]:
    """Layouts of every testbed whose builder still runs."""
    out = []
    for path in sorted(OWNER_DIR.glob("*.layout.json")) if OWNER_DIR.exists() else []:
        testbed_id = path.name.removesuffix(".layout.json")
        if owner_alive(testbed_id):
            with contextlib.suppress(OSError, ValueError):
                out.append(json.loads(path.read_text()))
    return out


def owner_alive(testbed_id: str) -> bool:
    """True while the process that built the testbed still runs."""
    try:
        record = json.loads((OWNER_DIR / f"{testbed_id}.json").read_text())
    except (OSError, ValueError):
        return False
    return _start_time(int(record["pid"])) == record.get("start")


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """Serialise builds machine-wide, so two picking a management /24 at once cannot pick the same."""
    OWNER_DIR.mkdir(mode=0o755, exist_ok=True)
    with open(OWNER_DIR / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def objects(ids: Iterable[str] | None = None, prefix: str = DEFAULT_PREFIX) -> dict[str, list[str]]:
    """Namespaces and root-namespace interfaces that match the testbed patterns, by testbed id
    (only ``ids`` when given)."""
    wanted = None if ids is None else set(ids)
    found: dict[str, list[str]] = {}
    sources = ((iproute.namespaces(), namespace_pattern(prefix)), (iproute.root_links(), veth_pattern(prefix)))
    for names, pattern in sources:
        for name in names:
            match = pattern.match(name.split("@", 1)[0])
            if match and (wanted is None or match.group(1) in wanted):
                found.setdefault(match.group(1), []).append(name.split("@", 1)[0])
    return found


def remove(names: Iterable[str], prefix: str = DEFAULT_PREFIX) -> None:
    """Kill processes in, and delete, each namespace; delete each root interface."""
    ns_pattern = namespace_pattern(prefix)
    for name in names:
        if ns_pattern.match(name):
            iproute.delete_namespace(name)
        else:
            iproute.delete_link(name)


def sweep_stale(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Remove what testbeds with ``prefix`` left behind when their owner died; return the names.

    Needs root; without it there is nothing this process could have made, so it returns [].
    """
    if os.geteuid() != 0:
        return []
    removed: list[str] = []
    for testbed_id, names in objects(prefix=prefix).items():
        if owner_alive(testbed_id):
            continue
        log.warning("removing stale testbed %s: %s", testbed_id, ", ".join(names))
        remove(names, prefix)
        remove_owner(testbed_id)
        removed.extend(names)
    return removed
