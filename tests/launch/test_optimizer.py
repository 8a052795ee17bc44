"""The optimizer ranks feasible placements by cost and explains what it cannot do."""

from __future__ import annotations

import json
import time

import pytest
from launch_catalog_helpers import AWS_ROWS, AZURE_ROWS, GCP_ROWS, catalog

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch.optimizer import optimize
from airflow_provider_sky.launch.plan import LaunchPlan
from airflow_provider_sky.launch.task import TaskSpec


@pytest.fixture
def catalogs(tmp_path):
    return {
        "aws": catalog(tmp_path, "aws", AWS_ROWS),
        "gcp": catalog(tmp_path, "gcp", GCP_ROWS),
        "azure": catalog(tmp_path, "azure", AZURE_ROWS),
    }


def plan(catalogs, text, **kwargs) -> LaunchPlan:
    return optimize(TaskSpec.from_yaml(text), catalogs=catalogs, **kwargs)


def test_default_task_gets_cheapest_8_vcpu_4x_memory_instance(catalogs):
    p = plan(catalogs, "run: echo hi")
    best = p.best
    assert (best.cloud, best.region, best.instance_type) == ("aws", "us-east-1", "m6i.2xlarge")
    assert best.zone is None  # AWS on-demand is requested per region
    assert all(c.vcpus >= 8 and c.memory_gib == 4 * c.vcpus for c in p.candidates)  # c6i (2 GiB/vCPU) left out
    scores = [c.score_usd for c in p.candidates]
    assert scores == sorted(scores)


def test_num_nodes_multiplies_the_hourly_price(catalogs):
    best = plan(catalogs, "num_nodes: 3\nresources: {cloud: aws, cpus: 16}").best
    assert (best.instance_type, best.total_hourly_usd, best.num_nodes) == ("m6i.4xlarge", pytest.approx(2.304), 3)


def test_gcp_gpu_price_is_joined_to_its_host_per_region(catalogs):
    p = plan(catalogs, "resources: {accelerators: A100:1, cloud: gcp}")
    # us-central1 has the cheaper host (0.739) but far dearer GPU (2.934): europe-west4 wins jointly
    assert [(c.region, c.hourly_price) for c in p.candidates] == [
        ("europe-west4", pytest.approx(1.81)),
        ("us-central1", pytest.approx(3.6729)),
    ]
    assert p.best.instance_type == "a2-highgpu-1g" and p.best.accelerators == {"A100": 1}


def test_tpu_placeholder_price_is_never_a_candidate(catalogs):
    p = plan(catalogs, "resources: {accelerators: tpu-v6e-8}")
    assert [(c.region, c.instance_type) for c in p.candidates] == [("us-east1", "TPU-VM")]


def test_spot_is_ranked_per_zone(catalogs):
    p = plan(catalogs, "resources: {cloud: aws, instance_type: m6i.2xlarge, use_spot: true}")
    assert [(c.zone, c.hourly_price) for c in p.candidates] == [
        ("use1-az2", 0.07),
        ("euw1-az1", 0.09),
        ("use1-az1", 0.10),
    ]


def test_rows_without_price_and_placeholder_spot_are_skipped(catalogs):
    p = plan(catalogs, "resources: {cloud: azure, instance_type: Standard_D8s_v5}")
    assert [c.region for c in p.candidates] == ["eastus"]  # westus has no price
    with pytest.raises(SkyUserError, match="no spot price: 1"):
        plan(catalogs, "resources: {accelerators: H100:1, use_spot: true, cloud: azure}")


def test_deny_regions_glob_moves_the_choice(catalogs):
    p = plan(catalogs, "resources: {cloud: aws, cpus: 8}", deny_regions=["aws:us-*"])
    assert {c.region for c in p.candidates} == {"eu-west-1"}
    assert p.rejected["deny_regions"] >= 1


def test_zone_is_denied_through_its_region(catalogs):
    p = plan(catalogs, "resources: {cloud: gcp, cpus: 8}", deny_regions=["gcp:us-central1"])
    assert [c.zone for c in p.candidates] == ["europe-west4-a"]


def test_allow_regions_keeps_only_matching(catalogs):
    p = plan(catalogs, "run: x", allow_regions=["gcp:europe-*"])
    assert {(c.cloud, c.region) for c in p.candidates} == {("gcp", "europe-west4")}


