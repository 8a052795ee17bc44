"""Detached jobs on a node: the script that runs ``setup`` then ``run``, and how to read it back.

The job must outlive the SSH session that starts it (the worker defers and goes away; the
triggerer may restart), so it is started with ``setsid nohup`` and leaves everything the poller
needs in files under the node's job directory:

- ``job.log``: stdout and stderr of setup and run, appended;
- ``pid``: the job's session leader, to tell "still running" from "vanished";
- ``exit_code``: written (atomically, via rename) only when the job has finished.

Everything here builds command text or parses output; nothing here opens a connection.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from airflow_provider_sky.launch.backends.base import Instance

JOB_SUBDIR = ".sky/job"
WORKDIR_NAME = "sky_workdir"
LOG_NAME = "job.log"
POLL_MAX_BYTES = 256 * 1024
_SEPARATOR = "--- sky-log ---"


def remote_path(instance: Instance, path: str) -> str:
    """Where ``path`` from the task lands on ``instance``.

    ``~`` and relative paths resolve under the node's ``remote_root``. On sandboxed (local)
    VMs absolute paths are rebased under it too, so a task cannot write over the host's own
    filesystem; on cloud VMs they stay absolute.
    """
    root = instance.remote_root or "."
    if path == "~" or path.startswith("~/"):
        return posixpath.normpath(posixpath.join(root, path[2:]))
    if posixpath.isabs(path):
        return posixpath.normpath(root + path) if instance.sandboxed else posixpath.normpath(path)
    return posixpath.normpath(posixpath.join(root, path))


def job_dir(instance: Instance) -> str:
    return remote_path(instance, JOB_SUBDIR)


def workdir(instance: Instance) -> str:
    return remote_path(instance, WORKDIR_NAME)


def node_envs(rank: int, node_ips: Sequence[str]) -> dict[str, str]:
    """Variables a multi-node job uses to find its peers (SkyPilot's names kept as aliases)."""
    ips = "\n".join(node_ips)
    out = {}
    for prefix in ("SKY", "SKYPILOT"):
        out[f"{prefix}_NODE_RANK"] = str(rank)
        out[f"{prefix}_NUM_NODES"] = str(len(node_ips))
        out[f"{prefix}_NODE_IPS"] = ips
    return out


def job_script(instance: Instance, envs: Mapping[str, str], *, has_setup: bool) -> str:
    """The wrapper that runs setup.sh then run.sh and records the exit code."""
    jdir = shlex.quote(job_dir(instance))
    lines = ["#!/usr/bin/env bash", f"JOB_DIR={jdir}", 'echo $$ > "$JOB_DIR/pid"']
    if instance.sandboxed:
        lines.append(f"export HOME={shlex.quote(instance.remote_root)}")
    lines += [f"export {k}={shlex.quote(str(v))}" for k, v in envs.items()]
    lines += [
        f"mkdir -p {shlex.quote(workdir(instance))} && cd {shlex.quote(workdir(instance))}",
        "rc=0",
    ]
    if has_setup:
        lines += [
            'bash "$JOB_DIR/setup.sh" || rc=$?',
            'if [ "$rc" -ne 0 ]; then echo "setup failed: $rc"; fi',
        ]
    lines += [
        'if [ "$rc" -eq 0 ]; then bash "$JOB_DIR/run.sh" || rc=$?; fi',
        'echo "$rc" > "$JOB_DIR/exit_code.tmp" && mv "$JOB_DIR/exit_code.tmp" "$JOB_DIR/exit_code"',
        "",
    ]
    return "\n".join(lines)


def start_command(instance: Instance) -> str:
    """Start job.sh detached from the SSH session; returns as soon as it is running."""
    jdir = shlex.quote(job_dir(instance))
    return (
        f"cd {jdir} && rm -f exit_code && "
        f"(setsid nohup bash job.sh >> {LOG_NAME} 2>&1 < /dev/null &) && echo started"
    )


def poll_command(instance: Instance, offset: int, max_bytes: int = POLL_MAX_BYTES) -> str:
    """One round trip: job state, then log bytes from ``offset`` (state first, so no line is lost)."""
    jdir = shlex.quote(job_dir(instance))
    return (
        f"cd {jdir} 2>/dev/null || {{ echo MISSING; exit 0; }}; "
        'if [ -f exit_code ]; then echo "EXIT $(cat exit_code)"; '
        'elif [ -f pid ] && kill -0 "$(cat pid)" 2>/dev/null; then echo RUNNING; '
        # the job may have written exit_code and ended between the first test and kill -0
        'elif [ -f exit_code ]; then echo "EXIT $(cat exit_code)"; '
        "elif [ -f pid ]; then echo LOST; else echo STARTING; fi; "
        f"echo {shlex.quote(_SEPARATOR)}; "
        f"tail -c +{int(offset) + 1} {LOG_NAME} 2>/dev/null | head -c {int(max_bytes)}"
    )


def tail_command(instance: Instance, max_bytes: int = 4000) -> str:
    return f"tail -c {int(max_bytes)} {shlex.quote(posixpath.join(job_dir(instance), LOG_NAME))} 2>/dev/null"


State = Literal["running", "starting", "finished", "lost", "missing"]


@dataclass
class NodeStatus:
    """What one poll of one node said."""

    state: State
    exit_code: int | None
    new_log: bytes
    offset: int


def parse_poll(output: bytes, offset: int) -> NodeStatus:
    """Parse :func:`poll_command` output; ``offset`` is where this read started."""
    head, sep, log = output.partition(_SEPARATOR.encode() + b"\n")
    status = head.decode(errors="replace").strip()
    if not sep:
        log = b""
    if status.startswith("EXIT"):
        code = status.split()[1] if len(status.split()) > 1 else "255"
        exit_code = int(code) if code.lstrip("-").isdigit() else 255
        return NodeStatus("finished", exit_code, log, offset + len(log))
    names: dict[str, State] = {"RUNNING": "running", "LOST": "lost", "MISSING": "missing"}
    state = names.get(status, "starting")
    return NodeStatus(state, None, log, offset + len(log))
