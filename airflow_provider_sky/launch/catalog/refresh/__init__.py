"""Build a v8 ``vms.csv`` from a cloud's own public price API (``airflow-sky catalog refresh``).

Why: the packaged catalogs are a frozen copy (AWS only a sample); refreshing gives users today's
prices in the schema the optimizer already reads. Each cloud module splits the work in two so it
can be tested on recorded responses: ``fetch_pages`` does the HTTP/boto3 paging, and
``rows_from_pages`` turns pages into v8 rows with no network at all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch.catalog.schema import write_rows


def refresh_cloud(
    cloud: str,
    root: Path,
    regions: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> tuple[Path, int]:
    """Fetch ``cloud``'s prices and write ``<root>/<cloud>/vms.csv``; returns (path, rows)."""
    if cloud not in ("aws", "gcp", "azure"):
        raise SkyUserError(f"Cannot refresh prices for {cloud!r}", "use --cloud aws, gcp or azure")
    module = importlib.import_module(f"airflow_provider_sky.launch.catalog.refresh.{cloud}")
    log(f"fetching {cloud} prices from {module.API_NAME} ...")
    pages = list(module.fetch_pages(regions=regions))
    rows = module.rows_from_pages(pages)
    if cloud == "aws" and regions:  # spot prices per zone need EC2 calls per region: only when asked
        types = sorted({r["InstanceType"] for r in rows})
        try:
            rows = module.rows_from_pages(pages, spot=module.spot_prices(regions, types))
        except Exception as exc:  # no EC2 permission: keep on-demand prices, say so
            log(f"spot prices skipped ({type(exc).__name__}: {exc})")
    if regions:
        rows = [r for r in rows if r["Region"] in set(regions)]
    if not rows:
        raise SkyUserError(
            f"The {cloud} price API returned no usable VM price",
            "check credentials/network, or the --region names",
        )
    path = root / cloud / "vms.csv"
    count = write_rows(path, rows)
    return path, count
