"""OperatorLineage built from the operators' arguments and results, without running a copy."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.lineage.facets import launch_lineage, transfer_lineage

OVERLAY_RESULT: dict[str, Any] = {
    "source": "s3://raw-data/in/", "mode": "sync", "dry_run": False, "seconds": 12.5, "objects": 3, "bytes": 3000,
    "skipped": 1, "deleted": 0, "checksums_verified": 3,
    "destinations": [
        {"destination": "gs://train-eu/in/", "objects_copied": 3, "bytes_copied": 3000, "dry_run": False},
    ],
    "overlay": {
        "used": True, "reason": "relays save 40% of the time",
        "plan": {"source": "aws:us-east-1", "destinations": ["gcp:europe-west4-a"], "throughput_gbps": 4.0,
                 "edges": [{"src": "aws:us-east-1", "dst": "aws:eu-west-1"},
                           {"src": "aws:eu-west-1", "dst": "gcp:europe-west4-a"}]},
        "predicted": {"throughput_gbps": 4.0, "seconds": 10.0, "cost_usd": 0.25},
        "measured": {"throughput_gbps": 3.2, "seconds": 12.5, "cost_usd": 0.31, "egress_usd": 0.3, "vm_usd": 0.01},
        "gateways": [{"region": "aws:eu-west-1", "host": "10.0.0.7"}],
    },
}  # fmt: skip


def _names(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


def test_on_start_the_source_is_read_and_every_destination_written() -> None:
    lineage = transfer_lineage("file:///srv/in/", ["s3://raw-data/in/", "gs://train-eu/in/a.bin"], host="w1")
    assert _names(lineage.inputs) == [("file://w1", "/srv/in")]
    assert _names(lineage.outputs) == [("s3://raw-data", "in"), ("gs://train-eu", "in/a.bin")]
    assert lineage.run_facets == {}


def test_on_complete_the_route_and_its_predicted_and_measured_figures_are_a_run_facet() -> None:
    lineage = transfer_lineage("s3://raw-data/in/", "gs://train-eu/in/", OVERLAY_RESULT)
    facet = lineage.run_facets["skyTransfer"]
    assert (facet.mode, facet.objects, facet.bytes, facet.skipped, facet.overlayUsed) == ("sync", 3, 3000, 1, True)
    assert facet.regions == ["aws:us-east-1", "aws:eu-west-1", "gcp:europe-west4-a"]
    assert (facet.predictedThroughputGbps, facet.measuredThroughputGbps) == (4.0, 3.2)
    assert (facet.predictedCostUsd, facet.measuredCostUsd) == (0.25, 0.31)
    statistics = lineage.outputs[0].outputFacets["outputStatistics"]
    assert (statistics.size, statistics.fileCount) == (3000, 3)
    assert "10.0.0.7" not in repr(facet)  # gateway addresses are not lineage


def test_a_dry_run_writes_no_output_statistics() -> None:
    result = {**OVERLAY_RESULT, "dry_run": True, "overlay": {"used": False, "reason": "dry run"},
              "destinations": [{**OVERLAY_RESULT["destinations"][0], "dry_run": True}]}  # fmt: skip
    lineage = transfer_lineage("s3://raw-data/in/", "gs://train-eu/in/", result)
    assert lineage.outputs[0].outputFacets == {}
    assert (lineage.run_facets["skyTransfer"].dryRun, lineage.run_facets["skyTransfer"].regions) == (True, [])


def test_a_launch_names_where_it_ran_and_leaves_error_texts_out() -> None:
    task = {"file_mounts": {"~/d": "gs://train-eu/shards/"}, "outputs": {"s3://raw-data/model/": 1}, "run": "x"}
    result = {
        "cluster_name": "sky-train-1", "exit_code": 0, "seconds": 30.0, "cost_estimate_usd": 0.0123456789,
        "restarts": 0, "kept": False, "log_tail": "token=abc",
        "candidate": {"cloud": "aws", "region": "us-east-1", "zone": "us-east-1b", "instance_type": "m6i.large",
                      "use_spot": True, "num_nodes": 2},
        "attempts": [
            {"candidate": "m6i.large@aws:us-east-1/us-east-1a", "cloud": "aws", "region": "us-east-1",
             "zone": "us-east-1a", "outcome": "capacity", "error": "InsufficientInstanceCapacity", "code": "ICE"},
            {"candidate": "m6i.large@aws:us-east-1/us-east-1b", "cloud": "aws", "region": "us-east-1",
             "zone": "us-east-1b", "outcome": "launched"},
        ],
    }  # fmt: skip
    lineage = launch_lineage(task, result)
    assert _names(lineage.inputs) == [("gs://train-eu", "shards")]
    assert _names(lineage.outputs) == [("s3://raw-data", "model")]
    facet = lineage.run_facets["skyLaunch"]
    assert (facet.cloud, facet.zone, facet.instanceType, facet.useSpot, facet.numNodes) == (
        "aws", "us-east-1b", "m6i.large", True, 2,
    )  # fmt: skip
    assert facet.costEstimateUsd == 0.012346
    assert [a["outcome"] for a in facet.attempts] == ["capacity", "launched"]
    assert "InsufficientInstanceCapacity" not in repr(facet) and "token=abc" not in repr(facet)


def test_a_task_without_storage_has_no_datasets() -> None:
    lineage = launch_lineage("run: echo hi\nresources: {cloud: local}\n")
    assert (lineage.inputs, lineage.outputs) == ([], [])


def test_a_missing_task_file_is_one_user_error() -> None:
    with pytest.raises(SkyUserError, match=r"Task file 'nowhere/train\.yaml' does not exist"):
        launch_lineage("nowhere/train.yaml")


def test_the_operators_import_the_openlineage_client_only_when_lineage_is_built() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from airflow_provider_sky.operators.transfer import SkyTransferOperator\n"
        "from airflow_provider_sky.operators.launch import SkyLaunchOperator\n"
        "op = SkyTransferOperator(task_id='t', source='s3://raw-data/a/', destination='gs://train-eu/a/',\n"
        "                         assets=True)\n"
        "SkyLaunchOperator(task_id='l', task={'outputs': {'s3://raw-data/m/': 1}, 'run': 'x'}, assets=True)\n"
        "before = 'openlineage.client' in sys.modules\n"
        "op.get_openlineage_facets_on_start()\n"
        "print(before, 'openlineage.client' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split()[-2:] == ["False", "True"]
