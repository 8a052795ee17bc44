"""Turn a launch plan into a finished job: provision with failover, start, poll, tear down.

The steps are separate functions because the Airflow operator runs them in different places:
``provision`` and ``start_job`` in the worker, ``poll_async`` in the triggerer, ``teardown`` in
the worker again (or wherever the task ends). :func:`launch_task` chains them in one process
for the CLI and for ``deferrable=False``.

Failover follows SkyPilot's rule: a capacity error blocks the zone, a quota error the region,
a credentials error the cloud; candidates are tried in the optimizer's order, skipping what is
blocked. Every attempt is recorded (candidate, outcome, error, seconds) for the log and XCom.
Cloud modules stay unaware of all this: they only raise :class:`ProvisionError` subclasses.
"""

from __future__ import annotations

import getpass
import posixpath
import shlex
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_sky.errors import SkyError, SkyUserError
from airflow_provider_sky.launch import job, ssh, state
from airflow_provider_sky.launch.backends.base import (
    TAG_CLUSTER,
    TAG_DAG,
    TAG_EXPIRES,
    TAG_HEARTBEAT,
    TAG_KEEP,
    TAG_MANAGED,
    TAG_OWNER,
    TAG_RUN,
    TAG_TASK,
    TAG_TTL,
    Instance,
    ProvisionError,
    ProvisionRequest,
    get_cloud,
)
from airflow_provider_sky.launch.owner import this_process
from airflow_provider_sky.launch.plan import Candidate, LaunchPlan
from airflow_provider_sky.launch.task import TaskSpec

Log = Callable[[str], Any]
SSH_READY_SECONDS = {"local": 15.0}  # clouds boot slower than a local sshd
DEFAULT_SSH_READY_SECONDS = 300.0
LOG_TAIL_BYTES = 4000
HEARTBEAT_SECONDS = 300.0  # how often a polling owner refreshes the heartbeat tag (TTLs are hours)


@dataclass
class Attempt:
    """One try on one candidate, as shown in logs and in the XCom result."""

    candidate: str
    cloud: str
    region: str
    zone: str | None
    outcome: str  # launched | capacity | quota | error | skipped | preempted
    error: str = ""
    code: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        detail = f": {self.error}" if self.error else ""
        return f"{self.outcome:<9} {self.candidate} ({self.seconds:.2f}s){detail}"


class AllCandidatesFailed(SkyError):
    """No candidate could be provisioned; the message lists every attempt."""

    def __init__(self, task_name: str | None, attempts: Sequence[Attempt]) -> None:
        self.attempts = list(attempts)
        tried = [a for a in self.attempts if a.outcome != "skipped"]
        lines = "\n".join(f"  - {a.line()}" for a in self.attempts) or "  (the plan had no candidates)"
        super().__init__(
            f"Could not provision task {task_name or '(unnamed)'}: all {len(tried)} candidates tried "
            f"failed.\n{lines}\nFix: allow more regions or clouds, pick another instance type, "
            "or retry later when capacity frees up."
        )


class JobFailed(SkyError):
    """The job ended with a non-zero exit code (or its node vanished); carries the log tail."""

    def __init__(self, message: str, exit_code: int | None, log_tail: str, status: str = "lost") -> None:
        self.exit_code = exit_code
        self.log_tail = log_tail
        self.status = status  # how the job ended, in the trigger's words (lost, vanished, ...)
        super().__init__(f"{message}\n--- last lines of the job log ---\n{log_tail.rstrip()}")


@dataclass
class ClusterHandle:
    """Everything needed to reach and delete a cluster; plain data, no secret (key path only)."""

    cluster_name: str
    candidate: dict[str, Any]
    instances: list[dict[str, Any]]
    key_path: str
    options: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def cloud(self) -> str:
        return self.candidate["cloud"]

    @property
    def region(self) -> str:
        return self.candidate["region"]

    def nodes(self) -> list[Instance]:
        return [Instance.from_dict(i) for i in self.instances]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterHandle:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@dataclass
