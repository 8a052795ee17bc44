"""Provider metadata read by Airflow through the `apache_airflow_provider` entry point."""

from __future__ import annotations

from typing import Any

PACKAGE = "airflow_provider_sky"
VERSION = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-sky",
        "name": "Sky Computing",
        "description": (
            "Cost-planned transfers between S3, GCS, Azure Blob and local storage, and batch tasks "
            "launched on the cheapest cloud, region and instance with failover."
        ),
        "versions": [VERSION],
        "integrations": [
            {
                "integration-name": "Sky Computing",
                "external-doc-url": "https://github.com/skyplane-project/skyplane",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": "Sky Computing",
                "python-modules": [f"{PACKAGE}.operators.transfer", f"{PACKAGE}.operators.launch"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Sky Computing",
                "python-modules": [f"{PACKAGE}.hooks.transfer", f"{PACKAGE}.hooks.planner"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Sky Computing",
                "python-modules": [f"{PACKAGE}.triggers.launch", f"{PACKAGE}.triggers.transfer"],
            }
        ],
        "extra-links": [f"{PACKAGE}.links.storage.SkyDestinationLink", f"{PACKAGE}.links.plan.SkyPlanLink"],
        "connection-types": [
            {
                "hook-class-name": f"{PACKAGE}.hooks.planner.SkyPlannerHook",
                "hook-name": "Sky Computing (planner defaults)",
                "connection-type": "sky",
                "conn-fields": {
                    "grid_path": {
                        "label": "Grid: a packaged grid name or a sky-grid JSON file (optional)",
                        "schema": {"type": ["string", "null"]},
                        "description": "A measured grid or a testbed profile; defaults to the packaged 2022 "
                        "Skyplane measurements (skyplane-2022-01).",
                    },
                    "deny_regions": {
                        "label": "Denied regions (comma-separated globs)",
                        "schema": {"type": ["string", "null"]},
                        "description": "Data never transits these, e.g. aws:us-*,azure:*",
                    },
                    "allow_regions": {
                        "label": "Allowed relay regions (comma-separated globs)",
                        "schema": {"type": ["string", "null"]},
                        "description": "Relays may only be placed here, e.g. gcp:europe-*,aws:eu-*; empty: "
                        "every region of the grid not denied above.",
                    },
                    "max_instances_per_region": {
                        "label": "Max gateway VMs per region",
                        "schema": {"type": ["integer", "null"], "default": 8},
                        "description": "The most gateway VMs the planner may put in one region (your VM quota "
                        "there); an operator's max_instances_per_region= overrides it.",
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "schema", "login", "password", "port", "extra"],
                    "relabeling": {},
                    "placeholders": {},
                },
            }
        ],
    }
