"""What a user sees in Airflow's UI while the example DAGs run on a real scheduler and triggerer.

The DAGs are triggered through the REST API as a user's "Trigger" button does, then a headless
Chromium, logged in through the sign-in form, watches them: the launch task is *deferred* while
its job runs, every run succeeds, the transfer's log shows progress lines, and the "Sky plan"
extra link opens the plan view with its picture. Screenshots land in test-output/ui_browser/.

The tests share one stack and run in file order: the first triggers the runs and must watch the
launch task while it is still deferred.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import Site, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.emulators, pytest.mark.sshd, pytest.mark.timeout(240)]

TRANSFER_DAG, LAUNCH_DAG = "example_sky_transfer", "example_sky_launch"
TRANSFER_TASKS = ("local_to_s3", "s3_to_gcs", "gcs_to_azure", "azure_to_local")
PLUGIN_MISSING = importlib.util.find_spec("airflow_provider_sky.ui") is None


@dataclass
class Runs:
    transfer: str
    launch: str


@pytest.fixture(scope="module")
def runs(site: Site) -> Runs:
    """Both example DAGs triggered at once; their runs are still going when this returns."""
    return Runs(transfer=site.stack.trigger(TRANSFER_DAG), launch=site.stack.trigger(LAUNCH_DAG))


@pytest.fixture(scope="module")
def finished(site: Site, runs: Runs) -> Iterator[Runs]:
    """The same runs, once both have ended (success or failed)."""
    site.stack.wait_for_run(TRANSFER_DAG, runs.transfer, timeout=150)
    site.stack.wait_for_run(LAUNCH_DAG, runs.launch, timeout=150)
    yield runs


def _note_state(response: Any, path: str, into: list[str]) -> None:
    if path in response.url and response.ok:
        with contextlib.suppress(Exception):  # a body still streaming or not JSON: nothing to note
            into.append(str(response.json().get("state")))


def task_url(site: Site, dag_id: str, run_id: str, task_id: str) -> str:
    return f"{site.url}/dags/{dag_id}/runs/{urllib.parse.quote(run_id, safe='')}/tasks/{task_id}"


def test_launch_task_is_shown_deferred_while_its_job_runs(site: Site, runs: Runs, page: Any) -> None:
    from playwright.sync_api import expect

    fetched: list[str] = []  # the states the page itself fetched, for the failure message
    page.on("response", lambda response: _note_state(response, "/taskInstances/train/", fetched))
    page.goto(task_url(site, LAUNCH_DAG, runs.launch, "train"))
    header = page.get_by_role("heading", name=re.compile(r"^\s*train\b"))
    expect(header).to_be_visible()

    # the page refreshes itself every second while the task is active; the test never reloads it
    badge = page.get_by_text("Deferred", exact=True).first
    expect(badge, f"never shown deferred; the page fetched the states {fetched}").to_be_visible(timeout=90_000)
    screenshot(page, "launch-train-deferred")


def test_both_example_runs_succeed(site: Site, finished: Runs, page: Any) -> None:
    from playwright.sync_api import expect

    assert site.stack.run_state(TRANSFER_DAG, finished.transfer) == "success", site.stack.task_states(
        TRANSFER_DAG, finished.transfer
    )
    assert site.stack.run_state(LAUNCH_DAG, finished.launch) == "success", site.stack.task_states(
        LAUNCH_DAG, finished.launch
    )
    assert set(site.stack.task_states(TRANSFER_DAG, finished.transfer).values()) == {"success"}
    assert site.stack.task_states(LAUNCH_DAG, finished.launch) == {"train": "success", "report": "success"}

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
        {"dag_id": TRANSFER_DAG, "run_id": finished.transfer, "task_id": "s3_to_gcs", "map_index": -1}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{site.url}/sky/plan?{query}", timeout=30)
    assert refused.value.code in (401, 403), f"the UI plugin's /sky/plan answered {refused.value.code}"


@plan_view
@pytest.mark.parametrize(
    ("dag_id", "task_id", "picture"),
    [(TRANSFER_DAG, "s3_to_gcs", "route"), (LAUNCH_DAG, "train", "candidates")],
)
def test_sky_plan_link_opens_the_plan_view_with_a_picture(
    site: Site, finished: Runs, browser: Any, page: Any, dag_id: str, task_id: str, picture: str
) -> None:
    from playwright.sync_api import expect

    run_id = finished.transfer if dag_id == TRANSFER_DAG else finished.launch
    page.goto(task_url(site, dag_id, run_id, task_id))
    link = page.get_by_role("link", name="Sky plan").or_(page.get_by_role("button", name="Sky plan"))
    expect(link.first, "the task shows no 'Sky plan' extra link (UI plugin present)").to_be_visible()

    plan = _follow(browser, page, link.first)
    assert "/sky/plan" in plan.url, f"the 'Sky plan' link led to {plan.url}"
    svg = plan.locator(f'svg[data-sky-picture="{picture}"]')
    expect(svg.first, f"the plan view shows no {picture} picture").to_be_visible()
    assert svg.first.bounding_box()["width"] > 50
    screenshot(plan, f"plan-view-{dag_id}-{task_id}")
    if plan is not page:
        plan.close()


def _follow(browser: Any, page: Any, link: Any) -> Any:
    """Click an extra link; it may open in a new tab (target=_blank) or in this one."""
    opened: list[Any] = []
    browser.on("page", opened.append)
    link.click()
    page.wait_for_timeout(500)
    browser.remove_listener("page", opened.append)
    target = opened[0] if opened else page
    target.wait_for_load_state()
    return target
