"""What a user sees in Airflow's UI while the example DAGs run on a real scheduler and triggerer.

The DAGs (round trip over the emulators, launch on the local cloud, overlay on the triangle
testbed) are triggered through the REST API as a user's "Trigger" button does, then a headless
Chromium, logged in through the sign-in form, watches them: the launch task is *deferred* while
its job runs, every run succeeds, the transfer's log shows progress lines, and the "Sky plan"
extra link opens the plan view with its picture (the overlay's route, the launch's candidates).
Screenshots land in test-output/ui_browser/.

The tests share one stack and run in file order: the first triggers the runs and must watch the
launch task while it is still deferred.
"""

from __future__ import annotations

import importlib.util
import re
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import Site, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.emulators, pytest.mark.sshd, pytest.mark.timeout(240)]

TRANSFER_DAG, LAUNCH_DAG, OVERLAY_DAG = "example_sky_transfer", "example_sky_launch", "example_sky_overlay"
TRANSFER_TASKS = ("local_to_s3", "s3_to_gcs", "gcs_to_azure", "azure_to_local")
PLUGIN_MISSING = importlib.util.find_spec("airflow_provider_sky.ui") is None


@dataclass
class Runs:
    transfer: str
    launch: str
    overlay: str

    def of(self, dag_id: str) -> str:
        return {TRANSFER_DAG: self.transfer, LAUNCH_DAG: self.launch, OVERLAY_DAG: self.overlay}[dag_id]


@pytest.fixture(scope="module")
def runs(site: Site) -> Runs:
    """The three example DAGs triggered at once; their runs are still going when this returns."""
    launch = site.stack.trigger(LAUNCH_DAG)  # first: the next test watches it
    return Runs(transfer=site.stack.trigger(TRANSFER_DAG), launch=launch, overlay=site.stack.trigger(OVERLAY_DAG))


@pytest.fixture(scope="module")
def finished(site: Site, runs: Runs) -> Iterator[Runs]:
    """The same runs, once all have ended (success or failed)."""
    for dag_id in (TRANSFER_DAG, LAUNCH_DAG, OVERLAY_DAG):
        site.stack.wait_for_run(dag_id, runs.of(dag_id), timeout=150)
    yield runs


def _retried(site: Site, dag_id: str, run_id: str) -> list[str]:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances"
    answer = site.stack.request("GET", path)
    return [ti["task_id"] for ti in answer["task_instances"] if ti["try_number"] > 1]


def _failure_report(site: Site, dag_id: str, run_id: str) -> str:
    """Task states, and the log tail of every failed task: what a red run needs to be understood."""
    states = site.stack.task_states(dag_id, run_id)
    tails = [f"--- {task}:\n{site.stack.task_log(dag_id, run_id, task)[-1500:]}" for task, state in states.items()
             if state == "failed"]  # fmt: skip
    return f"{dag_id}: {states}\n" + "\n".join(tails)


def _states_fetched(responses: list[Any]) -> list[str]:
    """The task states in the task-instance answers the page received (read after the fact: a
    response body must not be read inside Playwright's event callback)."""
    states = []
    for response in responses:
        try:
            states.append(str(response.json().get("state")) if response.ok else f"HTTP {response.status}")
        except Exception as exc:  # a body no longer available: say so rather than hide the rest
            states.append(f"unreadable ({type(exc).__name__})")
    return states


def task_url(site: Site, dag_id: str, run_id: str, task_id: str) -> str:
    return f"{site.url}/dags/{dag_id}/runs/{urllib.parse.quote(run_id, safe='')}/tasks/{task_id}"


def test_launch_task_is_shown_deferred_while_its_job_runs(site: Site, runs: Runs, page: Any) -> None:
    from playwright.sync_api import expect

    # Opened before the scheduler has made the task instance, the page says "No Task Instance
    # found" and stops asking; a user opens it from the grid, where the task already exists.
    site.stack.wait_for_task(LAUNCH_DAG, runs.launch, "train")
    answers: list[Any] = []  # the page's own task-instance fetches, for the failure message

    def keep(response: Any) -> None:
        if "/taskInstances/train/-1" in response.url:
            answers.append(response)

    page.on("response", keep)
    page.goto(task_url(site, LAUNCH_DAG, runs.launch, "train"))
    expect(page.get_by_role("heading", name=re.compile(r"^\s*train\b"))).to_be_visible()

    # the page refreshes itself every second while the task is active; the test never reloads it
    try:
        expect(page.get_by_text("Deferred", exact=True).first).to_be_visible(timeout=90_000)
    except AssertionError as exc:
        raise AssertionError(f"never shown deferred; the page fetched the states {_states_fetched(answers)}") from exc
    screenshot(page, "launch-train-deferred")


