"""The per-cluster state directory: SSH key, cluster record, log offsets printed so far.

Why on disk: the worker that provisions, the triggerer that polls and the janitor that cleans
up may be different processes (or restarts of one). They share only the cluster name and this
directory, so the private key is never passed around in XCom, trigger kwargs or logs: only its
path is. Set ``SKY_STATE_DIR`` to a volume every Airflow component mounts when they run on
different machines; the default is ``~/.sky-airflow``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch.ssh import generate_keypair

CLUSTER_RECORD = "cluster.json"
LOG_OFFSETS = "log_offsets.json"
PRIVATE_KEY = "id_ed25519"


def state_root() -> Path:
    """Root of all provider state; created with 0700 because it holds private keys."""
    root = Path(os.environ.get("SKY_STATE_DIR") or Path.home() / ".sky-airflow")
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:  # a file in the way, a read-only mount, no permission
        why = "it is a file" if root.is_file() else exc.strerror
        raise SkyUserError(
            f"State directory {str(root)!r} cannot be created ({why})",
            "set SKY_STATE_DIR to a writable directory (one every Airflow component mounts)",
        ) from exc
    return root


def clusters_root() -> Path:
    path = state_root() / "clusters"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def cluster_dir(cluster_name: str) -> Path:
    return clusters_root() / cluster_name


def ensure_cluster_key(cluster_name: str) -> tuple[Path, str]:
    """Create (once) the cluster's SSH key pair; return the private key path and public key."""
    directory = cluster_dir(cluster_name)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path = directory / PRIVATE_KEY
    pub_path = directory / f"{PRIVATE_KEY}.pub"
    if not key_path.exists():
        private, public = generate_keypair(comment=f"sky-{cluster_name}")
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(private)
        pub_path.write_text(public + "\n")
    return key_path, pub_path.read_text().strip()


def save_record(cluster_name: str, record: dict[str, Any]) -> Path:
    """Write the cluster record atomically (a reader never sees half a file)."""
    directory = cluster_dir(cluster_name)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = directory / f".{CLUSTER_RECORD}.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    tmp.replace(directory / CLUSTER_RECORD)
    return directory / CLUSTER_RECORD


def update_record(cluster_name: str, **fields: Any) -> bool:
    """Merge ``fields`` into an existing record (False when the cluster has none any more)."""
    record = load_record(cluster_name)
    if record is None:
        return False
    save_record(cluster_name, record | fields)
    return True


def load_record(cluster_name: str) -> dict[str, Any] | None:
    path = cluster_dir(cluster_name) / CLUSTER_RECORD
    if not path.exists():
        return None
    return json.loads(path.read_text())


def save_offsets(cluster_name: str, offsets: list[int]) -> None:
    """Remember how far the job log was printed, so a restarted poller does not print it again."""
    directory = cluster_dir(cluster_name)
    if not directory.is_dir():
        return  # torn down meanwhile: nothing left to resume
    tmp = directory / f".{LOG_OFFSETS}.tmp"
    tmp.write_text(json.dumps(offsets))
    tmp.replace(directory / LOG_OFFSETS)


def load_offsets(cluster_name: str) -> list[int] | None:
    try:
        data = json.loads((cluster_dir(cluster_name) / LOG_OFFSETS).read_text())
    except (OSError, ValueError):
        return None
    return [int(x) for x in data] if isinstance(data, list) else None


def list_clusters() -> list[str]:
    return sorted(p.name for p in clusters_root().iterdir() if p.is_dir())


def remove_cluster(cluster_name: str) -> None:
    """Forget a cluster (after its VMs are confirmed gone): deletes the key too."""
    shutil.rmtree(cluster_dir(cluster_name), ignore_errors=True)
