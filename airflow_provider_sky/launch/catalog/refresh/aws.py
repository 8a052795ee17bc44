"""AWS prices from the Price List Query API (boto3 ``pricing`` ``get_products``).

On-demand Linux prices per region come from the Price List; spot prices per availability zone
come from ``ec2.describe_spot_price_history`` when credentials allow (the Price List has no spot
prices). On-demand rows are written per region (empty zone) because AWS places an on-demand
request in any zone of the region; spot rows per zone because spot prices differ by zone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

API_NAME = "the AWS Price List API (pricing.get_products)"
PRICING_REGION = "us-east-1"  # the Price List endpoint lives in us-east-1 (also ap-south-1, eu-central-1)
FILTERS = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
}
# The Price List gives a GPU count but not the model; the family names it (SkyPilot's spellings).
GPU_BY_FAMILY = {
    "p3": "V100",
    "p3dn": "V100-32GB",
    "p4d": "A100",
    "p4de": "A100-80GB",
    "p5": "H100",
    "p5e": "H200",
    "p5en": "H200",
    "g4dn": "T4",
    "g5": "A10G",
    "g6": "L4",
    "g6e": "L40S",
    "g5g": "T4g",
    "g4ad": "Radeon Pro V520",
}
_MEMORY = re.compile(r"^([\d.,]+)\s*GiB$")


def fetch_pages(regions: Sequence[str] | None = None, client: Any = None) -> Iterator[dict[str, Any]]:
    """Yield raw ``get_products`` responses, following ``NextToken`` (needs AWS credentials)."""
    if client is None:
        import boto3

        client = boto3.client("pricing", region_name=PRICING_REGION)
    filters = [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in FILTERS.items()]
    each: list[str | None] = list(regions) if regions else [None]
    for region in each:
        region_filter = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}] if region else []
        token = None
        while True:
            kwargs: dict[str, Any] = {"ServiceCode": "AmazonEC2", "Filters": filters + region_filter}
            if token:
                kwargs["NextToken"] = token
            page = client.get_products(**kwargs)
            yield page
            token = page.get("NextToken")
            if not token:
                break


def rows_from_pages(
    pages: Iterable[dict[str, Any]], spot: dict[tuple[str, str], dict[str, float]] | None = None
):
    """v8 rows from Price List pages; ``spot`` maps (instance, region) -> {zone: $/h}."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for page in pages:
        for item in page.get("PriceList", []):
            product = json.loads(item) if isinstance(item, str) else item
            row = _row(product)
            if row is not None:
                rows[(row["InstanceType"], row["Region"])] = row
    out = []
    for (itype, region), row in sorted(rows.items()):
        out.append(row)
        for zone, price in sorted((spot or {}).get((itype, region), {}).items()):
            out.append({**row, "SpotPrice": price, "AvailabilityZone": zone})
    return out


def _row(product: dict[str, Any]) -> dict[str, Any] | None:
    attrs = product.get("product", {}).get("attributes", {})
    if any(attrs.get(k) not in (None, v) for k, v in FILTERS.items()):
        return None
    itype, region = attrs.get("instanceType"), attrs.get("regionCode")
    if not itype or not region:
        return None
    price = _on_demand_usd(product.get("terms", {}).get("OnDemand", {}))
    if price is None:
        return None
    memory = _MEMORY.match(str(attrs.get("memory", "")).strip())
    gpus = float(attrs.get("gpu", "0") or 0)
    family = itype.split(".", 1)[0]
    accel = GPU_BY_FAMILY.get(family, "") if gpus else ""
    return {
        "InstanceType": itype,
        "AcceleratorName": accel,
        "AcceleratorCount": gpus if accel else "",
        "vCPUs": float(attrs.get("vcpu", "nan")),
        "MemoryGiB": float(memory.group(1).replace(",", "")) if memory else "",
        "Price": price,
        "SpotPrice": "",
        "Region": region,
        "AvailabilityZone": "",
    }


def _on_demand_usd(terms: dict[str, Any]) -> float | None:
    for term in terms.values():
        for dim in term.get("priceDimensions", {}).values():
            if dim.get("unit") != "Hrs":
                continue
            usd = float(dim.get("pricePerUnit", {}).get("USD", "0") or 0)
            if usd > 0:
                return usd
    return None


def spot_prices(
    regions: Sequence[str], instance_types: Sequence[str]
) -> dict[tuple[str, str], dict[str, float]]:
    """Latest Linux spot price per (instance, region) and zone, via ec2 describe_spot_price_history."""
    import boto3

    out: dict[tuple[str, str], dict[str, float]] = {}
    for region in regions:
        ec2 = boto3.client("ec2", region_name=region)
        paginator = ec2.get_paginator("describe_spot_price_history")
        pages = paginator.paginate(InstanceTypes=list(instance_types), ProductDescriptions=["Linux/UNIX"])
        for page in pages:
            for item in page.get("SpotPriceHistory", []):
                zones = out.setdefault((item["InstanceType"], region), {})
                zones.setdefault(item["AvailabilityZone"], float(item["SpotPrice"]))  # newest first
    return out
