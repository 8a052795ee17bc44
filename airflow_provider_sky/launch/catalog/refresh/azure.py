"""Azure prices from the Retail Prices API (prices.azure.com, no credentials needed).

Each item prices one meter: ``armSkuName`` is the VM size, ``skuName`` ends in " Spot" or
" Low Priority" for those offers, and Windows meters carry "Windows" in ``productName``. The API
has no vCPU/memory/GPU shape, so shapes come from the packaged Azure catalog (sizes unknown there
are skipped and counted). Azure rows have no zone: Azure places a regional request itself.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

API_NAME = "the Azure Retail Prices API (prices.azure.com/api/retail/prices)"
PRICES_URL = "https://prices.azure.com/api/retail/prices"
API_VERSION = "2023-01-01-preview"


def fetch_pages(
    regions: Sequence[str] | None = None, get_json: Callable[[str], dict[str, Any]] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield pages of VM consumption prices, following ``NextPageLink``."""
    get_json = get_json or _http_get_json
    odata = "serviceName eq 'Virtual Machines' and priceType eq 'Consumption'"
    if regions:
        odata += " and (" + " or ".join(f"armRegionName eq '{r}'" for r in regions) + ")"
    url: str | None = f"{PRICES_URL}?{urllib.parse.urlencode({'api-version': API_VERSION, '$filter': odata})}"
    while url:
        page = get_json(url)
        yield page
        url = page.get("NextPageLink") or None


def _http_get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return json.loads(resp.read())


def rows_from_pages(pages: Iterable[dict[str, Any]], shapes: Any = None) -> list[dict[str, Any]]:
    """One v8 row per (VM size, region) with on-demand and spot prices where offered."""
    on_demand: dict[tuple[str, str], float] = {}
    spot: dict[tuple[str, str], float] = {}
    for page in pages:
        for item in page.get("Items", []):
            if item.get("type") != "Consumption" or item.get("serviceName") != "Virtual Machines":
                continue
            if "Windows" in item.get("productName", "") or item.get("unitOfMeasure") != "1 Hour":
                continue
            sku_name, size, region = (
                item.get("skuName", ""),
                item.get("armSkuName"),
                item.get("armRegionName"),
            )
            price = float(item.get("retailPrice") or 0)
            if not size or not region or price <= 0 or sku_name.endswith("Low Priority"):
                continue
            target = spot if sku_name.endswith(" Spot") else on_demand
            key = (size, region)
            target[key] = min(price, target.get(key, price))
    shapes = shapes if shapes is not None else packaged_shapes()
    rows = []
    for (size, region), price in sorted(on_demand.items()):
        shape = shapes.get(size)
        if shape is None:
            continue
        vcpus, memory, accel, count = shape
        rows.append(
            {
                "InstanceType": size,
                "AcceleratorName": accel,
                "AcceleratorCount": count,
                "vCPUs": vcpus,
                "MemoryGiB": memory,
                "Price": price,
                "SpotPrice": spot.get((size, region), ""),
                "Region": region,
                "AvailabilityZone": "",
            }
        )
    return rows


def packaged_shapes() -> dict[str, tuple[float, float, str, Any]]:
    """VM size -> (vCPUs, GiB, accelerator, count) from the packaged Azure catalog."""
    from airflow_provider_sky.launch.catalog.sources import load_file, packaged_dir

    cat = load_file("azure", packaged_dir() / "v8" / "azure" / "vms.csv.gz", "packaged")
    out: dict[str, tuple[float, float, str, Any]] = {}
    for i in range(len(cat)):
        size = cat.itype_names[cat.itype[i]]
        if size not in out:
            accel = cat.accel_names[cat.accel[i]] if cat.accel[i] >= 0 else ""
            out[size] = (
                float(cat.vcpus[i]),
                float(cat.memory[i]),
                accel,
                float(cat.accel_count[i]) if accel else "",
            )
    return out
