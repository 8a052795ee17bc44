"""SkyTransferTrigger: follow an overlay transfer from the triggerer while its gateways move the bytes.

The kwargs hold the job's handle (gateway addresses, the job directory's *path*; the token and
keys stay in that directory), so a restarted triggerer re-creates the trigger and polls on:
the gateways never noticed. Polling is async (aiohttp), so nothing blocks the event loop; the
trigger also relays chunk acknowledgements from destination to source gateways and logs
progress (bytes, rate, ETA, per-edge rates). It yields exactly one event, success or failed;
the operator's ``execute_complete`` verifies, tears down and reports.

``on_kill`` (Airflow 3.3: a user marked the task failed/success or cleared it, not a triggerer
restart) stops every gateway when ``cancel_on_kill``, so nothing outlives a killed task.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_sky.overlay import runner
from airflow_provider_sky.overlay.watch import watch


class SkyTransferTrigger(BaseTrigger):
    """Poll an overlay job's gateways until every destination holds its objects, or one fails.

    :param handle: ``OverlayHandle.to_dict()`` of the running job.
    :param deadline: unix time after which the transfer counts as failed (None: no limit).
    :param cancel_on_kill: stop the gateways when the user kills the task.
    :param state: opaque JSON the operator needs when it resumes, handed back in the event.
    """

    def __init__(
        self,
        handle: dict[str, Any],
        deadline: float | None = None,
        cancel_on_kill: bool = True,
        state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.handle = handle
        self.deadline = deadline
        self.cancel_on_kill = cancel_on_kill
        self.state = state or {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"handle": self.handle, "deadline": self.deadline, "cancel_on_kill": self.cancel_on_kill,
             "state": self.state},
        )  # fmt: skip

    async def run(self) -> AsyncIterator[TriggerEvent]:
        handle = runner.OverlayHandle.from_dict(self.handle)
        timeout = None if self.deadline is None else max(0.0, self.deadline - time.time())
        try:
            outcome = await watch(handle, log_line=self.log.info, timeout_s=timeout)
        except Exception as exc:  # any failure must still reach execute_complete, which tears down
            # Had it escaped, Airflow would fail the task without execute_complete, and the
            # gateways would live on until their idle timeout (VMs: until the janitor's TTL).
            self.log.exception("Lost track of overlay job %s", handle.job_id)
            why = f"the triggerer lost track of the job ({type(exc).__name__}: {exc})"
            outcome = runner.OverlayOutcome("failed", why)
        yield TriggerEvent({"status": outcome.status, "outcome": outcome.to_dict(), "handle": self.handle,
                            "state": self.state})  # fmt: skip

    async def on_kill(self) -> None:
        """The user killed the deferred task: stop and remove every gateway (restarts do not get here)."""
        if self.cancel_on_kill:
            self.log.info("Task killed: stopping overlay job %s", self.handle["job_id"])
            await asyncio.to_thread(runner.teardown, runner.OverlayHandle.from_dict(self.handle))
