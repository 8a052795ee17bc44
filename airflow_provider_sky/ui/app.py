"""The plan view's FastAPI app, mounted by Airflow's API server at ``/sky`` (see ``plugin``).

Plugin apps get no authentication from Airflow by default, so every route here depends on
Airflow's own security dependency: the caller must present a valid Airflow JWT (the UI's
``_token`` cookie, or ``Authorization: Bearer`` from ``/auth/token``) and be allowed to read the
DAG's XComs. A request without one gets 401, a bad or expired token 401/403, and a user who may
not read the DAG 403, exactly as for Airflow's own XCom endpoint. The page reads the XCom rows
directly from the metadata database, as the API's XCom endpoint does; it needs no cloud access.
"""

from __future__ import annotations

from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from fastapi import Depends, FastAPI, Query
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from airflow_provider_sky.ui.page import not_found_page, plan_page
from airflow_provider_sky.ui.urls import PLAN_ROUTE
from airflow_provider_sky.ui.view_model import VIEW_XCOM_KEY, build_view

RETURN_KEY = "return_value"


def _map_index(value: str) -> int:
    """The tab's ``{MAP_INDEX}`` placeholder stays literal for a task that is not mapped: -1."""
    try:
        return max(-1, int(value))
    except ValueError:
        return -1


def _xcom(session: Any, dag_id: str, run_id: str, task_id: str, map_index: int, key: str) -> Any:
    query = XComModel.get_many(run_id=run_id, key=key, task_ids=task_id, dag_ids=dag_id, map_indexes=map_index,
                               limit=1)  # fmt: skip
    row = session.scalars(query).first()
    return None if row is None else XComModel.deserialize_value(row)


def _task_state(session: Any, dag_id: str, run_id: str, task_id: str, map_index: int) -> str | None:
    """The task instance's state ("none" before it is scheduled), or None when there is no such one."""
    found = session.execute(
        select(TaskInstance.state).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id,
            TaskInstance.map_index == map_index,
        )
    ).first()  # fmt: skip
    return None if found is None else str(found[0] or "none")


def create_app() -> FastAPI:
    """A new app with the plan page (no OpenAPI pages: the page is for people, not clients)."""
    app = FastAPI(title="Sky plan view", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get(
        PLAN_ROUTE,
        response_class=HTMLResponse,
        dependencies=[Depends(requires_access_dag("GET", DagAccessEntity.XCOM))],
    )
    def plan(
        session: SessionDep,
        dag_id: Annotated[str, Query(min_length=1)],
        run_id: Annotated[str, Query(min_length=1)],
        task_id: Annotated[str, Query(min_length=1)],
        map_index: str = "-1",
    ) -> HTMLResponse:
        index = _map_index(map_index)
        state = _task_state(session, dag_id, run_id, task_id, index)
        if state is None:
            page = not_found_page(dag_id, run_id, task_id, index, "task", "There is no such task instance.")
            return HTMLResponse(page, status_code=404)
        result = _xcom(session, dag_id, run_id, task_id, index, RETURN_KEY)
        extra = _xcom(session, dag_id, run_id, task_id, index, VIEW_XCOM_KEY)
        view = build_view(result, extra)
        if view is None:
            page = not_found_page(dag_id, run_id, task_id, index, "plan",
                                  "This task instance has pushed no Sky plan (yet).")  # fmt: skip
            return HTMLResponse(page, status_code=404)
        return HTMLResponse(plan_page(view, dag_id, run_id, task_id, index, state))

    return app
