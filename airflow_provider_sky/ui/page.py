"""HTML pages of the plan view, rendered from package templates (Jinja2, autoescaped).

The pictures are inserted as markup: ``render`` escapes every name and number it writes, and
everything else (region names, error texts from XCom) goes through Jinja2's escaping.
"""

from __future__ import annotations

from functools import cache

import jinja2
from markupsafe import Markup

from airflow_provider_sky.ui.view_model import PlanView


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("airflow_provider_sky.ui", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def identity(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    mapped = f" [{map_index}]" if map_index >= 0 else ""
    return f"{dag_id} / {run_id} / {task_id}{mapped}"


def plan_page(
    view: PlanView, dag_id: str, run_id: str, task_id: str, map_index: int = -1, state: str | None = None
) -> str:
    """The page of one task instance's plan; ``state`` is the task instance's (e.g. "deferred")."""
    pictures = {name: Markup(svg) for name, svg in view.pictures().items()}  # already escaped by render
    return _environment().get_template("plan.html").render(
        view=view, plan=view.plan, pictures=pictures, ran=view.gateways_ran() or {}, task_id=task_id, state=state,
        ident=identity(dag_id, run_id, task_id, map_index),
    )  # fmt: skip


def not_found_page(dag_id: str, run_id: str, task_id: str, map_index: int, reason_code: str, reason: str) -> str:
    """The 404 page: which task was asked for and why there is nothing to draw."""
    return _environment().get_template("not_found.html").render(
        ident=identity(dag_id, run_id, task_id, map_index), reason_code=reason_code, reason=reason
    )
