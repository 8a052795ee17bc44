"""Recorded price-API pages become v8 catalog rows, following each API's pagination."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.stub import ANY, Stubber

from airflow_provider_sky.launch.catalog import load_file
from airflow_provider_sky.launch.catalog.refresh import aws, azure, gcp
from airflow_provider_sky.launch.catalog.schema import write_rows

RECORDINGS = Path(__file__).parent / "recordings"


def _page(name: str) -> dict:
    return json.loads((RECORDINGS / name).read_text())


def _aws_pages() -> list[dict]:
    client = boto3.client("pricing", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    with Stubber(client) as stub:
        stub.add_response(
            "get_products", _page("aws_get_products_page1.json"), {"ServiceCode": "AmazonEC2", "Filters": ANY}
        )
        stub.add_response(
            "get_products",
            _page("aws_get_products_page2.json"),
            {"ServiceCode": "AmazonEC2", "Filters": ANY, "NextToken": "page-2-token"},
        )
        pages = list(aws.fetch_pages(client=client))
        stub.assert_no_pending_responses()
    return pages


def test_aws_price_list_follows_next_token_and_keeps_linux_on_demand():
    rows = aws.rows_from_pages(_aws_pages())
    by_key = {(r["InstanceType"], r["Region"]): r for r in rows}
    assert by_key[("m6i.2xlarge", "us-east-1")]["Price"] == 0.384  # the Windows meter (0.752) is ignored
    assert by_key[("m6i.2xlarge", "eu-west-1")]["Price"] == 0.428  # from the second page
    assert ("m6i.4xlarge", "eu-west-1") not in by_key  # a 0.00 price is not an offer
    assert by_key[("m6i.2xlarge", "us-east-1")]["vCPUs"] == 8.0
    assert by_key[("m6i.2xlarge", "us-east-1")]["MemoryGiB"] == 32.0


def test_aws_gpu_model_comes_from_the_instance_family():
    rows = aws.rows_from_pages(_aws_pages())
    g6 = next(r for r in rows if r["InstanceType"] == "g6.xlarge")
    assert (g6["AcceleratorName"], g6["AcceleratorCount"]) == ("L4", 1.0)


def test_aws_spot_prices_become_per_zone_rows():
    spot = {("m6i.2xlarge", "us-east-1"): {"us-east-1a": 0.11, "us-east-1b": 0.09}}
    rows = aws.rows_from_pages(_aws_pages(), spot=spot)
    zones = {r["AvailabilityZone"]: r["SpotPrice"] for r in rows if r["InstanceType"] == "m6i.2xlarge"}
    assert zones == {"": "", "us-east-1a": 0.11, "us-east-1b": 0.09}


def _serve(pages_by_token: dict[str, dict], token_param: str):
    calls: list[str] = []

    def get_json(url: str) -> dict:
        calls.append(url)
        token = parse_qs(urlsplit(url).query).get(token_param, [""])[0]
        return pages_by_token[token]

    return get_json, calls


def test_gcp_billing_skus_price_machine_types_from_core_and_ram_rates():
    get_json, calls = _serve(
        {"": _page("gcp_skus_page1.json"), "gcp-page-2": _page("gcp_skus_page2.json")}, "pageToken"
    )
    shapes = [
        ("n2-standard-8", 8.0, 32.0, "us-central1", "us-central1-a"),
        ("n2-standard-8", 8.0, 32.0, "europe-west4", "europe-west4-a"),
    ]
    rows = gcp.rows_from_pages(gcp.fetch_pages(get_json=get_json), shapes=shapes)
    assert len(calls) == 2
    n2 = [r for r in rows if r["InstanceType"] == "n2-standard-8"]
    assert len(n2) == 1  # no rates for europe-west4 in the recording: no row
    assert n2[0]["Price"] == round(8 * 0.031611 + 32 * 0.004237, 5)
    assert abs(n2[0]["SpotPrice"] - (8 * 0.00765 + 32 * 0.001025)) < 1e-9


def test_gcp_gpus_stay_in_rows_of_their_own_per_zone_and_count():
    get_json, _ = _serve({"": _page("gcp_skus_page1.json"), "gcp-page-2": _page("gcp_skus_page2.json")}, "pageToken")
    shapes = [("n1-highmem-8", 8.0, 52.0, "us-central1", "us-central1-a")]
    rows = gcp.rows_from_pages(gcp.fetch_pages(get_json=get_json), shapes=shapes)
    t4 = {r["AcceleratorCount"]: r for r in rows if r["AcceleratorName"] == "T4"}
    assert sorted(t4) == [1, 2, 4]
    assert t4[2]["InstanceType"] == "" and t4[2]["Price"] == 0.7 and t4[2]["AvailabilityZone"] == "us-central1-a"


def test_azure_retail_prices_follow_next_page_link_and_split_spot():
    pages = {"": _page("azure_retail_page1.json"), "1000": _page("azure_retail_page2.json")}
    get_json, calls = _serve(pages, "$skip")
    shapes = {"Standard_D8s_v5": (8.0, 32.0, "", ""), "Standard_NC24ads_A100_v4": (24.0, 220.0, "A100", 1.0)}
    rows = azure.rows_from_pages(azure.fetch_pages(get_json=get_json), shapes=shapes)
    assert len(calls) == 2
    by_key = {(r["InstanceType"], r["Region"]): r for r in rows}
    d8 = by_key[("Standard_D8s_v5", "eastus")]
    assert (d8["Price"], d8["SpotPrice"], d8["AvailabilityZone"]) == (0.384, 0.0768, "")  # Windows ignored
    assert by_key[("Standard_D8s_v5", "westeurope")]["SpotPrice"] == ""
    assert by_key[("Standard_NC24ads_A100_v4", "eastus")]["AcceleratorName"] == "A100"
    assert not any(r["InstanceType"] == "Standard_Brand_New_v9" for r in rows)  # shape unknown: skipped


def test_refreshed_rows_load_back_as_a_catalog(tmp_path):
    rows = aws.rows_from_pages(_aws_pages(), spot={("m6i.2xlarge", "us-east-1"): {"us-east-1a": 0.1}})
    path = tmp_path / "aws" / "vms.csv"
    write_rows(path, rows)
    cat = load_file("aws", path, "refreshed")
    assert set(cat.itype_names) == {"m6i.2xlarge", "g6.xlarge", "r6i.large"}
    assert cat.source == "refreshed"
