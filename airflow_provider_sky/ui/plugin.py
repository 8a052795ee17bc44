"""The Airflow plugin: the plan view's app at ``/sky`` and a "Sky plan" tab on task instances.

Registered through the ``airflow.plugins`` entry point (pyproject.toml), not the provider's
``plugins`` list: providers' plugins load only when ``[core] lazy_discover_providers`` is off,
and listing it in both places would register it twice.

Every Airflow component loads plugins (workers too), so the FastAPI app is built only when the API
server first asks for ``fastapi_apps``: a task process never pays for importing FastAPI.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

from airflow_provider_sky.ui.urls import URL_PREFIX, tab_href


@cache
def _apps() -> list[dict[str, Any]]:
    from airflow_provider_sky.ui.app import create_app

    return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Sky plan view"}]


class SkyPlanPlugin(AirflowPlugin):
    """Shows a Sky task's route, frontier and launch attempts from its XCom."""

    name = "sky_plan"
    external_views = [
        {
            "name": "Sky plan",
            "href": tab_href(conf.get("api", "base_url", fallback="")),
            "destination": "task_instance",
            "url_route": "sky_plan",
        }
    ]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]  # built on first use (see above)
        return _apps()
