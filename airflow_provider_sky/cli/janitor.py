"""`airflow-sky janitor`: delete VMs this provider left behind.

Teardown normally deletes every cluster, but a worker can die mid-task, a triggerer can be
killed, or a user can keep a cluster on purpose. Every VM carries tags (see
``launch/backends/base.py``); the janitor lists them per cloud and deletes a cluster when

- its TTL has passed since its last heartbeat (``sky-heartbeat`` + ``sky-ttl``, refreshed by
  whoever polls the job; older clusters: ``sky-expires``), the safety net and a kept cluster's
  autostop, or
- its owner process is gone (local backend, launches without a DAG run: the pid and its start
  time are tagged, so a reused pid is not mistaken for the owner), unless it was kept, or
- its DAG run is over (looked up in Airflow's metadata DB when reachable), unless it was kept, or
- its VMs are already gone (a preempted local VM) but its record remains.

A cluster record in the state dir with no VM at all (its launcher was killed while provisioning)
is judged by the same rules from the record's tags, and removed with its key.

``--dry-run`` prints the same table and deletes nothing.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_sky.launch import owner, state
from airflow_provider_sky.launch.backends.base import (
    CLOUDS,
    TAG_CLUSTER,
    TAG_DAG,
    TAG_EXPIRES,
    TAG_HEARTBEAT,
    TAG_KEEP,
    TAG_MANAGED,
    TAG_RUN,
    TAG_TTL,
    Instance,
    get_cloud,
)
from airflow_provider_sky.stores.endpoints import check_endpoint_url

log = logging.getLogger(__name__)
RunIsOver = Callable[[str, str], "bool | None"]


@dataclass
class Verdict:
    """Why one cluster should go (or None: keep it)."""

    cloud: str
    region: str
    cluster: str
    instances: list[str]
    reason: str | None


def judge(instances: Iterable[Instance], *, now: float, run_is_over: RunIsOver) -> list[Verdict]:
    """Group tagged VMs by cluster and decide, from tags alone, which clusters to delete."""
    groups: dict[tuple[str, str, str], list[Instance]] = {}
    for inst in instances:
        if inst.tags.get(TAG_MANAGED) != "true":
            continue  # never touch what we did not create
        groups.setdefault((inst.cloud, inst.region, inst.tags.get(TAG_CLUSTER, "")), []).append(inst)
    verdicts = []
    for (cloud, region, cluster), members in sorted(groups.items()):
        reason = _reason(cloud, members[0].tags, now, run_is_over)
        if reason is None and all(m.state == "terminated" for m in members):
            reason = "VMs already gone"
        verdicts.append(Verdict(cloud, region, cluster, [m.instance_id for m in members], reason))
    return verdicts


def _reason(cloud: str, tags: Mapping[str, str], now: float, run_is_over: RunIsOver) -> str | None:
    """Why a cluster with these tags should go, or None; the rules of the module docstring."""
    beat, ttl = _float(tags.get(TAG_HEARTBEAT)), _float(tags.get(TAG_TTL))
    expires = beat + ttl if beat is not None and ttl is not None else _float(tags.get(TAG_EXPIRES))
    if expires is not None and now > expires:
        since = f"since its last heartbeat {int(now - beat)}s ago" if beat is not None and ttl is not None else ""
        return f"TTL passed {int(now - expires)}s ago {since}".strip()
    if tags.get(TAG_KEEP) == "true":
        return None
    if cloud == "local" and owner.is_gone(tags):
        return "owner process is gone"
    if tags.get(TAG_DAG) and tags.get(TAG_RUN) and run_is_over(tags[TAG_DAG], tags[TAG_RUN]):
        return f"DAG run {tags[TAG_DAG]}/{tags[TAG_RUN]} is over"
    return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def airflow_run_is_over(dag_id: str, run_id: str) -> bool | None:
    """True/False from Airflow's metadata DB; None when it cannot be asked (then only TTLs count)."""
    try:
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            run_state = session.scalar(
                select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
            )
    except Exception as exc:  # no DB configured here: fall back to TTLs, say so once in debug
        log.debug("cannot read DAG run state from Airflow: %s", exc)
        return None
    if run_state is None:
        return None
    return str(run_state) in ("success", "failed", "DagRunState.SUCCESS", "DagRunState.FAILED")


