"""The view model reads the XComs the operators really pushed (one dag.test() run, see conftest)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_sky import redact
from airflow_provider_sky.launch.plan import Candidate
from airflow_provider_sky.launch.runner import Attempt, LaunchResult
from airflow_provider_sky.ui.view_model import VIEW_XCOM_KEY, build_view, launch_extra
from tests.ui.conftest import SkyRun


def test_the_run_went_as_the_dag_says(sky_run: SkyRun) -> None:
    assert sky_run.states == {"plan": "success", "copy": "success", "launch": "failed"}
    copied = (sky_run.root / "destination" / "shard.bin").read_bytes()
    assert copied == (sky_run.root / "source" / "shard.bin").read_bytes()


def test_a_relayed_copy_shows_its_route_with_planned_and_measured_figures(sky_run: SkyRun) -> None:
    view = build_view(sky_run.xcom("copy"), sky_run.xcom("copy", VIEW_XCOM_KEY))
    assert view is not None and view.kind == "transfer" and view.finished
    assert view.plan is not None and view.plan.relays == ["local:tb-relay"]
    planned = {f"{e.src}->{e.dst}" for e in view.plan.edges}
    assert set(view.measured_edges) <= planned
    assert sum(edge["bytes"] for edge in view.measured_edges.values()) >= 3 * 1024 * 1024
    assert view.gateways_ran() == {"local:tb-src": 1, "local:tb-relay": 1, "local:tb-dst": 1}
    figures = {c.metric: c for c in view.comparison}
    assert list(figures) == ["throughput", "time", "cost"]
    assert figures["throughput"].predicted == pytest.approx(view.plan.throughput_gbps)
    assert figures["throughput"].measured is not None and figures["throughput"].measured > 0
    assert ("bytes copied", "3,145,728") in view.facts
    assert view.pair == ("local:tb-src", "local:tb-dst") and len(view.pareto) == 8
    assert set(view.pictures()) == {"route", "pareto"}


def test_a_copy_still_deferred_is_drawn_from_the_plan_it_pushed(sky_run: SkyRun) -> None:
    view = build_view(None, sky_run.xcom("copy", VIEW_XCOM_KEY))
    assert view is not None and view.kind == "transfer" and not view.finished
    assert view.plan is not None and not view.comparison
    assert set(view.pictures()) == {"route", "pareto"}


def test_a_launch_that_found_no_capacity_keeps_its_candidates_and_every_attempt(sky_run: SkyRun) -> None:
    pushed = sky_run.xcom("launch", VIEW_XCOM_KEY)
    view = build_view(sky_run.xcom("launch"), pushed)
    assert view is not None and view.kind == "launch" and not view.finished
    assert len(view.candidates) == min(20, view.candidate_count) and view.candidate_count >= 3
    outcomes = [a["outcome"] for a in view.attempts]
    assert outcomes[:3] == ["capacity", "capacity", "quota"]  # local-a1, local-a2 full; region local-b at 0
    assert set(outcomes[3:]) <= {"skipped"}
    assert list(view.pictures()) == ["candidates"]


def test_a_planner_hook_task_is_a_plan_with_its_frontier(sky_run: SkyRun) -> None:
    view = build_view(sky_run.xcom("plan"))
    assert view is not None and view.kind == "plan"
    assert view.plan is not None and view.plan.destinations == ["local:tb-d1"]
    assert view.pair == ("local:tb-src", "local:tb-d1") and view.pareto


def _candidate(zone: str) -> Candidate:
    return Candidate("local", "local-b", zone, "local.small", False, 0.012, vcpus=2.0, total_hourly_usd=0.012)


def test_a_finished_launch_says_where_it_ran_and_keeps_attempts_from_its_result() -> None:
    first, second = _candidate("local-b1"), _candidate("local-b2")
    tried = [Attempt(first.describe(), "local", "local-b", "local-b1", "capacity", "no room"),
             Attempt(second.describe(), "local", "local-b", "local-b2", "launched", seconds=0.2)]  # fmt: skip
    result = LaunchResult("sky-x", second.to_dict(), [a.__dict__ for a in tried], 0, 2.0, 0.0001)
    view = build_view(result.to_dict(), launch_extra([first, second], {"cpus": 4}, tried[:1]))
    assert view is not None and view.finished
    assert ("ran on", "local:local-b/local-b2 (local.small)") in view.facts
    assert [a["outcome"] for a in view.attempts] == ["capacity", "launched"]  # the result's list wins
    assert view.rejected == {"cpus": 4}


def test_a_direct_copy_has_facts_but_no_route() -> None:
    view = build_view({"objects": 2, "bytes": 10, "overlay": {"used": False, "reason": "overlay='never'"}})
    assert view is not None and view.plan is None
    assert ("why", "overlay='never'") in view.facts
    assert view.pictures() == {}


@pytest.mark.parametrize("value", [None, "text", 3, [1, 2], {"objects": 1}, {"plan": {"source": "a"}}])
def test_values_the_view_does_not_know_give_no_view(value: Any) -> None:
    assert build_view(value, None) is None


def test_attempt_errors_are_redacted() -> None:
    secret = "sk-live-0123456789abcdef"
    redact.register(secret)
    attempt = {"candidate": "x", "outcome": "error", "error": f"denied for key {secret}"}
    view = build_view(None, launch_extra([_candidate("local-b1")], {}, [attempt]))
    assert view is not None
    assert secret not in view.attempts[0]["error"]
    assert "denied for key" in view.attempts[0]["error"]
