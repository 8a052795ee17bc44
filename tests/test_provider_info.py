"""Airflow finds the provider through its entry point, and everything the provider info names exists."""

from __future__ import annotations

import importlib
import json
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_sky.get_provider_info import get_provider_info


def _import_object(dotted: str) -> object:
    module_name, _, attribute = dotted.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def test_entry_point_is_registered_and_returns_the_provider_info() -> None:
    providers = entry_points(group="apache_airflow_provider")
    matches = [ep for ep in providers if ep.value.startswith("airflow_provider_sky")]
    assert len(matches) == 1
    assert matches[0].load()() == get_provider_info()


def test_provider_info_matches_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_listed_module_and_class_imports() -> None:
    info = get_provider_info()
    for section in ("operators", "hooks", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for link in info["extra-links"]:
        assert callable(_import_object(link))
    for conn in info["connection-types"]:
        hook = _import_object(conn["hook-class-name"])
        assert getattr(hook, "conn_type", None) == conn["connection-type"]


def test_airflow_lists_the_provider_and_its_connection_form() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    assert "airflow-provider-sky" in manager.providers
    assert "sky" in ProvidersManagerTaskRuntime().hooks
    assert "extra__sky__deny_regions" in manager.connection_form_widgets


def test_every_sky_connection_field_is_described_and_unused_widgets_are_hidden() -> None:
    [form] = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == "sky"]
    assert all(field.get("description", "").strip() for field in form["conn-fields"].values())
    # the hook reads only the extras above: the standard widgets but Description stay hidden
    assert set(form["ui-field-behaviour"]["hidden-fields"]) == {"host", "schema", "login", "password", "port", "extra"}