class LaunchResult:
    """What a launch returns and the operator pushes to XCom (JSON-safe, no secrets)."""

    cluster_name: str
    candidate: dict[str, Any]
    attempts: list[dict[str, Any]]
    exit_code: int | None
    seconds: float
    cost_estimate_usd: float
    restarts: int = 0
    kept: bool = False
    log_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- naming and tags


def make_tags(
    cluster_name: str,
    *,
    dag_id: str = "",
    run_id: str = "",
    task_id: str = "",
    owner: str | None = None,
    ttl_seconds: float = 24 * 3600,
    keep: bool = False,
    owner_process: bool | None = None,
) -> dict[str, str]:
    """Tags every resource carries so the janitor can find and judge it.

    The TTL counts from the last heartbeat (``sky-heartbeat``, refreshed by whoever polls the
    job), so a long job outlives it while a launch killed mid-run does not. A launch without a
    DAG run (``owner_process`` defaults to that case) also records its process, which the
    janitor checks on the local backend: a dead owner means nobody will ever tear it down.
    """
    now = int(time.time())
    tags = {
        TAG_KEEP: "true" if keep else "false",
        TAG_MANAGED: "true",
        TAG_CLUSTER: cluster_name,
        TAG_OWNER: owner or getpass.getuser(),
        TAG_DAG: dag_id,
        TAG_RUN: run_id,
        TAG_TASK: task_id,
        TAG_TTL: str(int(ttl_seconds)),
        TAG_HEARTBEAT: str(now),
        TAG_EXPIRES: str(int(now + ttl_seconds)),
    }
    if owner_process if owner_process is not None else not dag_id:
        tags.update(this_process())
    return tags


def heartbeat_tags(tags: Mapping[str, str], now: float | None = None) -> dict[str, str]:
    """The tags a heartbeat rewrites: the beat itself and the expiry it moves (TTL after the beat)."""
    now = int(time.time() if now is None else now)
    ttl = int(float(tags.get(TAG_TTL) or 24 * 3600))
    return {TAG_HEARTBEAT: str(now), TAG_EXPIRES: str(now + ttl)}


def heartbeat(handle: ClusterHandle, now: float | None = None) -> None:
    """Tell the janitor the owner still follows this cluster (a cloud tag, and the record's copy).

    Cloud modules without tag updates keep the launch-time heartbeat: their TTL then counts from
    the launch, as it did before heartbeats existed.
    """
    beat = heartbeat_tags(handle.tags, now)
    set_tags = getattr(get_cloud(handle.cloud), "set_tags", None)
    if set_tags is not None:
        set_tags(handle.cluster_name, handle.region, handle.options, beat)
    handle.tags.update(beat)


# --------------------------------------------------------------------------- failover


def _blocked_by(candidate: Candidate, blocked: Sequence[tuple[str, str | None, str | None]]) -> str | None:
    for cloud, region, zone in blocked:
        if cloud != candidate.cloud:
            continue
        if region is None:
            return f"cloud {cloud}"
        if region != candidate.region:
            continue
        if zone is None:
            return f"region {cloud}:{region}"
        if zone == candidate.zone:
            return f"zone {cloud}:{region}/{zone}"
    return None


def _block(error: ProvisionError, candidate: Candidate) -> tuple[str, str | None, str | None]:
    if error.scope == "cloud":
        return (candidate.cloud, None, None)
    if error.scope == "region" or candidate.zone is None:
        return (candidate.cloud, candidate.region, None)
    return (candidate.cloud, candidate.region, candidate.zone)


