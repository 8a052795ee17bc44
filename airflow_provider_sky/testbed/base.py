"""What every testbed offers, shaped or not: the profile, its rates, and spawned processes.

:class:`~airflow_provider_sky.testbed.shaped.Testbed` (namespaces, shaped veths) and
:class:`~airflow_provider_sky.testbed.loopback.LoopbackTestbed` (everything on 127.0.0.1) share
this, so code that runs gateways on a testbed does not care which one it got.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.testbed.profiles import load_profile

STOP_GRACE_S = 2.0
log = logging.getLogger(__name__)


class BaseTestbed:
    """A profile plus the processes started on it; a context manager that tears down on exit."""

    shaped: bool = False
    __test__ = False  # the name starts with 'Test': keep pytest from collecting it where tests import it

    def __init__(self, profile: str | Path | dict[str, Any]) -> None:
        self._doc = load_profile(profile)
        self.regions: tuple[str, ...] = tuple(self._doc["regions"])
        self._processes: list[subprocess.Popen] = []
        self._torn_down = False

    # -- profile -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return str(self._doc.get("name", "custom"))

    def index(self, region: str) -> int:
        try:
            return self.regions.index(region)
        except ValueError:
            raise SkyUserError(
                f"Region '{region}' is not in testbed '{self.name}'", f"use one of {', '.join(self.regions)}"
            ) from None

    def rate(self, a: str, b: str) -> float:
        """Shaped rate of the link ``a`` -> ``b`` in Gbit/s (0: no link)."""
        return float(self._doc["throughput_gbps"][self.index(a)][self.index(b)])

    def grid(self) -> dict[str, Any]:
        """The profile document as it stands now (``set_rate`` changes applied), for the planner."""
        return copy.deepcopy(self._doc)

    def set_rate(self, a: str, b: str, gbps: float) -> None:
        """Change the rate of ``a`` -> ``b``; subclasses also reshape the link."""
        i, j = self.index(a), self.index(b)
        if not self._has_link(i, j):
            raise SkyUserError(f"There is no link {a} -> {b} in testbed '{self.name}'", "set_rate an existing link")
        if not gbps > 0:
            raise SkyUserError(
                f"A link rate of {gbps:g} Gbit/s cannot be shaped", "use a rate above 0 (a link cannot be cut)"
            )
        self._doc["throughput_gbps"][i][j] = float(gbps)

    def _has_link(self, i: int, j: int) -> bool:
        return self._doc["throughput_gbps"][i][j] > 0

    # -- processes -----------------------------------------------------------------------

    def _command(self, region: str, argv: Sequence[str]) -> list[str]:
        raise NotImplementedError

    def spawn(self, region: str, argv: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen:
        """Start ``argv`` in ``region``; it is stopped at teardown. Popen keyword arguments pass
        through; a new session is the default, so teardown can stop the process's children too."""
        if self._torn_down:
            raise SkyUserError(f"Testbed '{self.name}' is torn down", "build a new testbed")
        popen_kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(self._command(region, argv), **popen_kwargs)
        self._processes = [p for p in self._processes if p.returncode is None]  # forget reaped ones
        self._processes.append(proc)
        return proc

    def run(self, region: str, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess:
        """Run ``argv`` in ``region`` to completion (``subprocess.run`` keyword arguments)."""
        return subprocess.run(self._command(region, argv), **kwargs)

    def _stop_processes(self) -> None:
        """SIGTERM each spawned process group, SIGKILL whatever ignores it, reap all."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            live = [p for p in self._processes if p.poll() is None]
            for proc in live:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig) if _leads_group(proc) else proc.send_signal(sig)
            for proc in live:
                try:
                    proc.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    continue
        for proc in self._processes:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        self._processes.clear()

    # -- lifetime ------------------------------------------------------------------------

    def teardown(self) -> None:
        """Stop everything this testbed started; safe to call more than once."""
        self._stop_processes()
        self._torn_down = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()


def _leads_group(proc: subprocess.Popen) -> bool:
    try:
        return os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return False
