"""SSH to cluster nodes with the host key pinned: paramiko for the worker (asyncssh for triggers: async_poll).

Every connection trusts exactly the host key the provisioner reported for that node (the local
backend generates it; cloud backends hand the VM a host key we generated, through user data).
There is no trust-on-first-use and no "accept any key": a node whose key is unknown cannot be
reached, which is the point. Private keys are read from files; they never travel as strings.
"""

from __future__ import annotations

import base64
import logging
import os
import posixpath
import stat
import time
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from airflow_provider_sky.errors import SkyError


class NodeUnreachable(SkyError):
    """The node did not answer SSH (it may be booting, preempted or gone)."""


def generate_keypair(comment: str = "") -> tuple[str, str]:
    """New Ed25519 key pair as (OpenSSH private key text, "ssh-ed25519 AAAA... comment")."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    text = public.decode()
    return private, f"{text} {comment}".strip()


def _paramiko_host_key(host_key: str) -> paramiko.PKey:
    parts = host_key.split()
    if len(parts) < 2:
        raise NodeUnreachable(f"malformed host key for node: {host_key[:30]!r}")
    return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))


def connect(
    host: str,
    port: int,
    user: str,
    key_path: str | os.PathLike[str],
    host_key: str | None,
    *,
    timeout: float = 10.0,
    wait: float = 0.0,
) -> paramiko.SSHClient:
    """Open a paramiko client that trusts only ``host_key``; retry for ``wait`` seconds.

    Retrying matters for fresh VMs whose sshd is not listening yet. A host key mismatch is not
    retried: it means someone else answers on that address.
    """
    if not host_key:
        raise NodeUnreachable(
            f"no pinned host key for {host}:{port}; refusing to connect without one"
        )
    _quiet("paramiko")
    pkey = paramiko.Ed25519Key.from_private_key_file(str(key_path))
    deadline = time.monotonic() + wait
    while True:
        client = paramiko.SSHClient()
        name = host if port == 22 else f"[{host}]:{port}"
        client.get_host_keys().add(name, host_key.split()[0], _paramiko_host_key(host_key))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                host,
                port=port,
                username=user,
                pkey=pkey,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                allow_agent=False,
                look_for_keys=False,
            )
            return client
        except paramiko.BadHostKeyException:
            client.close()
            raise
        except (OSError, paramiko.SSHException) as exc:
            client.close()
            if time.monotonic() >= deadline:
                raise NodeUnreachable(f"cannot SSH to {user}@{host}:{port}: {exc}") from exc
            time.sleep(0.2)


def _quiet(logger_name: str) -> None:
    """SSH libraries log every connection at INFO; a poll every few seconds would flood task logs."""
    logger = logging.getLogger(logger_name)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def run(client: paramiko.SSHClient, command: str, *, timeout: float = 60.0) -> tuple[int, str, str]:
    """Run one command; return (exit code, stdout, stderr)."""
    _, stdout, stderr = client.exec_command(command, timeout=timeout)
    out = stdout.read().decode(errors="replace")
    err = stderr.read().decode(errors="replace")
    return stdout.channel.recv_exit_status(), out, err


def upload_tree(sftp: paramiko.SFTPClient, local: Path, remote: str) -> int:
    """Copy a file or directory tree to ``remote`` (created as needed); return bytes sent."""
    sent = 0
    if local.is_file():
        _mkdirs(sftp, posixpath.dirname(remote))
        sftp.put(str(local), remote)
        return local.stat().st_size
    _mkdirs(sftp, remote)
    for root, dirs, files in os.walk(local):
        rel = os.path.relpath(root, local)
        target = remote if rel == "." else posixpath.join(remote, *Path(rel).parts)
        for d in dirs:
            _mkdirs(sftp, posixpath.join(target, d))
        for f in files:
            src = Path(root) / f
            sftp.put(str(src), posixpath.join(target, f))
            sftp.chmod(posixpath.join(target, f), stat.S_IMODE(src.stat().st_mode))
            sent += src.stat().st_size
    return sent


def _mkdirs(sftp: paramiko.SFTPClient, path: str) -> None:
    if not path or path == "/":
        return
    try:
        sftp.stat(path)
        return
    except OSError:
        pass
    _mkdirs(sftp, posixpath.dirname(path))
    try:
        sftp.mkdir(path)
    except OSError:
        sftp.stat(path)  # created concurrently: fine; otherwise re-raise