def provision(
    task: TaskSpec,
    plan: LaunchPlan,
    *,
    cluster_name: str,
    failover: bool = True,
    log: Log = print,
    tags: Mapping[str, str] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    blocked: list[tuple[str, str | None, str | None]] | None = None,
    attempts: list[Attempt] | None = None,
) -> tuple[ClusterHandle, list[Attempt]]:
    """Provision the first candidate that works, walking the plan in order.

    ``options`` maps cloud name to that cloud module's options (e.g. local capacities).
    ``blocked`` and ``attempts`` are extended in place so a relaunch after preemption keeps
    what it learned. A half-created cluster is deleted before moving on; if that delete fails
    the error propagates instead, so failover never leaks VMs.
    """
    blocked = [] if blocked is None else blocked
    attempts = [] if attempts is None else attempts
    options = options or {}
    check_local_inputs(task)
    check_cloud_settings(plan, options)
    if not plan.candidates:
        raise AllCandidatesFailed(task.name, attempts)
    tags = dict(tags or make_tags(cluster_name))
    tags[TAG_CLUSTER] = cluster_name
    key_path, public_key = state.ensure_cluster_key(cluster_name)
    try:
        return _provision_first(task, plan, cluster_name, failover, log, tags, options, blocked, attempts,
                                key_path, public_key)
    except BaseException as exc:
        # Every candidate was deleted, so the key and the record of a cluster that does not exist
        # must not stay; unless a delete failed: then the record is what the janitor retries from.
        if not getattr(exc, _KEEP_RECORD, False):
            state.remove_cluster(cluster_name)
        raise


_KEEP_RECORD = "sky_keep_record"


def check_cloud_settings(plan: LaunchPlan, options: Mapping[str, Mapping[str, Any]]) -> None:
    """Read the settings of every cloud the plan may try before anything is created.

    A malformed setting (say ``SKY_LOCAL_CAPACITY``) is a mistake of input, not a failed
    attempt: it must be one error, raised before a key, a state directory or a VM exists.
    A cloud module that reads settings of its own offers ``check_options(options)``.
    """
    for cloud_name in dict.fromkeys(c.cloud for c in plan.candidates):
        check = getattr(get_cloud(cloud_name), "check_options", None)
        if check is not None:
            check(options.get(cloud_name, {}))


def _delete_attempt(cloud: Any, cluster_name: str, region: str, options: Mapping[str, Any]) -> None:
    """Delete what one failed attempt created; a failure here stops failover (never leak VMs)."""
    try:
        cloud.terminate(cluster_name, region, options)
    except BaseException as exc:
        setattr(exc, _KEEP_RECORD, True)
        exc.add_note(f"cluster {cluster_name} may still have VMs; `airflow-sky janitor` retries from its record")
        raise


