"""A `sky` connection carries team-wide planner defaults; explicit arguments win over it."""

from __future__ import annotations

import json

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.hooks.planner import SkyPlannerHook

PAIR = ("aws:us-east-1", "gcp:europe-west4-a")


@pytest.fixture
def sky_team(monkeypatch: pytest.MonkeyPatch) -> str:
    extra = {"deny_regions": "aws:us-east-*, azure:*", "max_instances_per_region": "2"}
    monkeypatch.setenv("AIRFLOW_CONN_SKY_TEAM", json.dumps({"conn_type": "sky", "extra": extra}))
    return "sky_team"


def test_deny_rules_from_the_connection_apply_to_every_plan(sky_team: str) -> None:
    hook = SkyPlannerHook(sky_conn_id=sky_team)
    with pytest.raises(SkyUserError, match=r"aws:us-east-1 match deny_regions"):
        hook.plan_transfer(*PAIR, throughput_goal_gbps=2)


def test_explicit_rules_override_the_connection(sky_team: str) -> None:
    plan = SkyPlannerHook(sky_conn_id=sky_team).plan_transfer(*PAIR, throughput_goal_gbps=2, deny_regions=[])
    assert plan.throughput_gbps >= 2
    assert all(count <= 2 for count in plan.vms.values())


def test_vm_limit_from_the_connection_caps_the_plan(sky_team: str) -> None:
    # Two AWS VMs send at most 2 x 5 Gbit/s; the default limit (8 VMs) reaches 15 easily.
    assert SkyPlannerHook().plan_transfer(*PAIR, throughput_goal_gbps=15).throughput_gbps >= 15
    with pytest.raises(SkyUserError, match="Gbit/s"):
        SkyPlannerHook(sky_conn_id=sky_team).plan_transfer(*PAIR, throughput_goal_gbps=15, deny_regions=[])


def test_without_a_connection_id_no_connection_is_needed() -> None:
    plan = SkyPlannerHook().plan_transfer(*PAIR, throughput_goal_gbps=2)
    assert plan.source == PAIR[0]