def test_region_rules_that_remove_everything_say_how_many(catalogs):
    with pytest.raises(SkyUserError) as err:
        plan(catalogs, "resources: {cloud: aws, cpus: 8}", deny_regions=["aws:*"])
    assert "No candidate left after region rules: deny_regions removed" in err.value.problem


def test_large_input_data_flips_the_choice_to_where_the_data_is(catalogs):
    small = plan(catalogs, "inputs: {gs://bkt/data: {size_gb: 0.2, region: europe-west4}}")
    assert small.best.region != "europe-west4"  # moving 0.2 GB costs less than the price gap
    big = plan(catalogs, "inputs: {gs://bkt/data: {size_gb: 500, region: europe-west4}}")
    assert (big.best.cloud, big.best.region, big.best.data_egress_usd) == ("gcp", "europe-west4", 0.0)
    aws = next(c for c in big.candidates if c.cloud == "aws")
    assert aws.data_egress_usd > 0 and aws.score_usd == pytest.approx(aws.total_hourly_usd + aws.data_egress_usd)


def test_runtime_hours_amortise_egress(catalogs):
    text = "estimated_runtime_hours: 100\ninputs: {gs://bkt/data: {size_gb: 500, region: europe-west4}}"
    p = plan(catalogs, text)
    aws = next(c for c in p.candidates if c.cloud == "aws")
    assert aws.score_usd == pytest.approx(aws.total_hourly_usd + aws.data_egress_usd / 100)


def test_ordered_keeps_user_order_before_price(catalogs):
    text = "resources:\n  cpus: 8\n  memory: 32\n  ordered:\n    - {cloud: gcp}\n    - {cloud: aws}\n"
    p = plan(catalogs, text)
    assert [c.cloud for c in p.candidates][:2] == ["gcp", "gcp"] and p.candidates[-1].cloud == "aws"
    assert p.ordered


def test_any_of_picks_cheapest_across_alternatives(catalogs):
    p = plan(catalogs, "resources:\n  any_of:\n    - {accelerators: A100:1}\n    - {accelerators: L4:1}\n")
    assert p.best.accelerators == {"L4": 1}


def test_unavailable_accelerator_count_lists_the_counts_offered(catalogs):
    with pytest.raises(SkyUserError) as err:
        plan(catalogs, "resources: {accelerators: A100:3}")
    assert "No catalog row has A100:3" in err.value.problem
    assert "available counts: 1, 8" in err.value.problem


def test_exact_cpus_that_match_nothing_suggest_plus(catalogs):
    with pytest.raises(SkyUserError) as err:
        plan(catalogs, "resources: {cpus: 7}")
    assert "cpus: '7+'" in err.value.fix


def test_unknown_instance_type_suggests_close_names(catalogs):
    with pytest.raises(SkyUserError, match=r"m6i\.2xlarge"):
        plan(catalogs, "resources: {instance_type: m6i.2xlarg}")


def test_plan_survives_json_round_trip(catalogs):
    p = plan(catalogs, "name: t\nresources: {accelerators: L4:1}")
    again = LaunchPlan.from_dict(json.loads(json.dumps(p.to_dict())))
    assert again == p
    assert "Best: g6.xlarge" in again.explain()


def test_local_cloud_plans_from_the_embedded_catalog():
    p = optimize(TaskSpec.from_yaml("resources: {cloud: local, cpus: 2+}"))
    assert p.best.cloud == "local" and p.best.region.startswith("local-") and p.catalog_source == "packaged"


def test_full_packaged_catalogs_plan_in_under_50ms_warm():
    task = TaskSpec.from_yaml("run: echo")
    optimize(task)  # parse and cache
    start = time.perf_counter()
    for _ in range(5):
        p = optimize(task)
    per_task_ms = (time.perf_counter() - start) * 1000 / 5
    assert per_task_ms < 50, per_task_ms
    assert {c.cloud for c in p.candidates} >= {"gcp", "azure"}


def test_egress_prices_same_region_free_and_cross_cloud_dearest():
    from airflow_provider_sky.launch.egress import usd_per_gb

    assert usd_per_gb("aws", "us-east-1", "aws", "us-east-1") == 0.0
    inter_region = usd_per_gb("aws", "us-east-1", "aws", "eu-west-1")
    cross_cloud = usd_per_gb("aws", "us-east-1", "gcp", "us-east1")
    assert 0 < inter_region < cross_cloud
    assert usd_per_gb("gcp", None, "gcp", "us-east1") == 0.0  # unknown bucket region in the same cloud
