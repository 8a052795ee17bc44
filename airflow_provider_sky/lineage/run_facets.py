"""The provider's own OpenLineage run facets: what a transfer or launch measured and chose.

Imported only by :mod:`airflow_provider_sky.lineage.facets` when lineage is built, because it
imports the OpenLineage client. Fields are camelCase, as OpenLineage spells them, and hold
small numbers and names (regions, instance types, outcomes): never a credential, a key listing
or a log.
"""

from __future__ import annotations

import attr
from openlineage.client.facet_v2 import RunFacet

SCHEMA_BASE = "https://pypi.org/project/airflow-provider-sky/#lineage"


@attr.define
class SkyTransferRunFacet(RunFacet):
    """Totals of one copy or sync, and the planner's route when the overlay ran or was planned."""

    mode: str
    objects: int
    bytes: int
    skipped: int = 0
    deleted: int = 0
    seconds: float = 0.0
    dryRun: bool = False
    overlayUsed: bool = False
    overlayReason: str = ""
    regions: list[str] = attr.field(factory=list)
    predictedThroughputGbps: float | None = None
    measuredThroughputGbps: float | None = None
    predictedCostUsd: float | None = None
    measuredCostUsd: float | None = None

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}-skytransfer"


@attr.define
class SkyLaunchRunFacet(RunFacet):
    """Where a launched task ran, what it cost, and every provisioning attempt before that."""

    cloud: str
    region: str
    zone: str | None
    instanceType: str
    useSpot: bool
    numNodes: int
    exitCode: int | None
    seconds: float
    costEstimateUsd: float
    restarts: int = 0
    attempts: list[dict[str, str]] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}-skylaunch"