def _provision_first(
    task: TaskSpec, plan: LaunchPlan, cluster_name: str, failover: bool, log: Log, tags: dict[str, str],
    options: Mapping[str, Mapping[str, Any]], blocked: list[tuple[str, str | None, str | None]],
    attempts: list[Attempt], key_path: Path, public_key: str,
) -> tuple[ClusterHandle, list[Attempt]]:
    for index, candidate in enumerate(plan.candidates):
        if index > 0 and not failover:
            log(f"failover is off: not trying {len(plan.candidates) - 1} other candidate(s)")
            break
        label = candidate.describe()
        reason = _blocked_by(candidate, blocked)
        if reason:
            attempts.append(Attempt(label, candidate.cloud, candidate.region, candidate.zone, "skipped",
                                    f"{reason} is blocked by an earlier error"))
            continue
        cloud = get_cloud(candidate.cloud)
        cloud_options = dict(options.get(candidate.cloud, {}))
        request = ProvisionRequest(
            cluster_name=cluster_name, cloud=candidate.cloud, region=candidate.region, zone=candidate.zone,
            instance_type=candidate.instance_type, use_spot=candidate.use_spot,
            num_nodes=max(task.num_nodes, candidate.num_nodes), ssh_public_key=public_key, tags=tags,
        )  # no host key pair: every VM makes its own and its module reports the public half
        log(f"provisioning {request.num_nodes} node(s): {label}")
        handle = ClusterHandle(
            cluster_name=cluster_name, candidate=candidate.to_dict(), instances=[], key_path=str(key_path),
            options=cloud_options, created_at=time.time(), tags=tags,
        )
        state.save_record(cluster_name, handle.to_dict())  # before anything exists that must be deleted
        started = time.monotonic()
        try:
            instances = cloud.launch(request, cloud_options)
            _wait_for_ssh(instances, key_path, candidate.cloud)
        except ProvisionError as exc:
            seconds = time.monotonic() - started
            outcome = type(exc).__name__.replace("Error", "").lower()
            outcome = outcome if outcome in ("capacity", "quota") else "error"
            attempt = Attempt(label, candidate.cloud, candidate.region, candidate.zone, outcome,
                              str(exc), exc.code, round(seconds, 3))
            attempts.append(attempt)
            blocked.append(_block(exc, candidate))
            log(f"attempt failed: {attempt.line()}")
            _delete_attempt(cloud, cluster_name, candidate.region, cloud_options)
            continue
        except ssh.NodeUnreachable as exc:
            seconds = time.monotonic() - started
            attempts.append(Attempt(label, candidate.cloud, candidate.region, candidate.zone, "error",
                                    str(exc), "Unreachable", round(seconds, 3)))
            blocked.append((candidate.cloud, candidate.region, candidate.zone))
            _delete_attempt(cloud, cluster_name, candidate.region, cloud_options)
            continue
        except BaseException:
            _delete_attempt(cloud, cluster_name, candidate.region, cloud_options)
            raise
        seconds = time.monotonic() - started
        attempts.append(Attempt(label, candidate.cloud, candidate.region, candidate.zone, "launched",
                                seconds=round(seconds, 3)))
        log(f"launched {cluster_name} on {label} in {seconds:.2f}s")
        handle.instances = [i.to_dict() for i in instances]
        state.save_record(cluster_name, handle.to_dict())
        return handle, attempts
    raise AllCandidatesFailed(task.name, attempts)


def check_local_inputs(task: TaskSpec) -> None:
    """Refuse a missing workdir or file mount before any VM exists (one error, naming the path)."""
    if isinstance(task.workdir, str):
        path = Path(task.workdir).expanduser()
        if not path.is_dir():
            what = "is a file, not a directory" if path.exists() else "does not exist"
            raise SkyUserError(
                f"workdir {task.workdir!r} {what} (resolved to {str(path.absolute())!r})",
                "point workdir at the local directory to upload, relative to where you launch",
            )
    for remote, source in task.file_mounts.items():
        uri = source.get("source") if isinstance(source, Mapping) else source
        local = isinstance(uri, str) and ("://" not in uri or uri.startswith("file://"))
        if local and not Path(str(uri).removeprefix("file://")).expanduser().exists():
            raise SkyUserError(f"file_mounts[{remote!r}] source {uri!r} does not exist", "fix the path")


def _wait_for_ssh(instances: Sequence[Instance], key_path: Path, cloud: str) -> None:
    wait = SSH_READY_SECONDS.get(cloud, DEFAULT_SSH_READY_SECONDS)
    for node in instances:
        client = ssh.connect(node.ssh_host or "", node.ssh_port, node.ssh_user, key_path, node.host_key,
                             wait=wait)
        client.close()


# --------------------------------------------------------------------------- start


def _connect(node: Instance, handle: ClusterHandle) -> Any:
    return ssh.connect(node.ssh_host or "", node.ssh_port, node.ssh_user, handle.key_path, node.host_key)


