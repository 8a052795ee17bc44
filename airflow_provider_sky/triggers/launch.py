"""SkyLaunchTrigger: follow a detached job on a cluster from the triggerer, without a worker slot.

Everything the trigger needs is in its kwargs (the cluster handle: addresses, pinned host keys,
the *path* of the SSH key) plus the log offsets it starts from, and everything about the job is
in files on the node. So a triggerer restart simply re-creates the trigger and polls on; at
worst the log lines since the last deferral are printed again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_sky.launch import runner

# Polls in a row with a node unreachable (and the cloud saying it still exists) before giving up.
MAX_UNREACHABLE_POLLS = 12


class SkyLaunchTrigger(BaseTrigger):
    """Poll a launched job until it ends; yield one event: finished, preempted, lost or timeout.

    :param handle: ``ClusterHandle.to_dict()`` of the cluster running the job.
    :param offsets: per-node log byte offsets to resume from.
    :param poll_interval: seconds between polls.
    :param deadline: unix time after which the job counts as timed out (None: no limit).
    :param launch_state: opaque JSON the operator needs when it resumes (plan, attempts, restart
        count); handed back untouched in the event, so resuming depends on nothing but the event.
    """

    def __init__(
        self,
        handle: dict[str, Any],
        offsets: list[int] | None = None,
        poll_interval: float = 5.0,
        deadline: float | None = None,
        launch_state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.handle = handle
        self.offsets = list(offsets) if offsets is not None else [0] * len(handle["instances"])
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.launch_state = launch_state or {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "handle": self.handle,
                "offsets": list(self.offsets),
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "launch_state": self.launch_state,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        handle = runner.ClusterHandle.from_dict(self.handle)
        offsets = list(self.offsets)
        unreachable = 0
        while True:
            result = await runner.poll_async(handle, offsets)
            offsets = result.offsets
            for line in result.new_log.splitlines():
                self.log.info("%s", line)
            if result.done:
                tail = await runner.log_tail_async(handle) if result.exit_code else ""
                yield self._event("finished", exit_code=result.exit_code, log_tail=tail)
                return
            if result.lost_nodes:
                unreachable += 1
                if await asyncio.to_thread(runner.is_preempted, handle):
                    yield self._event("preempted", lost_nodes=result.lost_nodes)
                    return
                if unreachable >= MAX_UNREACHABLE_POLLS:
                    yield self._event("lost", lost_nodes=result.lost_nodes)
                    return
            else:
                unreachable = 0
            if self.deadline is not None and time.time() > self.deadline:
                yield self._event("timeout", log_tail=await runner.log_tail_async(handle))
                return
            await asyncio.sleep(self.poll_interval)

    def _event(self, status: str, **fields: Any) -> TriggerEvent:
        payload: dict[str, Any] = {
            "status": status,
            "cluster_name": self.handle["cluster_name"],
            "exit_code": None,
            "log_tail": "",
            "lost_nodes": [],
            "handle": self.handle,
            "launch_state": self.launch_state,
        }
        payload.update(fields)
        return TriggerEvent(payload)

    async def on_kill(self) -> None:
        """The user killed the deferred task: delete the cluster (a restart does not get here)."""
        await asyncio.to_thread(runner.teardown, self.handle, log=self.log.info)
