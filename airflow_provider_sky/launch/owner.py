"""Who owns a cluster, in tags the janitor can check after the owner was killed with SIGKILL.

A launch from ``airflow-sky launch`` or plain Python has no DAG run whose state the janitor
could read, so the cluster records its launching process: the pid *and* that process's start
time, because pids are reused and a new process under the old pid must not keep a dead
launch's cluster alive. The check only means something on the machine that launched, so the
janitor applies it to the local backend; cloud clusters rely on the heartbeat tag instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import psutil

from airflow_provider_sky.launch.backends.base import TAG_OWNER_PID, TAG_OWNER_STARTED


def _started(pid: int) -> str:
    """A process's start time in hundredths of a second (digits only: valid in every cloud's labels)."""
    return str(int(psutil.Process(pid).create_time() * 100))


def this_process() -> dict[str, str]:
    """Owner tags naming the current process."""
    pid = os.getpid()
    return {TAG_OWNER_PID: str(pid), TAG_OWNER_STARTED: _started(pid)}


def is_gone(tags: Mapping[str, str]) -> bool | None:
    """True when the recorded owner process no longer runs; None when no owner was recorded."""
    pid_text, started = tags.get(TAG_OWNER_PID), tags.get(TAG_OWNER_STARTED)
    if not pid_text or not started or not pid_text.isdigit():
        return None
    try:
        proc = psutil.Process(int(pid_text))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return True
        return _started(proc.pid) != started
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return None  # not ours to inspect (another user's process): cannot tell, so keep