def start_job(handle: ClusterHandle, task: TaskSpec, *, log: Log = print, store_credentials: Any = None) -> None:
    """Upload workdir and file mounts, write the job scripts and start them detached on every node.

    ``store_credentials`` (a ``StoreCredentials``) reach the buckets named in ``file_mounts``;
    by default each cloud SDK's own credential chain is used.
    """
    if task.workdir is not None and not isinstance(task.workdir, str):
        raise SkyUserError("a git workdir is not supported by this launcher", "clone it locally and pass the path")
    nodes = handle.nodes()
    node_ips = [n.ssh_host or "" for n in nodes]
    with tempfile.TemporaryDirectory(prefix="sky-mounts-") as staging:
        mounts = _stage_file_mounts(task, Path(staging), log, store_credentials)
        for rank, node in enumerate(nodes):
            client = _connect(node, handle)
            try:
                _prepare_node(client, node, task, rank, node_ips, mounts, log)
                code, out, err = ssh.run(client, job.start_command(node))
                if code != 0:
                    raise SkyError(f"could not start the job on {node.instance_id}: {err.strip() or out}")
            finally:
                client.close()
    log(f"job started on {len(nodes)} node(s) of {handle.cluster_name}")


def _stage_file_mounts(task: TaskSpec, staging: Path, log: Log, credentials: Any) -> dict[str, Path]:
    """Resolve every file mount to a local path (bucket URIs are copied down first)."""
    out: dict[str, Path] = {}
    for index, (remote, source) in enumerate(sorted(task.file_mounts.items())):
        uri = source.get("source") if isinstance(source, Mapping) else source
        if not isinstance(uri, str):
            raise SkyUserError(f"file_mounts[{remote!r}] has no single source", "give one path or URI")
        if "://" in uri and not uri.startswith("file://"):
            target = staging / str(index)
            target.mkdir()
            out[remote] = _download_bucket(uri, target, credentials)
            log(f"file mount {remote}: fetched {uri}")
            continue
        local = Path(uri.removeprefix("file://")).expanduser()
        if not local.exists():
            raise SkyUserError(f"file_mounts[{remote!r}] source {uri!r} does not exist", "fix the path")
        out[remote] = local
    return out


def _download_bucket(uri: str, target: Path, credentials: Any) -> Path:
    """Copy a bucket object or prefix to a local dir with the project's copy engine.

    Returns the local path to upload: the directory for a prefix (``.../``), the file for an
    object, so the node sees the same shape the URI names.
    """
    from airflow_provider_sky.transfer import CopyRequest, run_copy

    run_copy(CopyRequest.build(uri, target.as_uri() + "/"), credentials)
    files = [p for p in target.rglob("*") if p.is_file()]
    if not uri.endswith("/") and len(files) == 1:
        return files[0]
    return target


def _prepare_node(client: Any, node: Instance, task: TaskSpec, rank: int, node_ips: Sequence[str],
                  mounts: Mapping[str, Path], log: Log) -> None:
    jdir = job.job_dir(node)
    code, _, err = ssh.run(client, f"mkdir -p {shlex.quote(jdir)} {shlex.quote(job.workdir(node))}")
    if code != 0:
        raise SkyError(f"could not create the job directory on {node.instance_id}: {err.strip()}")
    sftp = client.open_sftp()
    try:
        if isinstance(task.workdir, str):
            sent = ssh.upload_tree(sftp, Path(task.workdir).expanduser(), job.workdir(node))
            log(f"node {rank}: uploaded workdir ({sent} bytes)")
        for remote, local in mounts.items():
            ssh.upload_tree(sftp, local, job.remote_path(node, remote))
        envs = {**task.envs, **task.secrets, **job.node_envs(rank, node_ips)}
        _put_text(sftp, posixpath.join(jdir, "setup.sh"), task.setup or "")
        _put_text(sftp, posixpath.join(jdir, "run.sh"), task.run or "true")
        script = job.job_script(node, envs, has_setup=bool(task.setup))
        _put_text(sftp, posixpath.join(jdir, "job.sh"), script)
    finally:
        sftp.close()


def _put_text(sftp: Any, path: str, text: str) -> None:
    with sftp.open(path, "w") as fh:
        fh.write(text)
    sftp.chmod(path, 0o700)  # job.sh carries the task's secrets as exports


# --------------------------------------------------------------------------- poll


