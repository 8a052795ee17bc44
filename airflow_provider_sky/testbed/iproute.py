"""The few iproute2 calls a testbed makes, each a subprocess with its error text kept.

Why shell out instead of netlink bindings: iproute2 is on every Linux box, needs no new
dependency, and its commands read the same in a log as in the docs. Everything here is
synchronous and quick (a few ms per call).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence

from airflow_provider_sky.errors import SkyError, SkyUserError

COMMAND_TIMEOUT_S = 10.0


class NetnsError(SkyError):
    """An ip/tc command failed; the message holds the command and its stderr."""


def require_tools() -> None:
    """Refuse early, with the fix, when this process cannot build namespaces."""
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        why = "this process is not root" if os.geteuid() != 0 else f"{' and '.join(missing)} not found on PATH"
        raise SkyUserError(
            f"The shaped testbed needs root and iproute2 (ip netns, veth, tc htb), but {why}",
            "run as root on Linux with iproute2 installed (apt-get install iproute2), "
            "or use LoopbackTestbed / build_testbed(..., allow_loopback=True) for an unshaped stand-in",
        )


def run(argv: Sequence[str], *, check: bool = True) -> str:
    """Run one command, return its stdout; a failure raises with the command and stderr."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise NetnsError(f"{' '.join(argv)} did not finish in {COMMAND_TIMEOUT_S:g} s") from exc
    if check and done.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    return run(["ip", *(["-n", netns] if netns else []), *args], check=check)


def tc(*args: str, netns: str, check: bool = True) -> str:
    return run(["tc", "-n", netns, *args], check=check)


def namespaces() -> list[str]:
    """Names of every named network namespace (``ip netns list`` may append ``(id: N)``)."""
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def root_links() -> list[str]:
    """Interface names in the root namespace."""
    return [link["ifname"] for link in json.loads(ip("-j", "link", "show") or "[]")]


def root_ipv4() -> list[ipaddress.IPv4Interface]:
    """Every IPv4 address (with its prefix) in the root namespace."""
    out = []
    for link in json.loads(ip("-j", "-4", "addr", "show") or "[]"):
        for addr in link.get("addr_info", []):
            out.append(ipaddress.IPv4Interface(f"{addr['local']}/{addr['prefixlen']}"))
    return out


def netns_pids(name: str) -> list[int]:
    """Processes whose network namespace is ``name``."""
    return [int(p) for p in ip("netns", "pids", name, check=False).split()]


def kill_netns_processes(name: str, grace_s: float = 2.0) -> None:
    """SIGTERM everything in the namespace, SIGKILL what is left after ``grace_s``, wait until none
    remain: a namespace with live processes outlives ``ip netns del``, and so do its veths."""
    deadline = time.monotonic() + grace_s
    sig = signal.SIGTERM
    while pids := netns_pids(name):
        if time.monotonic() > deadline:
            if sig == signal.SIGKILL and time.monotonic() > deadline + 5.0:
                raise NetnsError(f"processes {pids} in namespace {name} survive SIGKILL")
            sig = signal.SIGKILL
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(0.02)


def delete_namespace(name: str) -> None:
    kill_netns_processes(name)
    ip("netns", "del", name, check=False)


def delete_link(name: str) -> None:
    """Delete a root-namespace interface (its veth peer goes with it)."""
    ip("link", "del", name, check=False)
