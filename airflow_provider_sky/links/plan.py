"""Extra link "Sky plan": opens the plan view (``/sky/plan``) of this task instance.

Like every Airflow 3 extra link, the URL is read from XCom by the API server, so the operator
persists it when it starts (``persist``): the button is there while a transfer is still
deferred, and a launch whose every candidate failed still links to its attempts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.sdk import BaseOperatorLink
from airflow.sdk.execution_time.xcom import XCom

from airflow_provider_sky.ui.urls import plan_url

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


class SkyPlanLink(BaseOperatorLink):
    """"Sky plan": the route, frontier and launch attempts of a SkyTransferOperator or SkyLaunchOperator."""

    name = "Sky plan"

    @staticmethod
    def url_for(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
        return plan_url(dag_id, run_id, task_id, map_index, conf.get("api", "base_url", fallback=""))

    @classmethod
    def persist(cls, context: Any) -> None:
        ti = context["ti"]
        url = cls.url_for(ti.dag_id, ti.run_id, ti.task_id, ti.map_index if ti.map_index is not None else -1)
        ti.xcom_push(key=cls().xcom_key, value=url)

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return XCom.get_value(key=self.xcom_key, ti_key=ti_key) or ""
