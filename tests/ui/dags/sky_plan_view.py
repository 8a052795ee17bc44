"""Three Sky tasks whose XComs the plan view draws: a planner-hook task, a relayed overlay copy on
plain gateway processes (the triangle testbed's plan), and a launch whose every zone is full.

Paths come from SKY_UI_TEST_DIR so the test decides where the bytes go.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_sky.operators.launch import SkyLaunchOperator
from airflow_provider_sky.operators.transfer import SkyTransferOperator

ROOT = os.environ.get("SKY_UI_TEST_DIR", "/tmp/sky-ui-test")

with DAG(dag_id="sky_plan_view", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:

    @task(multiple_outputs=False)  # one XCom: the view reads the whole dict
    def plan() -> dict[str, Any]:
        from airflow_provider_sky.hooks.planner import SkyPlannerHook

        hook = SkyPlannerHook(grid="multicast")
        return hook.viewable(hook.plan_transfer("local:tb-src", "local:tb-d1", throughput_goal_gbps=0.1))

    copy = SkyTransferOperator(
        task_id="copy",
        source=f"file://{ROOT}/source/",
        destination=f"file://{ROOT}/destination/",
        grid="triangle",
        objective="throughput",
        budget_usd_per_gb=1.0,
        source_region="local:tb-src",
        destination_region="local:tb-dst",
        overlay="always",
        gateway_cloud="process",
        chunk_size_mb=1,
        multipart_threshold_mb=1,
        deferrable=False,
    )
    launch = SkyLaunchOperator(
        task_id="launch",
        task={"name": "full", "resources": {"cloud": "local", "cpus": "2+"}, "run": "echo never runs"},
        backend_options={"local": {"capacity": {"local-a1": 0, "local-a2": 0, "local-b": 0}}},
        failover=True,
        deferrable=False,
    )
    plan()
