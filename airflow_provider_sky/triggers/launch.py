"""SkyLaunchTrigger: follow a detached job on a cluster from the triggerer, without a worker slot.

Everything the trigger needs is in its kwargs (the cluster handle: addresses, pinned host keys,
the *path* of the SSH key) and in the cluster's state dir, and everything about the job is in
files on the node. The log offsets it has printed up to are saved in the state dir after each
poll, so a triggerer restart re-creates the trigger and goes on from there without printing a
line twice. The terminal event carries ids only (status, cluster, exit code): the worker reads
the rest from the state dir (:func:`~airflow_provider_sky.launch.runner.resume_event`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_sky.launch import runner, state
from airflow_provider_sky.launch.async_poll import ClusterPoller

# Polls in a row with a node unreachable (and the cloud saying it still exists) before giving up.
MAX_UNREACHABLE_POLLS = 12


class SkyLaunchTrigger(BaseTrigger):
    """Poll a launched job until it ends; yield one event: finished, vanished, preempted, lost or timeout.

    :param handle: ``ClusterHandle.to_dict()`` of the cluster running the job.
    :param offsets: per-node log byte offsets to resume from (a later offset saved in the state
        dir by an earlier run of this trigger wins).
    :param poll_interval: seconds between polls.
    :param deadline: unix time after which the job counts as timed out (None: no limit).
    :param launch_state: JSON the operator needs when it resumes (plan, attempts, restart
        count); written to the cluster's record with the terminal event, not carried in it.
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
        saved = await asyncio.to_thread(state.load_offsets, handle.cluster_name)
        if saved is None or len(saved) != len(self.offsets):
            saved = self.offsets
        offsets = [max(a, b) for a, b in zip(self.offsets, saved, strict=True)]
        async with ClusterPoller(handle) as poller:
            status, fields = await self._follow(handle, poller, offsets)
        await asyncio.to_thread(state.update_record, handle.cluster_name, launch_state=self.launch_state)
        yield TriggerEvent({"status": status, "cluster_name": handle.cluster_name, **fields})

    async def _follow(
        self, handle: runner.ClusterHandle, poller: ClusterPoller, offsets: list[int]
    ) -> tuple[str, dict[str, Any]]:
        """Poll until the job ends; the terminal status and its (small) fields."""
        unreachable = 0
        beat = time.monotonic()
        while True:
            result = await poller.poll(offsets)
            for line in result.new_log.splitlines():
                self.log.info("%s", line)
            if result.offsets != offsets:
                offsets = result.offsets
                await asyncio.to_thread(state.save_offsets, handle.cluster_name, offsets)
            if result.done:
                return "finished", {"exit_code": result.exit_code}
            if result.vanished_nodes:
                return "vanished", {"nodes": result.vanished_nodes}
            if result.lost_nodes:
                unreachable += 1
                if await asyncio.to_thread(runner.is_preempted, handle):
                    return "preempted", {"nodes": result.lost_nodes}
                if unreachable >= MAX_UNREACHABLE_POLLS:
                    return "lost", {"nodes": result.lost_nodes}
            else:
                unreachable = 0
            if self.deadline is not None and time.time() > self.deadline:
                return "timeout", {}
            if time.monotonic() - beat > runner.HEARTBEAT_SECONDS:
                await asyncio.to_thread(runner.heartbeat, handle)
                beat = time.monotonic()
            await asyncio.sleep(self.poll_interval)

    async def on_kill(self) -> None:
        """The user killed the deferred task: delete the cluster (a restart does not get here)."""
        await asyncio.to_thread(runner.teardown, self.handle, log=self.log.info)