@dataclass
class PollResult:
    """One poll of every node: finished or not, exit code, new log text, offsets to resume at.

    ``lost_nodes`` did not answer (booting, preempted, gone); ``vanished_nodes`` answered but
    their job process is gone without an exit code (killed, OOM, a reboot): that job will never
    finish, so waiting for it is pointless.
    """

    done: bool
    exit_code: int | None
    new_log: str
    offsets: list[int]
    lost_nodes: list[str]
    vanished_nodes: list[str] = field(default_factory=list)


def combine(nodes: Sequence[Instance], statuses: Sequence[job.NodeStatus | None],
            offsets: Sequence[int]) -> PollResult:
    """One :class:`PollResult` from per-node statuses (None: the node did not answer)."""
    lost = [n.instance_id for n, s in zip(nodes, statuses, strict=True) if s is None or s.state == "missing"]
    vanished = [n.instance_id for n, s in zip(nodes, statuses, strict=True) if s is not None and s.state == "lost"]
    texts = []
    for rank, status in enumerate(statuses):
        if status and status.new_log:
            text = status.new_log.decode(errors="replace")
            if len(nodes) > 1:
                text = "".join(f"(node {rank}) {line}" for line in text.splitlines(keepends=True))
            texts.append(text)
    finished = [s for s in statuses if s is not None and s.state == "finished"]
    done = len(finished) == len(nodes)
    exit_code = None
    if done:
        exit_code = next((s.exit_code for s in finished if s.exit_code), 0)
    resumed = [s.offset if s else o for s, o in zip(statuses, offsets, strict=True)]
    return PollResult(done, exit_code, "".join(texts), resumed, lost, vanished)


def poll(handle: ClusterHandle, offsets: Sequence[int]) -> PollResult:
    """Poll every node once over paramiko (the worker's path)."""
    nodes = handle.nodes()
    statuses: list[job.NodeStatus | None] = []
    for node, offset in zip(nodes, offsets, strict=True):
        try:
            client = _connect(node, handle)
        except ssh.NodeUnreachable:
            statuses.append(None)
            continue
        try:
            _, stdout, _ = client.exec_command(job.poll_command(node, offset), timeout=60)
            statuses.append(job.parse_poll(stdout.read(), offset))
        finally:
            client.close()
    return combine(nodes, statuses, offsets)


def log_tail(handle: ClusterHandle, max_bytes: int = LOG_TAIL_BYTES) -> str:
    """Last bytes of the head node's job log (for error messages); empty if unreachable."""
    node = handle.nodes()[0]
    try:
        client = _connect(node, handle)
    except ssh.NodeUnreachable:
        return ""
    try:
        return ssh.run(client, job.tail_command(node, max_bytes))[1]
    finally:
        client.close()


def is_preempted(handle: ClusterHandle) -> bool:
    """Ask the cloud whether any node of the cluster is gone (the mark of a spot preemption)."""
    cloud = get_cloud(handle.cloud)
    live = {i.instance_id: i for i in cloud.describe(handle.cluster_name, handle.region, handle.options)}
    return any(
        node.instance_id not in live or live[node.instance_id].state != "running" for node in handle.nodes()
    )


# --------------------------------------------------------------------------- teardown


def teardown(handle: ClusterHandle | Mapping[str, Any], *, log: Log = print, keep: bool = False) -> None:
    """Delete the cluster's VMs, confirm they are gone, then forget its state.

    With ``keep`` the VMs stay (their ``sky-expires`` tag tells the janitor when to delete
    them) and so does the state dir, so the user can SSH in with the key it holds.
    """
    handle = handle if isinstance(handle, ClusterHandle) else ClusterHandle.from_dict(handle)
    if keep:
        log(f"keeping cluster {handle.cluster_name} (state in {state.cluster_dir(handle.cluster_name)})")
        return
    cloud = get_cloud(handle.cloud)
    cloud.terminate(handle.cluster_name, handle.region, handle.options)
    left = [i for i in cloud.describe(handle.cluster_name, handle.region, handle.options)
            if i.state not in ("terminated", "shutting-down")]
    if left:
        raise SkyError(
            f"cluster {handle.cluster_name} still has {len(left)} VM(s) after terminate; "
            "state kept so `airflow-sky janitor` can retry"
        )
    state.remove_cluster(handle.cluster_name)
    log(f"tore down {handle.cluster_name}")


