"""SkyLaunchOperator: run a SkyPilot-style task on the cheapest cloud that has capacity.

``execute`` plans (optimizer), provisions with failover, uploads the workdir and file mounts,
starts ``setup`` + ``run`` detached on the node(s), then either defers to
:class:`~airflow_provider_sky.triggers.launch.SkyLaunchTrigger` (no worker slot held while the
job runs) or, with ``deferrable=False``, polls in the worker. Both paths end in
:meth:`execute_complete`, which tears the cluster down and returns the XCom result.

Teardown happens on success, failure, ``on_kill`` (worker or triggerer) and timeout, unless
``keep_cluster=True``: then the cluster stays and its ``sky-expires`` tag (now +
``autostop_minutes``) lets ``airflow-sky janitor`` delete it later.

The SSH private key lives in the cluster's state dir (0600); only its path travels, and it is
never logged, pushed to XCom or held in a templated field.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.sdk import BaseOperator

from airflow_provider_sky.launch import runner
from airflow_provider_sky.launch.backends.base import sanitize_label
from airflow_provider_sky.launch.plan import LaunchPlan
from airflow_provider_sky.launch.task import TaskSpec
from airflow_provider_sky.triggers.launch import SkyLaunchTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class SkyLaunchOperator(BaseOperator):
    """Launch a task on the cheapest feasible (cloud, region, zone), fail over on capacity errors.

    :param task: path to a task YAML file, YAML text, or a dict with the same keys
        (``name, resources, num_nodes, workdir, file_mounts, setup, run, envs, secrets``).
    :param failover: try the next candidate on capacity/quota errors (zone, region, cloud).
    :param deferrable: poll from the triggerer instead of the worker.
    :param keep_cluster: leave the cluster up after the job; it expires after ``autostop_minutes``.
    :param autostop_minutes: TTL of a kept cluster, enforced by ``airflow-sky janitor``.
    :param max_restarts: relaunches allowed when a spot node is preempted.
    :param clouds, allow_regions, deny_regions: limits passed to the optimizer.
    :param plan: a ``LaunchPlan.to_dict()`` to use instead of optimizing (e.g. from a plan task).
    :param backend_options: per-cloud options, e.g. ``{"local": {"capacity": {"local-a1": 0}}}``.
    :param poll_interval: seconds between job polls.
    :param ttl_hours: safety-net TTL tag on every VM, in case teardown itself never runs.
    :param aws_conn_id / gcp_conn_id / azure_conn_id: connections for buckets named in
        ``file_mounts`` (looked up only when a mount needs them). VM credentials are separate:
        each cloud SDK's own chain on the worker and triggerer.
    """

    template_fields: Sequence[str] = (
        "task",
        "failover",
        "keep_cluster",
        "autostop_minutes",
        "max_restarts",
        "clouds",
        "allow_regions",
        "deny_regions",
        "plan",
        "backend_options",
        "poll_interval",
        "ttl_hours",
        "aws_conn_id",
        "gcp_conn_id",
        "azure_conn_id",
    )
    template_fields_renderers = {"task": "yaml", "plan": "json", "backend_options": "json"}
    ui_color = "#d8f0d2"

    def __init__(
        self,
        *,
        task: str | dict[str, Any],
        failover: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        keep_cluster: bool = False,
        autostop_minutes: int = 60,
        max_restarts: int = 0,
        clouds: list[str] | None = None,
        allow_regions: list[str] | None = None,
        deny_regions: list[str] | None = None,
        plan: dict[str, Any] | None = None,
        backend_options: dict[str, dict[str, Any]] | None = None,
        poll_interval: float = 5.0,
        ttl_hours: float = 24.0,
        aws_conn_id: str | None = "aws_default",
        gcp_conn_id: str | None = "google_cloud_default",
        azure_conn_id: str | None = "wasb_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.task = task
        self.failover = failover
        self.deferrable = deferrable
        self.keep_cluster = keep_cluster
        self.autostop_minutes = autostop_minutes
        self.max_restarts = max_restarts
        self.clouds = clouds
        self.allow_regions = allow_regions
        self.deny_regions = deny_regions
        self.plan = plan
        self.backend_options = backend_options
        self.poll_interval = poll_interval
        self.ttl_hours = ttl_hours
        self.aws_conn_id = aws_conn_id
        self.gcp_conn_id = gcp_conn_id
        self.azure_conn_id = azure_conn_id
        self._cluster_name: str | None = None

    # ------------------------------------------------------------------ helpers

    def task_spec(self) -> TaskSpec:
        spec = TaskSpec.from_dict(self.task) if isinstance(self.task, dict) else TaskSpec.from_yaml(self.task)
        from airflow.sdk.log import mask_secret

        for value in spec.secrets.values():
            mask_secret(value)
        return spec

    def _launch_plan(self, spec: TaskSpec) -> LaunchPlan:
        if self.plan:
            return LaunchPlan.from_dict(self.plan)
        from airflow_provider_sky.launch.optimizer import optimize

        return optimize(spec, clouds=self.clouds, allow_regions=self.allow_regions,
                        deny_regions=self.deny_regions)

    def _store_credentials(self, spec: TaskSpec) -> Any:
        """Credentials for the buckets ``file_mounts`` names; None when it names none."""
        buckets = [uri for uri in spec.input_data() if "://" in uri and not uri.startswith("file://")]
        if not buckets:
            return None
        from airflow_provider_sky.hooks.transfer import SkyTransferHook
        from airflow_provider_sky.uri import parse_uri

        hook = SkyTransferHook(self.aws_conn_id, self.gcp_conn_id, self.azure_conn_id)
        return hook.get_credentials([parse_uri(uri) for uri in buckets])

    def _start(self, handle: runner.ClusterHandle, spec: TaskSpec) -> None:
        try:
            runner.start_job(handle, spec, log=self.log.info, store_credentials=self._store_credentials(spec))
        except BaseException:
            runner.teardown(handle, log=self.log.info)
            raise

    @staticmethod
    def cluster_name_for(context: Context) -> str:
        """Deterministic per try, so a resumed or killed task finds its own cluster again."""
        ti = context["ti"]
        ident = f"{ti.dag_id}|{ti.task_id}|{ti.run_id}|{ti.map_index}|{ti.try_number}"
        digest = hashlib.sha1(ident.encode()).hexdigest()[:10]
        return f"sky-{sanitize_label(ti.task_id, 24).strip('-_') or 'task'}-{digest}"

    def _tags(self, context: Context, cluster_name: str) -> dict[str, str]:
        ti = context["ti"]
        ttl = self.autostop_minutes * 60 if self.keep_cluster else self.ttl_hours * 3600
        return runner.make_tags(cluster_name, dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id,
                                owner=self.owner, ttl_seconds=ttl, keep=bool(self.keep_cluster))

    def _deadline(self) -> float | None:
        timeout = self.execution_timeout
        if timeout is None:
            return None
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        return time.time() + seconds

    # ------------------------------------------------------------------ execute

    def execute(self, context: Context) -> dict[str, Any]:
        spec = self.task_spec()
        plan = self._launch_plan(spec)
        self.log.info("Launch plan:\n%s\n%s", plan.table(), plan.explain())
        cluster_name = self._cluster_name = self.cluster_name_for(context)
        blocked: list[list[Any]] = []
        attempts: list[runner.Attempt] = []
        started_at = time.time()
        handle = self._provision_and_start(spec, plan, context, cluster_name, blocked, attempts)
        state = {
            "plan": plan.to_dict(),
            "attempts": [a.__dict__ for a in attempts],
            "blocked": blocked,
            "restarts": 0,
            "started_at": started_at,
            "deadline": self._deadline(),
        }
        return self._follow(context, handle, state)

    def _provision_and_start(self, spec: TaskSpec, plan: LaunchPlan, context: Context, cluster_name: str,
                             blocked: list, attempts: list[runner.Attempt]) -> runner.ClusterHandle:
        blocked_t = [tuple(b) for b in blocked]
        handle, _ = runner.provision(
            spec, plan, cluster_name=cluster_name, failover=self.failover, log=self.log.info,
            tags=self._tags(context, cluster_name), options=self.backend_options, blocked=blocked_t,
            attempts=attempts,
        )
        blocked[:] = [list(b) for b in blocked_t]
        self._start(handle, spec)
        return handle

    def _follow(
        self, context: Context, handle: runner.ClusterHandle, state: dict[str, Any]
    ) -> dict[str, Any]:
        """Wait for the job: defer to the trigger, or poll here when not deferrable."""
        if self.deferrable:
            self.defer(
                trigger=SkyLaunchTrigger(handle=handle.to_dict(), poll_interval=self.poll_interval,
                                         deadline=state["deadline"], launch_state=state),
                method_name="execute_complete",
            )
        deadline = state["deadline"]
        timeout = None if deadline is None else deadline - time.time()
        try:
            exit_code = runner.wait_job(handle, self.log.info, self.poll_interval, time.monotonic(), timeout)
        except runner.JobFailed as exc:
            event = {"status": "lost", "exit_code": exc.exit_code, "log_tail": exc.log_tail}
        except BaseException:  # timeout signal, kill, bug: the cluster must not outlive the task
            runner.teardown(handle, log=self.log.info, keep=bool(self.keep_cluster))
            raise
        else:
            if exit_code is None:
                event = {"status": "preempted"}
            else:
                tail = runner.log_tail(handle) if exit_code else ""
                event = {"status": "finished", "exit_code": exit_code, "log_tail": tail}
        return self.execute_complete(context, event | {"handle": handle.to_dict(), "launch_state": state})

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the job ended: relaunch on preemption, else tear down and report.

        Everything needed comes in the event (the trigger hands back the launch state it was
        given), so resuming works on any worker after any triggerer restart.
        """
        state = event["launch_state"]
        cluster = runner.ClusterHandle.from_dict(event["handle"])
        status = event.get("status")
        attempts = [runner.Attempt(**a) for a in state["attempts"]]
        if status == "preempted":
            spec = self.task_spec()
            blocked = [tuple(b) for b in state["blocked"]]
            new_handle = runner.relaunch_after_preemption(
                spec, LaunchPlan.from_dict(state["plan"]), cluster, log=self.log.info,
                tags=self._tags(context, cluster.cluster_name), options=self.backend_options,
                blocked=blocked, attempts=attempts, restarts=state["restarts"],
                max_restarts=int(self.max_restarts),
            )
            self._start(new_handle, spec)
            state = state | {"attempts": [a.__dict__ for a in attempts], "restarts": state["restarts"] + 1,
                             "blocked": [list(b) for b in blocked]}
            return self._follow(context, new_handle, state)
        try:
            runner.teardown(cluster, log=self.log.info, keep=bool(self.keep_cluster))
        except Exception:
            self.log.exception("teardown of %s failed; `airflow-sky janitor` retries", cluster.cluster_name)
            raise
        exit_code = event.get("exit_code")
        seconds = time.time() - float(state["started_at"])
        result = runner.LaunchResult(
            cluster_name=cluster.cluster_name, candidate=cluster.candidate,
            attempts=state["attempts"], exit_code=exit_code, seconds=round(seconds, 3),
            cost_estimate_usd=runner.cost_estimate(cluster.candidate, time.time() - cluster.created_at),
            restarts=state["restarts"], kept=bool(self.keep_cluster), log_tail=event.get("log_tail", ""),
        )
        for attempt in attempts:
            self.log.info("attempt: %s", attempt.line())
        if status == "timeout":
            raise runner.JobFailed(f"job on {cluster.cluster_name} exceeded execution_timeout", None,
                                   result.log_tail)
        if status != "finished":
            raise runner.JobFailed(f"job on {cluster.cluster_name} ended as {status!r}", exit_code,
                                   result.log_tail)
        if exit_code != 0:
            raise runner.JobFailed(f"task failed with exit code {exit_code}", exit_code, result.log_tail)
        return result.to_dict()

    # ------------------------------------------------------------------ teardown paths

    def on_kill(self) -> None:
        if self._cluster_name:
            runner.teardown_by_name(self._cluster_name, log=self.log.info)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Tear down by name whenever resuming fails (trigger failure, timeout, or a bug).

        A trigger failure or timeout resumes here with no event; deferring again (relaunch after
        preemption) is not a failure and keeps the cluster.
        """
        from airflow.sdk.exceptions import TaskDeferred

        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferred:
            raise
        except BaseException:
            runner.teardown_by_name(self.cluster_name_for(context), log=self.log.info)
            raise
