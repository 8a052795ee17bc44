"""A transfer through real gateways (plain processes on this machine) reports its route as lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_sky.operators.transfer import SkyTransferOperator


class _TaskInstance:
    """The part of a running task instance the operator talks to: ids for tags, XCom for links."""

    dag_id, run_id, task_id, map_index, try_number = "lineage", "manual__1", "copy", -1, 1

    def xcom_push(self, key: str, value: Any) -> None:
        pass


def test_an_overlay_transfer_reports_the_planned_route_and_what_it_measured(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    for i in range(4):
        (tmp_path / "raw" / f"shard-{i}").write_bytes(bytes([i]) * 300_000)
    op = SkyTransferOperator(
        task_id="copy", source=f"file://{tmp_path}/raw/", destination=f"file://{tmp_path}/train/",
        grid="triangle", source_region="local:tb-src", destination_region="local:tb-dst", overlay="always",
        gateway_cloud="process", throughput_goal_gbps="0.15", deferrable=False, progress_interval_s=1,
    )  # fmt: skip

    result = op.execute({"ti": _TaskInstance()})  # type: ignore[arg-type]
    lineage = op.get_openlineage_facets_on_complete(None)

    assert result["overlay"]["used"] is True
    facet = lineage.run_facets["skyTransfer"]
    assert (facet.objects, facet.bytes, facet.overlayUsed) == (4, 1_200_000, True)
    assert facet.regions == ["local:tb-src", "local:tb-relay", "local:tb-dst"]  # the triangle's fast path
    assert facet.predictedThroughputGbps == round(result["overlay"]["predicted"]["throughput_gbps"], 6)
    assert facet.measuredThroughputGbps is not None and facet.measuredThroughputGbps > 0
    assert facet.measuredCostUsd == round(result["overlay"]["measured"]["cost_usd"], 6)
    assert [(d.namespace.startswith("file://"), d.name) for d in lineage.outputs] == [(True, f"{tmp_path}/train")]