def teardown_by_name(cluster_name: str, *, log: Log = print) -> bool:
    """Teardown from the state dir alone (on_kill, timeouts); False if nothing was recorded."""
    record = state.load_record(cluster_name)
    if record is None:
        return False
    teardown(ClusterHandle.from_dict(record), log=log)
    return True


def heartbeat_by_name(cluster_name: str, now: float | None = None) -> bool:
    """Heartbeat from the state dir alone (gateway VMs an overlay watch follows); False if unrecorded."""
    record = state.load_record(cluster_name)
    if record is None:
        return False
    handle = ClusterHandle.from_dict(record)
    heartbeat(handle, now)
    state.update_record(cluster_name, tags=handle.tags)
    return True


# --------------------------------------------------------------------------- all in one


def cost_estimate(candidate: Mapping[str, Any], seconds: float) -> float:
    """Dollars for the time the cluster existed, at the price saved in the plan."""
    hourly = float(candidate.get("total_hourly_usd") or 0.0) or (
        float(candidate.get("hourly_price") or 0.0) * int(candidate.get("num_nodes") or 1)
    )
    return round(hourly * seconds / 3600.0, 6)


def launch_task(
    task: TaskSpec,
    plan: LaunchPlan,
    *,
    failover: bool = True,
    log: Log = print,
    keep_cluster: bool = False,
    max_restarts: int = 0,
    cluster_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    poll_interval: float = 0.5,
    timeout: float | None = None,
    store_credentials: Any = None,
) -> LaunchResult:
    """Provision, run and tear down in this process; raise :class:`JobFailed` on a non-zero exit.

    With spot candidates a preempted node (its VM disappears mid-job) triggers a relaunch on the
    next unblocked candidate and a rerun, up to ``max_restarts`` times.
    """
    cluster_name = cluster_name or default_cluster_name(task)
    started = time.monotonic()
    blocked: list[tuple[str, str | None, str | None]] = []
    attempts: list[Attempt] = []
    restarts = 0
    handle, _ = provision(task, plan, cluster_name=cluster_name, failover=failover, log=log, tags=tags,
                          options=options, blocked=blocked, attempts=attempts)
    cost = 0.0
    tail = ""
    exit_code: int | None = None
    try:
        while True:
            launched = time.monotonic()
            start_job(handle, task, log=log, store_credentials=store_credentials)
            outcome = wait_job(handle, log, poll_interval, started, timeout)
            cost += cost_estimate(handle.candidate, time.monotonic() - launched)
            if outcome is not None:
                exit_code = outcome
                break
            handle = relaunch_after_preemption(
                task, plan, handle, log=log, tags=tags, options=options, blocked=blocked,
                attempts=attempts, restarts=restarts, max_restarts=max_restarts,
            )
            restarts += 1
        if exit_code != 0:
            tail = log_tail(handle)
    finally:
        teardown(handle, log=log, keep=keep_cluster)  # idempotent; runs on errors too
    result = LaunchResult(
        cluster_name=cluster_name, candidate=handle.candidate, attempts=[asdict(a) for a in attempts],
        exit_code=exit_code, seconds=round(time.monotonic() - started, 3), cost_estimate_usd=round(cost, 6),
        restarts=restarts, kept=keep_cluster, log_tail=tail,
    )
    if exit_code != 0:
        name = task.name or cluster_name
        raise JobFailed(f"task {name} failed with exit code {exit_code}", exit_code, tail)
    return result


