"""The plan view served by Airflow's own API server app, with the plugin loaded from its entry
point: refused without a valid Airflow token, drawn with one, and opened by the extra links."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from airflow_provider_sky.links.plan import SkyPlanLink
from tests.ui.conftest import DAG_ID, SkyRun


@pytest.fixture(scope="module")
def client(sky_run: SkyRun) -> Iterator[TestClient]:
    """Airflow's API server app (core API, auth manager, plugins), as `airflow api-server` builds it."""
    from airflow.api_fastapi.app import create_app, purge_cached_app

    purge_cached_app()
    with pytest.MonkeyPatch.context() as env:  # the simple auth manager, with a password this test knows
        env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
        env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
        env.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(sky_run.root / "passwords.json"))
        env.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(64))
        with TestClient(create_app(apps="core")) as test_client:
            yield test_client
    purge_cached_app()


@pytest.fixture(scope="module")
def token(client: TestClient, sky_run: SkyRun) -> str:
    response = client.post("/auth/token", json={"username": "admin", "password": sky_run.admin_password})
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


def _plan_path(sky_run: SkyRun, task_id: str, map_index: str = "-1") -> str:
    return f"/sky/plan?dag_id={DAG_ID}&run_id={quote(sky_run.run_id)}&task_id={task_id}&map_index={map_index}"


def _pictures(html: str) -> list[str]:
    return re.findall(r'<svg[^>]*data-sky-picture="([a-z]+)"', html)


def test_the_plan_page_refuses_a_request_without_a_token(client: TestClient, sky_run: SkyRun) -> None:
    response = client.get(_plan_path(sky_run, "copy"))
    assert response.status_code == 401
    assert "<svg" not in response.text


def test_a_forged_token_is_refused(client: TestClient, sky_run: SkyRun) -> None:
    response = client.get(_plan_path(sky_run, "copy"), headers={"Authorization": "Bearer not.a.token"})
    assert response.status_code in (401, 403)
    assert "<svg" not in response.text


def test_a_token_from_auth_token_opens_the_transfer_plan(client: TestClient, sky_run: SkyRun, token: str) -> None:
    response = client.get(_plan_path(sky_run, "copy"), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert _pictures(response.text) == ["route", "pareto"]
    assert "local:tb-relay" in response.text
    assert 'data-metric="throughput"' in response.text  # predicted vs measured
    assert 'data-sky-state="success"' in response.text


def test_the_cookie_the_airflow_ui_sets_is_accepted(client: TestClient, sky_run: SkyRun, token: str) -> None:
    client.cookies.set("_token", token)
    try:
        response = client.get(_plan_path(sky_run, "launch"))
    finally:
        client.cookies.clear()
    assert response.status_code == 200
    assert _pictures(response.text) == ["candidates"]


def test_a_launch_page_lists_every_failover_attempt(client: TestClient, sky_run: SkyRun, token: str) -> None:
    attempts = sky_run.xcom("launch", "sky_view")["attempts"]
    response = client.get(_plan_path(sky_run, "launch"), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.text.count('<tr class="attempt">') == len(attempts) >= 3
    assert "local zone local-a1 has capacity for 0 VMs" in response.text
    assert 'data-sky-state="failed"' in response.text  # the page says the task failed, not that it runs


def test_a_planner_hook_task_shows_its_route_and_frontier(client: TestClient, sky_run: SkyRun, token: str) -> None:
    response = client.get(_plan_path(sky_run, "plan"), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert _pictures(response.text) == ["route", "pareto"]


def test_the_tab_placeholder_of_an_unmapped_task_reads_as_no_map_index(
    client: TestClient, sky_run: SkyRun, token: str
) -> None:
    response = client.get(_plan_path(sky_run, "copy", "{MAP_INDEX}"), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert "route" in _pictures(response.text)


def test_an_unknown_task_gets_a_404_page(client: TestClient, sky_run: SkyRun, token: str) -> None:
    response = client.get(_plan_path(sky_run, "no_such_task"), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert "No Sky plan for this task" in response.text
    assert 'data-sky-missing="task"' in response.text


@pytest.mark.parametrize("task_id", ["copy", "launch"])
def test_the_sky_plan_extra_link_opens_the_plan_view(
    client: TestClient, sky_run: SkyRun, token: str, task_id: str
) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    links = client.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(sky_run.run_id)}/taskInstances/{task_id}/links",
                       headers=auth)  # fmt: skip
    assert links.status_code == 200, links.text
    url = links.json()["extra_links"]["Sky plan"]
    assert url == SkyPlanLink.url_for(DAG_ID, sky_run.run_id, task_id)
    assert url.startswith(f"/sky/plan?dag_id={DAG_ID}&run_id=")
    assert client.get(url, headers=auth).status_code == 200
    assert client.get(url).status_code == 401


def test_the_plugin_mounts_the_app_and_adds_a_task_instance_tab(client: TestClient, token: str) -> None:
    response = client.get("/api/v2/plugins", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    plugin = next(p for p in response.json()["plugins"] if p["name"] == "sky_plan")
    assert [app["url_prefix"] for app in plugin["fastapi_apps"]] == ["/sky"]
    (tab,) = plugin["external_views"]
    assert tab["destination"] == "task_instance"
    assert tab["name"] == "Sky plan"
    assert tab["href"].startswith("/sky/plan?dag_id={DAG_ID}&run_id={RUN_ID}&task_id={TASK_ID}")
