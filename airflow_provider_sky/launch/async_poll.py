"""Poll a cluster's job from an event loop: one kept SSH connection per node, nothing blocking.

The triggerer runs every deferred task of a deployment on one event loop, so a poll must not
block it: no import, file read or key parsing per poll, and no SSH handshake per poll either.
A :class:`ClusterPoller` connects to each node once (asyncssh, host key pinned), keeps the
connection across polls and reconnects only after a failure. Airflow-free, like the runner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncssh

from airflow_provider_sky.launch import job, ssh
from airflow_provider_sky.launch.backends.base import Instance
from airflow_provider_sky.launch.runner import ClusterHandle, PollResult, combine

# Errors that mean "this node does not answer now" (booting, preempted, network); a host key
# mismatch is not one of them: someone else answers at that address, which must fail loudly.
_UNREACHABLE = (OSError, TimeoutError, asyncssh.ConnectionLost, asyncssh.DisconnectError,
                asyncssh.ChannelOpenError, ssh.NodeUnreachable)  # fmt: skip


class ClusterPoller:
    """Kept connections to every node of one cluster; use ``async with`` or call :meth:`close`."""

    def __init__(self, handle: ClusterHandle, *, timeout: float = 20.0) -> None:
        ssh._quiet("asyncssh")  # it logs every channel at INFO: a line per poll in the triggerer's log
        self.handle = handle
        self.nodes = handle.nodes()
        self.timeout = timeout
        self._conns: dict[str, asyncssh.SSHClientConnection] = {}
        self._trusted = {n.instance_id: asyncssh.import_public_key(n.host_key) for n in self.nodes if n.host_key}
        self._client_key = asyncssh.read_private_key(handle.key_path)  # once, not per connection

    async def __aenter__(self) -> ClusterPoller:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _connection(self, node: Instance) -> asyncssh.SSHClientConnection:
        conn = self._conns.get(node.instance_id)
        if conn is not None:
            return conn
        trusted = self._trusted.get(node.instance_id)
        if trusted is None:
            raise ssh.NodeUnreachable(f"no pinned host key for {node.instance_id}; refusing to connect without one")
        conn = await asyncssh.connect(
            node.ssh_host or "", port=node.ssh_port, username=node.ssh_user, client_keys=[self._client_key],
            known_hosts=([trusted], [], []), agent_path=None, config=[], connect_timeout=self.timeout,
        )  # fmt: skip
        self._conns[node.instance_id] = conn
        return conn

    async def _run(self, node: Instance, command: str) -> bytes | None:
        """stdout of ``command`` on ``node``, or None when it does not answer (dropped, to retry)."""
        try:
            conn = await self._connection(node)
            result = await conn.run(command, encoding=None, timeout=self.timeout)
        except asyncssh.HostKeyNotVerifiable:
            raise
        except _UNREACHABLE:
            self._drop(node)
            return None
        out = result.stdout or b""
        return out if isinstance(out, bytes) else out.encode()

    def _drop(self, node: Instance) -> None:
        conn = self._conns.pop(node.instance_id, None)
        if conn is not None:
            conn.abort()

    async def poll(self, offsets: Sequence[int]) -> PollResult:
        """One poll of every node (concurrently) from the given log offsets."""

        async def one(node: Instance, offset: int) -> job.NodeStatus | None:
            out = await self._run(node, job.poll_command(node, offset))
            return None if out is None else job.parse_poll(out, offset)

        statuses = await asyncio.gather(*(one(n, o) for n, o in zip(self.nodes, offsets, strict=True)))
        return combine(self.nodes, statuses, offsets)

    async def close(self) -> None:
        conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            conn.close()
        await asyncio.gather(*(c.wait_closed() for c in conns), return_exceptions=True)
