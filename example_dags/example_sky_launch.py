"""Launch a small task on the embedded local cloud, failing over across its zones.

The local cloud's zones `local-a1` and `local-a2` are given no capacity here, so the launch
fails over twice and lands in `local-b1`: the same path a real launch takes when a cloud zone
has no capacity left. Each "VM" is a local OpenSSH server; the job runs detached on it while
the task waits in the triggerer, and the cluster is torn down when the job ends.

Point `resources` at `cloud: aws` (or gcp, azure) to run the same task on a real cloud.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_sky.operators.launch import SkyLaunchOperator

with DAG(
    dag_id="example_sky_launch",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["sky", "example"],
    doc_md=__doc__,
) as dag:
    train = SkyLaunchOperator(
        task_id="train",
        task={
            "name": "hello-sky",
            "resources": {"cloud": "local", "cpus": "2+"},
            "envs": {"GREETING": "hello from the local cloud"},
            "setup": "echo setting up on $(hostname)",
            # a few seconds of work: long enough to see the task deferred in the UI while it runs
            "run": 'echo "$GREETING (node $SKY_NODE_RANK of $SKY_NUM_NODES)"; sleep 10; echo done',
        },
        backend_options={"local": {"capacity": {"local-a1": 0, "local-a2": 0}}},
        failover=True,
        deferrable=True,
        poll_interval=0.5,
    )

    @task
    def report(result: dict[str, Any]) -> str:
        """Say where the task ran and what the failover cost in attempts."""
        where = result["candidate"]
        failed = [a for a in result["attempts"] if a["outcome"] not in ("launched", "skipped")]
        summary = (
            f"ran on {where['cloud']}:{where['region']}/{where['zone']} ({where['instance_type']}) "
            f"after {len(failed)} failed attempt(s), exit code {result['exit_code']}, "
            f"{result['seconds']:.1f}s, about ${result['cost_estimate_usd']:.6f}"
        )
        print(summary)
        return summary

    report(train.output)