def relaunch_after_preemption(
    task: TaskSpec, plan: LaunchPlan, handle: ClusterHandle, *, log: Log, tags: Mapping[str, str] | None,
    options: Mapping[str, Mapping[str, Any]] | None, blocked: list[tuple[str, str | None, str | None]],
    attempts: list[Attempt], restarts: int, max_restarts: int,
) -> ClusterHandle:
    """Record the preemption, delete what is left, and provision the next unblocked candidate.

    Raises :class:`JobFailed` when the lost node was not spot or the restart budget is spent:
    an on-demand VM vanishing is not a preemption to paper over.
    """
    cand = Candidate.from_dict(handle.candidate)
    attempts.append(Attempt(cand.describe(), cand.cloud, cand.region, cand.zone, "preempted",
                            "a node disappeared while the job ran"))
    teardown(handle, log=log)
    if not cand.use_spot or restarts >= max_restarts:
        raise JobFailed(
            f"cluster {handle.cluster_name} lost a node while the job ran "
            f"(spot: {cand.use_spot}, restarts used: {restarts} of {max_restarts})", None, "",
        )
    log(f"node preempted on {cand.describe()}; relaunching (restart {restarts + 1} of {max_restarts})")
    blocked.append((cand.cloud, cand.region, cand.zone))
    new_handle, _ = provision(task, plan, cluster_name=handle.cluster_name, failover=True, log=log,
                              tags=tags, options=options, blocked=blocked, attempts=attempts)
    return new_handle


def wait_job(handle: ClusterHandle, log: Log, interval: float, started: float,
              timeout: float | None) -> int | None:
    """Poll until the job ends; exit code, or None when a node was preempted."""
    offsets = [0] * len(handle.instances)
    misses = 0
    beat = time.monotonic()
    while True:
        result = poll(handle, offsets)
        offsets = result.offsets
        for line in result.new_log.splitlines():
            log(line)
        if result.done:
            return int(result.exit_code or 0)
        if result.vanished_nodes:
            raise JobFailed(vanished_message(result.vanished_nodes), None, log_tail(handle), "vanished")
        if time.monotonic() - beat > HEARTBEAT_SECONDS:
            heartbeat(handle)
            beat = time.monotonic()
        if result.lost_nodes:
            misses += 1
            if is_preempted(handle):
                return None
            if misses > 5:
                raise JobFailed(f"{', '.join(result.lost_nodes)} stopped answering SSH while the job ran "
                                "(the cloud still lists it)", None, log_tail(handle))
        if timeout is not None and time.monotonic() - started > timeout:
            raise JobFailed(f"job did not finish within {timeout:.0f}s", None, log_tail(handle))
        time.sleep(interval)


def vanished_message(nodes: Sequence[str]) -> str:
    return (
        f"the job process on {', '.join(nodes)} vanished without an exit code "
        "(killed, out of memory, or the node rebooted)"
    )


def resume_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """Everything resuming needs, from a trigger event that carries ids only (the worker's side).

    The handle and the launch state come from the cluster's record in the state dir (which every
    Airflow component shares); the log tail of a failed job is read from the node now.
    """
    out = dict(event)
    if "handle" not in out:
        record = state.load_record(str(out["cluster_name"]))
        if record is None:
            raise SkyError(
                f"cluster {out['cluster_name']} has no record in {state.clusters_root()}; "
                "set SKY_STATE_DIR to one directory every Airflow component mounts"
            )
        out["handle"] = ClusterHandle.from_dict(record).to_dict()
        out.setdefault("launch_state", record.get("launch_state", {}))
    failed = out.get("status") not in ("finished", "preempted") or bool(out.get("exit_code"))
    if failed and not out.get("log_tail"):
        out["log_tail"] = log_tail(ClusterHandle.from_dict(out["handle"]))
    return out


def default_cluster_name(task: TaskSpec) -> str:
    """A short unique name (GCE allows 63 lowercase chars; VM names append a suffix)."""
    import uuid

    from airflow_provider_sky.launch.backends.base import sanitize_label

    base = sanitize_label(task.name or "task", 20).strip("-_") or "task"
    return f"sky-{base}-{uuid.uuid4().hex[:8]}"