def sweep(
    clouds: Iterable[str],
    *,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    dry_run: bool = False,
    run_is_over: RunIsOver = airflow_run_is_over,
    now: float | None = None,
) -> list[Verdict]:
    """List tagged VMs on ``clouds``, delete the clusters :func:`judge` condemns; return verdicts."""
    options = options or {}
    now = time.time() if now is None else now
    verdicts: list[Verdict] = []
    for cloud_name in clouds:
        cloud = get_cloud(cloud_name)
        cloud_options = options.get(cloud_name, {})
        found = judge(cloud.list_tagged(cloud_options), now=now, run_is_over=run_is_over)
        found += _judge_records(cloud_name, {v.cluster for v in found}, now, run_is_over)
        for verdict in found:
            if verdict.reason and not dry_run:
                cloud.terminate(verdict.cluster, verdict.region, cloud_options)
                record = state.load_record(verdict.cluster)
                if record is None or record.get("candidate", {}).get("cloud") == cloud_name:
                    state.remove_cluster(verdict.cluster)
        verdicts += found
    return verdicts


def _judge_records(cloud: str, seen: set[str], now: float, run_is_over: RunIsOver) -> list[Verdict]:
    """Verdicts on this machine's cluster records on ``cloud`` that no listed VM belongs to."""
    out = []
    for name in state.list_clusters():
        record = state.load_record(name)
        if name in seen or record is None or record.get("candidate", {}).get("cloud") != cloud:
            continue
        reason = _reason(cloud, record.get("tags") or {}, now, run_is_over)
        region = str(record["candidate"].get("region", ""))
        out.append(Verdict(cloud, region, name, [], f"{reason} (record only, no VM)" if reason else None))
    return out


def render(verdicts: list[Verdict], dry_run: bool) -> str:
    head = ("cloud", "region", "cluster", "VMs", "action", "reason")
    rows = [head]
    for v in verdicts:
        action = "keep" if not v.reason else ("would delete" if dry_run else "deleted")
        rows.append((v.cloud, v.region, v.cluster, str(len(v.instances)), action, v.reason or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if not verdicts:
        lines.append("(no tagged VMs found)")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "janitor", help="delete tagged VMs whose DAG run is over or whose TTL passed",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cloud", action="append", choices=(*CLOUDS, "all"),
                        help="cloud to sweep (repeatable; default: local)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    parser.add_argument("--aws-region", action="append", help="AWS region to sweep (default: all enabled)")
    parser.add_argument("--aws-endpoint-url", help="EC2 endpoint (e.g. moto) instead of AWS")
    parser.add_argument("--gcp-project", help="GCP project to sweep")
    parser.add_argument("--azure-subscription", help="Azure subscription id to sweep")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    if args.aws_endpoint_url:
        check_endpoint_url("EC2 endpoint URL", args.aws_endpoint_url, "--aws-endpoint-url")
    clouds = args.cloud or ["local"]
    if "all" in clouds:
        clouds = list(CLOUDS)
    options: dict[str, dict[str, Any]] = {
        "aws": {k: v for k, v in {"regions": args.aws_region, "endpoint_url": args.aws_endpoint_url}.items() if v},
        "gcp": {"project": args.gcp_project} if args.gcp_project else {},
        "azure": {"subscription_id": args.azure_subscription} if args.azure_subscription else {},
    }
    verdicts = sweep(clouds, options=options, dry_run=args.dry_run)
    print(render(verdicts, args.dry_run))
    return 0
