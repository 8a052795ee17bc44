"""The plan view: an Airflow 3 plugin (FastAPI app under ``/sky`` behind Airflow's authentication)
that draws a Sky task's plan from its XCom. See docs/ui.md.

``view_model`` and ``page`` import no Airflow; ``app`` and ``plugin`` are the Airflow face.
"""
