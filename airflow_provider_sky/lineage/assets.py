"""Airflow Assets for ``assets=True``: inlets from what a task reads, outlets from what it writes.

Airflow registers a task's Assets when it parses the DAG (that is what lets another DAG be
scheduled on them), so they are built from the arguments as written, not as rendered: a
templated source or destination has no Asset URI yet, and ``assets=True`` refuses it with a
message saying so rather than registering an Asset named after Jinja text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.lineage.naming import asset_uri, is_templated
from airflow_provider_sky.lineage.task_data import task_data
from airflow_provider_sky.params import parse_bool
from airflow_provider_sky.uri import ObjectURI, parse_uri


def make_asset(uri: ObjectURI) -> Any:
    """The ``airflow.sdk.Asset`` for one storage URI; Airflow's refusal becomes one SkyUserError.

    The name is the URI as Airflow normalises it (no trailing '/'), so the Asset equals the one a
    downstream DAG writes as ``Asset("s3://bucket/prefix")``: two Assets with one URI and two
    names would conflict, and Airflow marks such an Asset inactive and fails the task.
    """
    from airflow.sdk import Asset

    text = asset_uri(uri)
    try:
        normalized = Asset(uri=text).uri
        return Asset(name=normalized, uri=normalized)
    except (ValueError, TypeError) as exc:
        raise SkyUserError(
            f"Airflow refuses {text!r} as an Asset URI ({exc})", "pass assets=False and give outlets= yourself"
        ) from None


def _literal(argument: str, value: str) -> ObjectURI:
    if is_templated(value):
        raise SkyUserError(
            f"assets=True needs {argument} as a literal URI, but {value!r} is a template",
            "Assets are registered when the DAG is parsed; write the URI out, or pass assets=False "
            "and give inlets=/outlets= Assets yourself",
        )
    return parse_uri(value)


def refuse_in_partial(kwargs: Mapping[str, Any]) -> None:
    """``assets=True`` cannot reach a mapped task's outlets: refuse it in ``.partial()``.

    A mapped task is built from its ``partial`` arguments only when each map index runs, after
    the DAG was parsed, so Assets made then would never have been registered and Airflow would
    fail the task for outlets it does not know.
    """
    if "assets" in kwargs and parse_bool("assets", kwargs["assets"]):
        raise SkyUserError(
            "assets=True cannot be given to .partial(): a mapped task's Assets must be known when the DAG is parsed",
            "pass outlets=[Asset(...)] (and inlets=) to .partial() instead",
        )


def transfer_assets(source: str, destination: str | Sequence[str]) -> tuple[list[Any], list[Any]]:
    """(inlets, outlets): the source, and every destination."""
    destinations = (destination,) if isinstance(destination, str) else tuple(destination)
    inlets = [make_asset(_literal("source", source))]
    outlets = [make_asset(_literal("destination", d)) for d in destinations]
    return inlets, outlets


def launch_assets(task: str | Mapping[str, Any]) -> tuple[list[Any], list[Any]]:
    """(inlets, outlets) from the storage a launch task declares (see ``task_data``)."""
    if is_templated(task):
        raise SkyUserError(
            "assets=True needs the task as a literal path, YAML text or mapping, but it is a template",
            "pass assets=False and give inlets=/outlets= Assets yourself",
        )
    data = task_data(task)
    return [make_asset(uri) for uri in data.inputs], [make_asset(uri) for uri in data.outputs]
