"""Catalog loading: source order, tolerant CSV, and the quirks of real catalog files."""

from __future__ import annotations

import math

import numpy as np
from launch_catalog_helpers import HEADER, catalog, write_catalog

from airflow_provider_sky.launch.catalog import choose_source, load_catalog
from airflow_provider_sky.launch.catalog.table import TPU_VM


def _row(cat, itype, region, zone=None):
    for i in range(len(cat)):
        z = cat.zone_names[cat.zone[i]] if cat.zone[i] >= 0 else None
        if cat.itype_names[cat.itype[i]] == itype and cat.region_names[cat.region[i]] == region and z == zone:
            return i
    raise AssertionError(f"no row {itype} {region} {zone}")


def test_azure_unquoted_generation_field_is_folded_not_dropped(tmp_path):
    header = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,Region,Generation"
    cat = catalog(
        tmp_path,
        "azure",
        ["Standard_A1_v2,,,1,2,,0.05,0.009,eastus,V1", "Standard_D2s_v5,,,2,8,,0.096,0.019,eastus,V1,V2"],
        header,
    )
    assert len(cat) == 2
    i = _row(cat, "Standard_D2s_v5", "eastus")
    assert (cat.vcpus[i], cat.price[i], cat.spot[i]) == (2.0, 0.096, 0.019)


def test_gcp_column_order_is_read_by_header(tmp_path):
    header = (
        "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice"
    )
    cat = catalog(tmp_path, "gcp", ["n2-standard-8,8.0,32.0,,,,us-central1,us-central1-a,0.3885,0.0939"], header)
    assert (cat.vcpus[0], cat.memory[0], cat.price[0]) == (8.0, 32.0, 0.3885)


def test_placeholder_and_empty_prices_are_not_offers(tmp_path):
    cat = catalog(
        tmp_path,
        "gcp",
        [
            ",tpu-v6e-8,1,,,700.0,700.0,us-east5,us-east5-b",
            ",tpu-v6e-8,1,,,21.6,9.8,us-east1,us-east1-d",
            "n2-standard-8,,,8,32,,,us-west1,us-west1-a",
        ],
    )
    assert len(cat) == 1  # only the priced TPU row survives
    assert cat.itype_names[cat.itype[0]] == TPU_VM
    assert cat.dropped["no price"] == 2
    assert cat.dropped["placeholder price 700.0"] == 1


def test_spot_equal_to_on_demand_is_a_placeholder(tmp_path):
    cat = catalog(tmp_path, "azure", ["Standard_NC40ads_H100_v5,H100,1,40,320,6.98,6.98,eastus,"])
    assert cat.price[0] == 6.98 and math.isnan(cat.spot[0])


def test_gcp_gpu_rows_are_kept_apart_from_hosts(tmp_path):
    cat = catalog(
        tmp_path,
        "gcp",
        ["a2-highgpu-1g,,,12,85,0.739,0.26,us-central1,us-central1-a", ",A100,1,,,2.93,1.43,us-central1,us-central1-a"],
    )
    assert len(cat) == 1 and cat.gpus is not None and len(cat.gpus.price) == 1


def test_aws_spot_prices_stay_per_zone(tmp_path):
    cat = catalog(
        tmp_path,
        "aws",
        ["m6i.2xlarge,,,8,32,0.384,0.10,us-east-1,use1-az1", "m6i.2xlarge,,,8,32,0.384,0.07,us-east-1,use1-az2"],
    )
    assert sorted(cat.spot.tolist()) == [0.07, 0.10]


def test_source_order_user_dir_then_refreshed_then_packaged(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_SKY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AIRFLOW_SKY_CATALOG_DIR", raising=False)
    assert choose_source("aws").source == "packaged"
    write_catalog(tmp_path / "cache" / "catalogs" / "v8", "aws", ["m6i.2xlarge,,,8,32,0.384,,us-east-1,"])
    assert choose_source("aws").source == "refreshed"
    write_catalog(tmp_path / "user", "aws", ["m6i.2xlarge,,,8,32,0.5,,us-east-1,"])
    choice = choose_source("aws", tmp_path / "user")
    assert choice.source == "user-dir"
    assert load_catalog("aws", tmp_path / "user").price.tolist() == [0.5]
    # a cloud missing from the user's directory falls through to the next source
    assert choose_source("gcp", tmp_path / "user").source == "packaged"


def test_changed_file_is_parsed_again(tmp_path):
    path = write_catalog(tmp_path, "aws", ["m6i.2xlarge,,,8,32,0.384,,us-east-1,"])
    assert load_catalog("aws", tmp_path).price.tolist() == [0.384]
    path.write_text(HEADER + "\nm6i.2xlarge,,,8,32,0.400,,us-east-1,\nm6i.xlarge,,,4,16,0.2,,us-east-1,\n")
    assert sorted(load_catalog("aws", tmp_path).price.tolist()) == [0.2, 0.4]


def test_packaged_catalogs_cover_every_cloud_including_local():
    sizes = {c: len(load_catalog(c)) for c in ("aws", "gcp", "azure", "local")}
    assert sizes["gcp"] > 25_000 and sizes["azure"] > 50_000  # the full v8 files, Azure's V1,V2 rows kept
    assert sizes["aws"] >= 50 and 0 < sizes["local"] < 20
    local = load_catalog("local")
    assert set(local.region_names) == {"local-a", "local-b"}
    assert np.all(local.price < 1.0)
