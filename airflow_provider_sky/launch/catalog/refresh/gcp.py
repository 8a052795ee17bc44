"""GCP prices from the Cloud Billing Catalog API (Compute Engine, service 6F81-5844-456A).

The billing catalog prices resources, not machine types: a vCPU-hour and a GiB-hour of RAM per
machine family and region, and each GPU model per region. A machine type's price is
``vCPUs x core price + GiB x RAM price`` of its family, and GPUs stay in rows of their own with an
empty InstanceType, exactly as in SkyPilot's GCP catalog (the optimizer joins them per zone).
Machine shapes (vCPUs, GiB) and zones are not in the billing API; they come from the packaged
GCP catalog, so a brand-new type appears only once the packaged copy knows its shape.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

API_NAME = "the Cloud Billing Catalog API (services/6F81-5844-456A/skus)"
SKUS_URL = "https://cloudbilling.googleapis.com/v1/services/6F81-5844-456A/skus"
_RESOURCE = re.compile(
    r"^(?P<spot>Spot Preemptible |Preemptible )?(?P<family>[A-Z][A-Z0-9]*)(?: AMD| Arm)?(?: Predefined)?"
    r" Instance (?P<kind>Core|Ram) running in"
)
_GPU = re.compile(r"^(?P<spot>Spot Preemptible |Preemptible )?Nvidia (?P<model>.+?) GPU running in")
GPU_NAMES = {
    "Tesla T4": "T4",
    "Tesla V100": "V100",
    "Tesla P100": "P100",
    "Tesla P4": "P4",
    "Tesla K80": "K80",
    "Tesla A100": "A100",
    "A100 80GB": "A100-80GB",
    "L4": "L4",
    "H100 80GB": "H100",
}
GPU_COUNTS = {
    "T4": (1, 2, 4),
    "V100": (1, 2, 4, 8),
    "P100": (1, 2, 4),
    "P4": (1, 2, 4),
    "K80": (1, 2, 4, 8),
    "A100": (1, 2, 4, 8, 16),
    "A100-80GB": (1, 2, 4, 8),
    "L4": (1, 2, 4, 8),
    "H100": (1, 2, 4, 8),
}


def fetch_pages(
    regions: Sequence[str] | None = None, get_json: Callable[[str], dict[str, Any]] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield SKU pages, following ``nextPageToken``. Needs an API key in ``GOOGLE_API_KEY``."""
    key = os.environ.get("GOOGLE_API_KEY", "")
    get_json = get_json or _http_get_json
    token = ""
    while True:
        query = {"pageSize": "5000", "currencyCode": "USD"}
        if key:
            query["key"] = key
        if token:
            query["pageToken"] = token
        page = get_json(f"{SKUS_URL}?{urllib.parse.urlencode(query)}")
        yield page
        token = page.get("nextPageToken") or ""
        if not token:
            break


def _http_get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return json.loads(resp.read())


def unit_price(sku: dict[str, Any]) -> float | None:
    """USD per usage unit from the first tier with a non-zero price (nanos are 1e-9 USD)."""
    for info in sku.get("pricingInfo", []):
        for rate in info.get("pricingExpression", {}).get("tieredRates", []):
            money = rate.get("unitPrice", {})
            value = int(money.get("units", 0) or 0) + int(money.get("nanos", 0) or 0) / 1e9
            if value > 0:
                return value
    return None


def rows_from_pages(pages: Iterable[dict[str, Any]], shapes: Any = None) -> list[dict[str, Any]]:
    """v8 rows: one per (machine type, zone) priced from family rates, plus GPU rows per zone."""
    rates: dict[tuple[str, str, str, bool], float] = {}  # (family, kind, region, spot) -> $/unit
    gpus: dict[tuple[str, str, bool], float] = {}  # (gpu, region, spot) -> $/h
    for page in pages:
        for sku in page.get("skus", []):
            cat = sku.get("category", {})
            if cat.get("usageType") not in ("OnDemand", "Preemptible"):
                continue
            price = unit_price(sku)
            if price is None:
                continue
            spot = cat.get("usageType") == "Preemptible"
            desc = sku.get("description", "")
            res, gpu = _RESOURCE.match(desc), _GPU.match(desc)
            for region in sku.get("serviceRegions", []):
                if res:
                    rates[(res["family"].lower(), res["kind"], region, spot)] = price
                elif gpu and gpu["model"] in GPU_NAMES:
                    gpus[(GPU_NAMES[gpu["model"]], region, spot)] = price
    shapes = shapes if shapes is not None else packaged_shapes()
    rows = []
    for itype, vcpus, memory, region, zone in shapes:
        family = itype.split("-", 1)[0]
        core, ram = rates.get((family, "Core", region, False)), rates.get((family, "Ram", region, False))
        if core is None or ram is None:
            continue
        score, sram = rates.get((family, "Core", region, True)), rates.get((family, "Ram", region, True))
        spot = vcpus * score + memory * sram if score is not None and sram is not None else ""
        rows.append(
            _row(itype, "", "", vcpus, memory, round(vcpus * core + memory * ram, 5), spot, region, zone)
        )
    zones_by_region: dict[str, list[str]] = {}
    for _, _, _, region, zone in shapes:
        if zone and zone not in zones_by_region.setdefault(region, []):
            zones_by_region[region].append(zone)
    for (name, region, spot), price in sorted(gpus.items()):
        if spot:
            continue
        spot_price = gpus.get((name, region, True))
        for zone in zones_by_region.get(region, [""]):
            for n in GPU_COUNTS.get(name, (1,)):
                sp = round(spot_price * n, 5) if spot_price else ""
                rows.append(_row("", name, n, "", "", round(price * n, 5), sp, region, zone))
    return rows


def _row(itype, accel, count, vcpus, memory, price, spot, region, zone) -> dict[str, Any]:
    return {
        "InstanceType": itype,
        "AcceleratorName": accel,
        "AcceleratorCount": count,
        "vCPUs": vcpus,
        "MemoryGiB": memory,
        "Price": price,
        "SpotPrice": spot,
        "Region": region,
        "AvailabilityZone": zone,
    }


def packaged_shapes() -> list[tuple[str, float, float, str, str]]:
    """(type, vCPUs, GiB, region, zone) of every GCP machine type the packaged catalog knows."""
    cat = _packaged_gcp()
    seen = set()
    out = []
    for i in range(len(cat)):
        itype = cat.itype_names[cat.itype[i]]
        if itype == "TPU-VM" or cat.accel[i] >= 0:
            continue
        zone = cat.zone_names[cat.zone[i]] if cat.zone[i] >= 0 else ""
        key = (itype, zone, cat.region[i])
        if key in seen:
            continue
        seen.add(key)
        out.append((itype, float(cat.vcpus[i]), float(cat.memory[i]), cat.region_names[cat.region[i]], zone))
    return out


def _packaged_gcp():
    from airflow_provider_sky.launch.catalog.sources import load_file, packaged_dir

    return load_file("gcp", packaged_dir() / "v8" / "gcp" / "vms.csv.gz", "packaged")
