"""The compute interface every cloud module implements, and the records they share.

A cloud is a module (``local``, ``aws``, ``gcp``, ``azure``) offering the same four free
functions, looked up by cloud name with :func:`get_cloud`:

- ``launch(request, options) -> list[Instance]``: create ``request.num_nodes`` VMs in one
  zone (or region), tagged, reachable with the request's public key, each ``host_key`` the one
  its sshd serves (cloud VMs report it on their console; no private key is sent to a VM). On a
  capacity or quota error, or when a VM never reports its host key, the module removes anything
  it half-created and raises a :class:`ProvisionError` subclass naming the scope that is blocked.
- ``describe(cluster_name, region, options) -> list[Instance]``: the cluster's live VMs.
- ``terminate(cluster_name, region, options) -> None``: delete the cluster's VMs and wait
  until the cloud reports them gone (a leak costs money; a slow teardown does not).
- ``list_tagged(options) -> list[Instance]``: every VM this provider created, for the janitor.
- ``set_tags(cluster_name, region, options, tags) -> None``: merge tags into the cluster's
  VMs; the owner's heartbeat, which moves the TTL the janitor counts.
- ``check_options(options) -> None`` (optional): read the module's own settings (e.g. the local
  cloud's ``SKY_LOCAL_CAPACITY``) and raise a ``SkyUserError`` before anything is created.

Failover, SSH and cluster state live elsewhere (``runner``, ``ssh``, ``state``): a cloud module
only translates between these records and one cloud's API, so adding a cloud is adding a module.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any, Literal, Protocol

from airflow_provider_sky.errors import SkyError

CLOUDS = ("local", "aws", "gcp", "azure")

# Tag keys every resource carries; the janitor relies on them (see cli/janitor.py).
TAG_MANAGED = "sky-managed"
TAG_CLUSTER = "sky-cluster"
TAG_OWNER = "sky-owner"
TAG_DAG = "sky-dag"
TAG_RUN = "sky-run"
TAG_TASK = "sky-task"
TAG_EXPIRES = "sky-expires"  # unix seconds after which the janitor may delete the resource
TAG_KEEP = "sky-keep"  # "true": the user kept the cluster; only its TTL ends it, not its run
TAG_TTL = "sky-ttl"  # seconds the cluster may live after its last heartbeat
TAG_HEARTBEAT = "sky-heartbeat"  # unix seconds, refreshed by the owner while it polls the job
TAG_OWNER_PID = "sky-owner-pid"  # the launching process (a CLI or plain Python launch, no DAG run)
TAG_OWNER_STARTED = "sky-owner-started"  # its start time in 1/100 s, so a reused pid is not the owner

Scope = Literal["zone", "region", "cloud"]


class ProvisionError(SkyError):
    """The cloud refused to create VMs for a reason that failover may route around.

    ``scope`` says how much of the cloud the error rules out: a zone out of capacity, a region
    whose quota is used up, or the whole cloud (credentials). ``code`` is the cloud's own error
    code so users can look it up.
    """

    default_scope: Scope = "zone"

    def __init__(
        self,
        message: str,
        *,
        cloud: str,
        region: str | None,
        zone: str | None,
        code: str = "",
        scope: Scope | None = None,
    ) -> None:
        self.cloud = cloud
        self.region = region
        self.zone = zone
        self.code = code
        self.scope: Scope = scope or self.default_scope
        super().__init__(message)


class CapacityError(ProvisionError):
    """No capacity for this instance type in the zone right now (try another zone)."""

    default_scope: Scope = "zone"


class QuotaError(ProvisionError):
    """The account's quota in this region is used up (no zone of the region will do)."""

    default_scope: Scope = "region"


@dataclass
class ProvisionRequest:
    """What the runner asks a cloud module for: one cluster in one zone or region."""

    cluster_name: str
    cloud: str
    region: str
    zone: str | None
    instance_type: str
    use_spot: bool
    num_nodes: int
    ssh_public_key: str
    # An optional host key pair for VMs whose sshd we start ourselves (the local cloud; it makes one
    # per VM when none is given). The runner gives none: cloud VMs make their own host keys and
    # report the public half on the serial console, where the module reads it (console_keys.py).
    host_key_private: str = ""
    host_key_public: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class Instance:
    """One VM as the runner sees it: where to SSH, which host key to trust, what it is."""

    instance_id: str
    cloud: str
    region: str
    zone: str | None
    instance_type: str
    state: str  # "pending", "running", "terminated"
    ssh_host: str | None = None
    ssh_port: int = 22
    ssh_user: str = "root"
    host_key: str | None = None  # "ssh-ed25519 AAAA..." the VM's sshd serves (from its console on clouds)
    remote_root: str = "~"  # where jobs, workdir and logs live on the node
    sandboxed: bool = False  # local VMs: absolute remote paths are rebased under remote_root
    tags: dict[str, str] = field(default_factory=dict)
    launched_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Instance:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class CloudModule(Protocol):
    """The shape of a cloud module (for type checkers; modules are plain modules)."""

    def launch(self, request: ProvisionRequest, options: Mapping[str, Any]) -> list[Instance]: ...

    def describe(self, cluster_name: str, region: str, options: Mapping[str, Any]) -> list[Instance]: ...

    def terminate(self, cluster_name: str, region: str, options: Mapping[str, Any]) -> None: ...

    def list_tagged(self, options: Mapping[str, Any]) -> list[Instance]: ...


def get_cloud(name: str) -> ModuleType:
    """Return the module implementing cloud ``name`` (imported lazily: SDKs are heavy)."""
    if name not in CLOUDS:
        from airflow_provider_sky.errors import SkyUserError

        raise SkyUserError(f"unknown cloud {name!r}", f"use one of {', '.join(CLOUDS)}")
    return importlib.import_module(f"airflow_provider_sky.launch.backends.{name}")


def sanitize_label(value: str, limit: int = 63) -> str:
    """Lowercase ``[a-z0-9_-]`` form of a tag value, the strictest rule among the clouds (GCE)."""
    out = "".join(c if c.isalnum() or c in "-_" else "-" for c in value.lower())
    return out[:limit]
