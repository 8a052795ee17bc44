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

Secret values stay out of the serialized DAG: ``secrets=`` is not a template field (given to
``.partial()`` it is sealed: the mapped task serializes a placeholder), and values
written inline in ``task`` move there at construction (the task keeps the names, as nulls).
Every templated flag and number is parsed strictly at execute (``airflow_provider_sky.params``):
a rendered ``"False"`` is false.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.sdk import BaseOperator

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch import runner
from airflow_provider_sky.launch.backends.base import sanitize_label
from airflow_provider_sky.launch.plan import LaunchPlan
from airflow_provider_sky.launch.task import TaskSpec
from airflow_provider_sky.launch.task_secrets import split_secrets
from airflow_provider_sky.links.plan import SkyPlanLink
from airflow_provider_sky.params import parse_backend_options, parse_bool, parse_list, parse_mapping, parse_number
from airflow_provider_sky.triggers.launch import SkyLaunchTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class SealedSecrets:
    """Launch secrets held in memory only: serialization (which casts unknown types to ``str``)
    sees a placeholder that names how many there are, never a value."""

    __slots__ = ("values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def __str__(self) -> str:
        return f"<{len(self.values)} launch secret(s) kept out of the serialized DAG>"

    __repr__ = __str__


@dataclass(frozen=True)
class LaunchArguments:
    """The operator's flags and numbers after rendering, parsed strictly (never cast)."""

    failover: bool
    deferrable: bool
    keep_cluster: bool
    autostop_minutes: int
    max_restarts: int
    poll_interval: float
    ttl_hours: float
    clouds: list[str] | None
    allow_regions: list[str] | None
    deny_regions: list[str] | None
    plan: LaunchPlan | None
    backend_options: dict[str, dict[str, Any]] | None


def _parse_plan(value: Any) -> LaunchPlan | None:
    data = parse_mapping("plan", value, "the XCom of a plan task (LaunchPlan.to_dict())")
    if not data:
        return None
    try:
        return LaunchPlan.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SkyUserError(
            f"plan is not a launch plan ({type(exc).__name__}: {exc})",
            "pass LaunchPlan.to_dict(), e.g. the XCom of a plan task, or leave plan out to optimize",
        ) from None


class SkyLaunchOperator(BaseOperator):
    """Launch a task on the cheapest feasible (cloud, region, zone), fail over on capacity errors.

    :param task: path to a task YAML file, YAML text, or a dict with the same keys
        (``name, resources, num_nodes, workdir, file_mounts, setup, run, envs, secrets``).
    :param secrets: secret values by name, given at launch like SkyPilot's ``--secret NAME=VALUE``:
        they fill the task's ``secrets: {NAME: null}`` entries and override its values. Not a
        template field, so no value reaches the serialized DAG; values are still rendered at
        execute, so ``{"HF_TOKEN": "{{ var.value.hf_token }}"}`` reads an Airflow Variable then
        (and keeps the value out of the DAG file too). Inline values in ``task`` are moved here.
    :param envs: env values given at launch like SkyPilot's ``--env NAME=VALUE``: they fill the
        task's ``envs: {NAME: null}`` entries and override its values.
    :param failover: try the next candidate on capacity/quota errors (zone, region, cloud).
    :param deferrable: poll from the triggerer instead of the worker.
    :param keep_cluster: leave the cluster up after the job; it expires after ``autostop_minutes``.
    :param autostop_minutes: TTL of a kept cluster, enforced by ``airflow-sky janitor``.
    :param max_restarts: relaunches allowed when a spot node is preempted.
    :param clouds: clouds the optimizer may choose from (default: all).
    :param allow_regions: region globs the optimizer may choose from.
    :param deny_regions: region globs the optimizer must not choose.
    :param plan: a ``LaunchPlan.to_dict()`` to use instead of optimizing (e.g. from a plan task).
    :param backend_options: per-cloud options, e.g. ``{"local": {"capacity": {"local-a1": 0}}}``.
    :param poll_interval: seconds between job polls.
    :param ttl_hours: safety-net TTL tag on every VM, in case teardown itself never runs.
    :param aws_conn_id: connection for s3:// buckets named in ``file_mounts``.
    :param gcp_conn_id: connection for gs:// buckets named in ``file_mounts``.
    :param azure_conn_id: connection for azure:// containers named in ``file_mounts`` (each is
        looked up only when a mount needs it). VM credentials are separate: each cloud SDK's own
        chain on the worker and triggerer.
    :param assets: add the buckets the task reads (``file_mounts``, ``inputs``) to ``inlets`` and
        those it writes (``outputs``) to ``outlets`` as Airflow Assets (docs/lineage.md); decided
        when the DAG is parsed, so the task must be literal.
    """

    template_fields: Sequence[str] = (
        "task",
        "envs",
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
    operator_extra_links = (SkyPlanLink(),)

    def __init__(
        self,
        *,
        task: str | dict[str, Any],
        failover: bool | str = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        keep_cluster: bool | str = False,
        autostop_minutes: int | str = 60,
        max_restarts: int | str = 0,
        clouds: list[str] | str | None = None,
        allow_regions: list[str] | str | None = None,
        deny_regions: list[str] | str | None = None,
        plan: dict[str, Any] | str | None = None,
        backend_options: dict[str, dict[str, Any]] | str | None = None,
        poll_interval: float | str = 5.0,
        ttl_hours: float | str = 24.0,
        aws_conn_id: str | None = "aws_default",
        gcp_conn_id: str | None = "google_cloud_default",
        azure_conn_id: str | None = "wasb_default",
        secrets: Mapping[str, str] | None = None,
        envs: Mapping[str, str] | None = None,
        assets: bool | str = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if parse_bool("assets", assets):
            from airflow_provider_sky.lineage.assets import launch_assets

            inlets, outlets = launch_assets(task)
            self.inlets, self.outlets = [*self.inlets, *inlets], [*self.outlets, *outlets]
        self.task, inline = split_secrets(task)
        if isinstance(secrets, SealedSecrets):
            secrets = secrets.values
        if secrets is not None and not isinstance(secrets, Mapping):
            raise SkyUserError(f"secrets is a {type(secrets).__name__}", 'pass secrets={"NAME": "value"}')
        self._secrets: dict[str, Any] = {**inline, **(secrets or {})}
        self.envs = envs
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
        self._lineage_result: dict[str, Any] | None = None  # where the job ran, for lineage on complete

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """``.partial()`` keeps its keyword arguments in the mapped task, which Airflow serializes
        whole: seal the secret values (given, or written inline in a ``task`` mapping) so the
        serialized DAG holds a placeholder while the worker, which parses the DAG file itself,
        still builds each mapped task with the values."""
        from airflow_provider_sky.lineage.assets import refuse_in_partial

        refuse_in_partial(kwargs)
        if isinstance(kwargs.get("task"), (dict, str)):
            kwargs["task"], inline = split_secrets(kwargs["task"])
        else:
            inline = {}
        given = kwargs.get("secrets")
        if isinstance(given, Mapping) or inline:
            kwargs["secrets"] = SealedSecrets({**inline, **dict(given or {})})
        return super().partial(**kwargs)

    # ------------------------------------------------------------------ helpers

    def arguments(self) -> LaunchArguments:
        """Every rendered flag and number, parsed; one SkyUserError names the first bad argument."""
        return LaunchArguments(
            failover=parse_bool("failover", self.failover),
            deferrable=parse_bool("deferrable", self.deferrable),
            keep_cluster=parse_bool("keep_cluster", self.keep_cluster),
            autostop_minutes=int(parse_number("autostop_minutes", self.autostop_minutes, minimum=1,
                                              maximum=525_600, integer=True)),
            max_restarts=int(parse_number("max_restarts", self.max_restarts, minimum=0, maximum=100, integer=True)),
            poll_interval=float(parse_number("poll_interval", self.poll_interval, minimum=0, maximum=3600,
                                             exclusive_minimum=True)),
            ttl_hours=float(parse_number("ttl_hours", self.ttl_hours, minimum=0, maximum=8760,
                                         exclusive_minimum=True)),
            clouds=parse_list("clouds", self.clouds),
            allow_regions=parse_list("allow_regions", self.allow_regions),
            deny_regions=parse_list("deny_regions", self.deny_regions),
            plan=_parse_plan(self.plan),
            backend_options=parse_backend_options("backend_options", self.backend_options) or None,
        )  # fmt: skip

    def task_spec(self, context: Context) -> TaskSpec:
        """The task with its secrets filled in at launch (rendered now, masked in every log)."""
        from airflow.sdk.log import mask_secret

        from airflow_provider_sky.hooks.masking import mask_in_airflow

        mask_in_airflow()

        given = {name: str(self.render_template(value, context)) for name, value in self._secrets.items()}
        for value in given.values():
            mask_secret(value)
        envs = {str(k): str(v) for k, v in (parse_mapping("envs", self.envs, '{"NAME": "value"}') or {}).items()}
        if isinstance(self.task, Mapping):
            spec = TaskSpec.from_dict(self.task, given, envs)
        else:
            spec = TaskSpec.from_yaml(self.task, given, envs)
        for value in spec.secrets.values():
            mask_secret(value)
        return spec

    @staticmethod
    def _launch_plan(spec: TaskSpec, args: LaunchArguments) -> LaunchPlan:
        if args.plan is not None:
            return args.plan
        from airflow_provider_sky.launch.optimizer import optimize

        return optimize(spec, clouds=args.clouds, allow_regions=args.allow_regions, deny_regions=args.deny_regions)

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
    def cluster_name_for(context: Context, try_number: int | None = None) -> str:
        """Deterministic per try, so a resumed or killed task finds its own cluster again."""
        ti = context["ti"]
        attempt = ti.try_number if try_number is None else try_number
        ident = f"{ti.dag_id}|{ti.task_id}|{ti.run_id}|{ti.map_index}|{attempt}"
        digest = hashlib.sha1(ident.encode()).hexdigest()[:10]
        return f"sky-{sanitize_label(ti.task_id, 24).strip('-_') or 'task'}-{digest}"

    def _remove_earlier_tries(self, context: Context, args: LaunchArguments) -> None:
        """A retry first deletes the clusters earlier tries of this task instance left behind.

        A try can end before its teardown runs: its worker was lost, or Airflow failed the task
        as it resumed from deferral (apache/airflow#72716, seen with 3.3). Its cluster is still in
        this worker's state dir under that try's name; clusters recorded elsewhere are the
        janitor's (their DAG-run tags and TTL). Kept clusters (``keep_cluster``) are left alone.
        """
        if args.keep_cluster:
            return
        for earlier in range(1, int(context["ti"].try_number)):
            name = self.cluster_name_for(context, earlier)
            if runner.teardown_by_name(name, log=self.log.info):
                self.log.warning("deleted cluster %s, left behind by try %d of this task", name, earlier)

    def _tags(self, context: Context, cluster_name: str, args: LaunchArguments) -> dict[str, str]:
        ti = context["ti"]
        ttl = args.autostop_minutes * 60 if args.keep_cluster else args.ttl_hours * 3600
        return runner.make_tags(cluster_name, dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id,
                                owner=self.owner, ttl_seconds=ttl, keep=args.keep_cluster)

    def _deadline(self) -> float | None:
        timeout = self.execution_timeout
        if timeout is None:
            return None
        seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        return time.time() + seconds

    # ------------------------------------------------------------------ execute

    def execute(self, context: Context) -> dict[str, Any]:
        args = self.arguments()
        spec = self.task_spec(context)
        plan = self._launch_plan(spec, args)
        self.log.info("Launch plan:\n%s\n%s", plan.table(), plan.explain())
        self._remove_earlier_tries(context, args)
        cluster_name = self._cluster_name = self.cluster_name_for(context)
        blocked: list[list[Any]] = []
        attempts: list[runner.Attempt] = []
        started_at = time.time()
        self._push_view(context, plan, attempts)
        SkyPlanLink.persist(context)
        try:
            handle = self._provision_and_start(spec, plan, context, cluster_name, blocked, attempts, args)
        finally:  # every failover attempt, also when all failed
            self._push_view(context, plan, attempts)
        state = {
            "plan": plan.to_dict(),
            "attempts": [a.__dict__ for a in attempts],
            "blocked": blocked,
            "restarts": 0,
            "started_at": started_at,
            "deadline": self._deadline(),
        }
        return self._follow(context, handle, state, args)

    @staticmethod
    def _push_view(context: Context, plan: LaunchPlan, attempts: list[runner.Attempt]) -> None:
        """Ranked candidates and the attempts so far, for the plan view (docs/ui.md)."""
        from airflow_provider_sky.ui.view_model import VIEW_XCOM_KEY, launch_extra

        context["ti"].xcom_push(key=VIEW_XCOM_KEY, value=launch_extra(plan.candidates, plan.rejected, attempts))

    def _provision_and_start(self, spec: TaskSpec, plan: LaunchPlan, context: Context, cluster_name: str,
                             blocked: list, attempts: list[runner.Attempt],
                             args: LaunchArguments) -> runner.ClusterHandle:
        blocked_t = [tuple(b) for b in blocked]
        handle, _ = runner.provision(
            spec, plan, cluster_name=cluster_name, failover=args.failover, log=self.log.info,
            tags=self._tags(context, cluster_name, args), options=args.backend_options, blocked=blocked_t,
            attempts=attempts,
        )
        blocked[:] = [list(b) for b in blocked_t]
        self._start(handle, spec)
        return handle

    def _follow(
        self, context: Context, handle: runner.ClusterHandle, state: dict[str, Any], args: LaunchArguments
    ) -> dict[str, Any]:
        """Wait for the job: defer to the trigger, or poll here when not deferrable."""
        if args.deferrable:
            self.defer(
                trigger=SkyLaunchTrigger(handle=handle.to_dict(), poll_interval=args.poll_interval,
                                         deadline=state["deadline"], launch_state=state),
                method_name="execute_complete",
            )
        deadline = state["deadline"]
        timeout = None if deadline is None else deadline - time.time()
        try:
            exit_code = runner.wait_job(handle, self.log.info, args.poll_interval, time.monotonic(), timeout)
        except runner.JobFailed as exc:
            event = {"status": exc.status, "exit_code": exc.exit_code, "log_tail": exc.log_tail}
        except BaseException:  # timeout signal, kill, bug: the cluster must not outlive the task
            runner.teardown(handle, log=self.log.info, keep=args.keep_cluster)
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
        args = self.arguments()
        event = runner.resume_event(event)  # the trigger's event carries ids only
        state = event["launch_state"]
        cluster = runner.ClusterHandle.from_dict(event["handle"])
        status = event.get("status")
        attempts = [runner.Attempt(**a) for a in state["attempts"]]
        if status == "preempted":
            spec = self.task_spec(context)
            blocked = [tuple(b) for b in state["blocked"]]
            new_handle = runner.relaunch_after_preemption(
                spec, LaunchPlan.from_dict(state["plan"]), cluster, log=self.log.info,
                tags=self._tags(context, cluster.cluster_name, args), options=args.backend_options,
                blocked=blocked, attempts=attempts, restarts=state["restarts"],
                max_restarts=args.max_restarts,
            )
            self._start(new_handle, spec)
            state = state | {"attempts": [a.__dict__ for a in attempts], "restarts": state["restarts"] + 1,
                             "blocked": [list(b) for b in blocked]}
            return self._follow(context, new_handle, state, args)
        try:
            runner.teardown(cluster, log=self.log.info, keep=args.keep_cluster)
        except Exception:
            self.log.exception("teardown of %s failed; `airflow-sky janitor` retries", cluster.cluster_name)
            raise
        exit_code = event.get("exit_code")
        seconds = time.time() - float(state["started_at"])
        result = runner.LaunchResult(
            cluster_name=cluster.cluster_name, candidate=cluster.candidate,
            attempts=state["attempts"], exit_code=exit_code, seconds=round(seconds, 3),
            cost_estimate_usd=runner.cost_estimate(cluster.candidate, time.time() - cluster.created_at),
            restarts=state["restarts"], kept=args.keep_cluster, log_tail=event.get("log_tail", ""),
        )
        self._lineage_result = result.to_dict()
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

    # ------------------------------------------------------------------ lineage

    def get_openlineage_facets_on_start(self) -> Any:
        from airflow_provider_sky.lineage.facets import launch_lineage

        return launch_lineage(self.task)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from airflow_provider_sky.lineage.facets import launch_lineage

        return launch_lineage(self.task, self._lineage_result)

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
