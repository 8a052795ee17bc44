"""OperatorLineage for SkyTransferOperator and SkyLaunchOperator.

Each function imports the OpenLineage client and the provider's ``OperatorLineage`` when
called: the OpenLineage listener calls them only when lineage is on, so a task without
lineage never imports either. On start the datasets come from the rendered arguments; on
complete the operator's result adds what was measured (output statistics per destination and
a run facet, see :mod:`~airflow_provider_sky.lineage.run_facets`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_sky.lineage.naming import dataset_name
from airflow_provider_sky.lineage.task_data import task_data
from airflow_provider_sky.uri import ObjectURI, parse_uri

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage


def destinations_of(destination: str | Sequence[str]) -> tuple[str, ...]:
    """One destination or a list, as the operator takes them."""
    return (destination,) if isinstance(destination, str) else tuple(destination)


def _datasets(uris: Sequence[ObjectURI], kind: str, host: str | None = None) -> list[Any]:
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    make = InputDataset if kind == "input" else OutputDataset
    names = dict.fromkeys(dataset_name(uri, host) for uri in uris)  # one dataset per place, in order
    return [make(namespace=n.namespace, name=n.name) for n in names]


def transfer_lineage(
    source: str, destination: str | Sequence[str], result: Mapping[str, Any] | None = None,
    host: str | None = None,
) -> OperatorLineage:  # fmt: skip
    """Source prefix or object in, each destination out; with ``result``, what the copy moved."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    destinations = destinations_of(destination)
    inputs = _datasets([parse_uri(source)], "input", host)
    outputs = _datasets([parse_uri(d) for d in destinations], "output", host)
    if result is None:
        return OperatorLineage(inputs=inputs, outputs=outputs)
    _add_output_statistics(outputs, destinations, result, host)
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets={"skyTransfer": _transfer_facet(result)})


def _add_output_statistics(
    outputs: list[Any], destinations: Sequence[str], result: Mapping[str, Any], host: str | None
) -> None:
    from openlineage.client.facet_v2 import output_statistics_output_dataset

    by_name = {(o.namespace, o.name): o for o in outputs}
    for text, summary in zip(destinations, result.get("destinations", []), strict=False):
        name = dataset_name(parse_uri(text), host)
        output = by_name.get((name.namespace, name.name))
        if output is None or summary.get("dry_run"):
            continue
        output.outputFacets = {
            "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                size=int(summary.get("bytes_copied", 0)), fileCount=int(summary.get("objects_copied", 0))
            )
        }


def _route(overlay: Mapping[str, Any]) -> list[str]:
    """Regions the planner's route passes through, source first, then relays, then destinations."""
    plan = overlay.get("plan") or {}
    ends = [plan.get("source", ""), *plan.get("destinations", [])]
    relays = [hop for edge in plan.get("edges", []) for hop in (edge.get("src"), edge.get("dst")) if hop not in ends]
    return [region for region in dict.fromkeys([ends[0], *relays, *ends[1:]]) if region]


def _number(section: Any, key: str) -> float | None:
    value = section.get(key) if isinstance(section, Mapping) else None
    return round(float(value), 6) if isinstance(value, int | float) else None


def _transfer_facet(result: Mapping[str, Any]) -> Any:
    from airflow_provider_sky.lineage.run_facets import SkyTransferRunFacet

    overlay = result.get("overlay") or {}
    predicted, measured = overlay.get("predicted"), overlay.get("measured")
    plan = overlay.get("plan") or {}
    return SkyTransferRunFacet(
        mode=str(result.get("mode", "")),
        objects=int(result.get("objects", 0)),
        bytes=int(result.get("bytes", 0)),
        skipped=int(result.get("skipped", 0)),
        deleted=int(result.get("deleted", 0)),
        seconds=float(result.get("seconds", 0.0)),
        dryRun=bool(result.get("dry_run", False)),
        overlayUsed=bool(overlay.get("used", False)),
        overlayReason=str(overlay.get("reason", "")),
        regions=_route(overlay),
        predictedThroughputGbps=_number(predicted, "throughput_gbps") or _number(plan, "throughput_gbps"),
        measuredThroughputGbps=_number(measured, "throughput_gbps"),
        predictedCostUsd=_number(predicted, "cost_usd"),
        measuredCostUsd=_number(measured, "cost_usd"),
    )


def launch_lineage(
    task: str | Mapping[str, Any], result: Mapping[str, Any] | None = None, host: str | None = None
) -> OperatorLineage:
    """The task's storage inputs and outputs; with ``result``, where it ran and every attempt."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    data = task_data(task)
    inputs = _datasets(data.inputs, "input", host)
    outputs = _datasets(data.outputs, "output", host)
    if result is None:
        return OperatorLineage(inputs=inputs, outputs=outputs)
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets={"skyLaunch": _launch_facet(result)})


def _launch_facet(result: Mapping[str, Any]) -> Any:
    from airflow_provider_sky.lineage.run_facets import SkyLaunchRunFacet

    candidate = result.get("candidate") or {}
    attempts = [
        {key: str(attempt.get(key) or "") for key in ("candidate", "cloud", "region", "zone", "outcome", "code")}
        for attempt in result.get("attempts", [])
    ]  # the error text stays out: it is a cloud's message, not a measurement
    return SkyLaunchRunFacet(
        cloud=str(candidate.get("cloud", "")),
        region=str(candidate.get("region", "")),
        zone=candidate.get("zone"),
        instanceType=str(candidate.get("instance_type", "")),
        useSpot=bool(candidate.get("use_spot", False)),
        numNodes=int(candidate.get("num_nodes", 1)),
        exitCode=result.get("exit_code"),
        seconds=float(result.get("seconds", 0.0)),
        costEstimateUsd=round(float(result.get("cost_estimate_usd", 0.0)), 6),
        restarts=int(result.get("restarts", 0)),
        attempts=attempts,
    )
