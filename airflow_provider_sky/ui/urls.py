"""Where the plan view lives: one place for the prefix, the page URL and the UI tab's template.

The plugin's app is mounted by Airflow's API server at ``URL_PREFIX``, under the API's own base
path (``[api] base_url``, "/" by default), so links are relative to the server: they work behind
a proxy and in the iframe of the task-instance tab alike.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

URL_PREFIX = "/sky"
PLAN_ROUTE = "/plan"
# The UI replaces these placeholders for an external view on the task-instance page; {MAP_INDEX}
# stays literal when the task is not mapped, so the page reads a non-number as -1.
TAB_HREF = PLAN_ROUTE + "?dag_id={DAG_ID}&run_id={RUN_ID}&task_id={TASK_ID}&map_index={MAP_INDEX}"


def root_path(base_url: str | None) -> str:
    """The API's base path from ``[api] base_url`` ("" or "/" -> "/"), always ending in "/"."""
    path = urlsplit(base_url or "").path or "/"
    return path if path.endswith("/") else path + "/"


def plan_url(dag_id: str, run_id: str, task_id: str, map_index: int = -1, base_url: str | None = None) -> str:
    """The plan page of one task instance, e.g. ``/sky/plan?dag_id=...&run_id=...&task_id=...&map_index=-1``."""
    query = urlencode({"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": map_index})
    return f"{root_path(base_url)}{URL_PREFIX.strip('/')}{PLAN_ROUTE}?{query}"


def tab_href(base_url: str | None = None) -> str:
    return f"{root_path(base_url)}{URL_PREFIX.strip('/')}{TAB_HREF}"