def test_every_example_run_succeeds(site: Site, finished: Runs, page: Any) -> None:
    from playwright.sync_api import expect

    for dag_id in (TRANSFER_DAG, LAUNCH_DAG, OVERLAY_DAG):
        run_id = finished.of(dag_id)
        assert site.stack.run_state(dag_id, run_id) == "success", _failure_report(site, dag_id, run_id)
    assert set(site.stack.task_states(TRANSFER_DAG, finished.transfer).values()) == {"success"}
    assert site.stack.task_states(LAUNCH_DAG, finished.launch) == {"train": "success", "report": "success"}
    dags = (TRANSFER_DAG, LAUNCH_DAG, OVERLAY_DAG)
    retried = {dag_id: tasks for dag_id in dags if (tasks := _retried(site, dag_id, finished.of(dag_id)))}
    if retried:  # the run still passed; say so, as it may be Airflow's resume race again
        warnings.warn(f"tasks needed a retry (apache/airflow#72716?): {retried}", stacklevel=1)
    moved = {p.name: p.read_bytes() for p in site.overlay_destination.iterdir()}
    assert moved == site.overlay_expected, "the overlay run's destination differs from its source"

    page.goto(f"{site.url}/dags/{TRANSFER_DAG}/runs/{urllib.parse.quote(finished.transfer, safe='')}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    screenshot(page, "transfer-run-success")


def test_transfer_log_shows_progress_lines(site: Site, finished: Runs, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(task_url(site, TRANSFER_DAG, finished.transfer, "s3_to_gcs"))
    final = page.get_by_text(re.compile(r"Progress gs://sky-demo/dataset/: 10\.1 MiB / 10\.1 MiB \(100%\)"))
    expect(final.first).to_be_visible()
    expect(page.get_by_text(re.compile(r"Transfer summary: .*'checksums_verified': 42")).first).to_be_visible()
    screenshot(page, "transfer-s3_to_gcs-log")

    api_log = site.stack.task_log(TRANSFER_DAG, finished.transfer, "s3_to_gcs")
    assert re.search(r"Progress gs://sky-demo/dataset/: .*objects 42/42", api_log), api_log[-2000:]


# ------------------------------------------------------------------------------ the plan view (ui plugin)

plan_view = pytest.mark.skipif(PLUGIN_MISSING, reason="the UI plugin (airflow_provider_sky.ui) is not in this tree")


@plan_view
def test_plan_view_refuses_unauthenticated_requests(site: Site, finished: Runs) -> None:
    query = urllib.parse.urlencode(
        {"dag_id": OVERLAY_DAG, "run_id": finished.overlay, "task_id": "copy_shards", "map_index": -1}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{site.url}/sky/plan?{query}", timeout=30)
    assert refused.value.code in (401, 403), f"the UI plugin's /sky/plan answered {refused.value.code}"


@plan_view
@pytest.mark.parametrize(
    ("dag_id", "task_id", "picture"),
    [(OVERLAY_DAG, "copy_shards", "route"), (LAUNCH_DAG, "train", "candidates")],
)
def test_sky_plan_link_opens_the_plan_view_with_a_picture(
    site: Site, finished: Runs, page: Any, dag_id: str, task_id: str, picture: str
) -> None:
    from playwright.sync_api import expect

    page.goto(task_url(site, dag_id, finished.of(dag_id), task_id))
    page.get_by_role("link", name="Details", exact=True).click()  # extra links live in the Details tab
    link = page.locator('a[href*="/sky/plan?"]', has_text="Sky plan")
    expect(link, "the task's Details show no 'Sky plan' extra link (the UI plugin is installed)").to_be_visible()

    with page.expect_navigation():
        link.click()  # a same-origin link: the UI opens it in this tab
    assert "/sky/plan?" in page.url, f"the 'Sky plan' link led to {page.url}"
    svg = page.locator(f'svg[data-sky-picture="{picture}"]')
    expect(svg.first, f"the plan view shows no {picture} picture").to_be_visible()
    box = svg.first.bounding_box()
    assert box is not None and box["width"] > 50 and box["height"] > 50, f"the {picture} picture is {box}"
    screenshot(page, f"plan-view-{dag_id}-{task_id}")
