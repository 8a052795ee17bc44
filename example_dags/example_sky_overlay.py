"""A transfer through the gateway overlay, on the embedded *triangle* testbed.

The DAG is DESIGN.md's first task with the grid set to the triangle testbed profile: three
network namespaces where the direct link is slow (20 Mbit/s) and the path through a relay is
fast (200 Mbit/s). The planner routes through the relay, gateways start inside the namespaces,
the task defers while they move the bytes, and the XCom result says which route the bytes took
and how fast. Build the testbed first (as root: ``make testbed`` shows one; the test suite's
fixture and ``make demo`` build their own); on clouds, point ``grid`` at the cloud grid and the
regions at where the buckets are.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_sky.operators.transfer import SkyTransferOperator

SOURCE = os.environ.get("SKY_OVERLAY_SOURCE", "file:///tmp/airflow-sky-overlay/raw/")
DESTINATION = os.environ.get("SKY_OVERLAY_DESTINATION", "file:///tmp/airflow-sky-overlay/train/")

with DAG(
    dag_id="example_sky_overlay",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["sky", "example", "overlay"],
    doc_md=__doc__,
) as dag:
    SkyTransferOperator(
        task_id="copy_shards",
        source=SOURCE,
        destination=DESTINATION,
        mode="sync",
        objective="cost",
        throughput_goal_gbps="0.15",  # templated values arrive as strings: parsed strictly
        max_instances_per_region=4,
        deny_regions=["aws:us-*"],
        grid="triangle",
        source_region="local:tb-src",
        destination_region="local:tb-dst",
        chunk_size_mb=8,
        multipart_threshold_mb=8,
        deferrable=True,
        progress_interval_s=2,
    )
