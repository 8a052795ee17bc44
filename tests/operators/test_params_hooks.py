"""Numbers typed into a `sky` connection's form are parsed like rendered arguments, never cast."""

from __future__ import annotations

import json

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.hooks.planner import SkyPlannerHook


def _hook(monkeypatch: pytest.MonkeyPatch, value: object) -> SkyPlannerHook:
    extra = {"max_instances_per_region": value}
    monkeypatch.setenv("AIRFLOW_CONN_SKY_FORM", json.dumps({"conn_type": "sky", "extra": extra}))
    return SkyPlannerHook(sky_conn_id="sky_form")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2.5", "is not an integer"),
        ("lots", "is not an integer"),
        ("0", "is out of range"),
        ("nan", "is not an integer"),
    ],
)
def test_a_bad_vm_limit_in_the_connection_names_the_connection(monkeypatch, text: str, problem: str) -> None:
    with pytest.raises(SkyUserError) as info:
        _hook(monkeypatch, text).get_conn()
    assert f"the sky_form connection's max_instances_per_region={text!r} {problem}" in str(info.value)


@pytest.mark.parametrize("value", ["3", 3, " 3 "])
def test_a_vm_limit_in_the_connection_reaches_the_planner(monkeypatch, value: object) -> None:
    plan = _hook(monkeypatch, value).plan_transfer("aws:us-east-1", "gcp:europe-west4-a", throughput_goal_gbps=1)
    assert plan.vms and all(count <= 3 for count in plan.vms.values())
