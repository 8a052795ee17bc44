"""TaskSpec: SkyPilot task files are accepted unchanged; mistakes are refused with the fix."""

from __future__ import annotations

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch.task import TaskSpec

SKYPILOT_STYLE_TASK = """\
# A task file written for SkyPilot, using only the keys both tools share.
name: train-resnet

resources:
  cloud: gcp
  accelerators: V100:1
  use_spot: true
  disk_size: 256
  job_recovery: EAGER_NEXT_REGION

num_nodes: 2

workdir: ./src

file_mounts:
  /data/imagenet: gs://my-datasets/imagenet
  ~/.netrc: ~/.netrc

envs:
  EPOCHS: 10
  WANDB_MODE: offline

setup: |
  pip install -r requirements.txt

run: |
  python train.py --epochs $EPOCHS
"""


def test_skypilot_task_file_is_accepted_unchanged(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(SKYPILOT_STYLE_TASK)
    task = TaskSpec.from_yaml(str(path))
    r = task.resources
    assert (task.name, task.num_nodes, task.workdir) == ("train-resnet", 2, "./src")
    assert (r.cloud, r.accelerators, r.use_spot, r.disk_size) == ("gcp", {"V100": 1}, True, 256)
    assert r.extras == {"job_recovery": "EAGER_NEXT_REGION"}
    assert task.envs == {"EPOCHS": "10", "WANDB_MODE": "offline"}
    assert task.input_data() == {"gs://my-datasets/imagenet": None}
    assert task.run.startswith("python train.py")


def test_to_dict_round_trips():
    task = TaskSpec.from_yaml(SKYPILOT_STYLE_TASK)
    assert TaskSpec.from_dict(task.to_dict()) == task


@pytest.mark.parametrize(
    ("text", "cloud", "region", "zone"),
    [
        ("resources: {infra: aws/us-east-1}", "aws", "us-east-1", None),
        ("resources: {infra: gcp/us-central1/us-central1-a}", "gcp", "us-central1", "us-central1-a"),
        ("resources: {infra: azure}", "azure", None, None),
    ],
)
def test_infra_form_sets_cloud_region_zone(text, cloud, region, zone):
    r = TaskSpec.from_yaml(text).resources
    assert (r.cloud, r.region, r.zone) == (cloud, region, zone)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("V100:1", {"V100": 1}), ("V100", {"V100": 1}), ("a100:8", {"A100": 8}), ({"A100": 8}, {"A100": 8})],
)
def test_accelerator_shorthands(value, expected):
    assert TaskSpec.from_dict({"resources": {"accelerators": value}}).resources.accelerators == expected


def test_accelerator_list_becomes_any_of_alternatives():
    r = TaskSpec.from_dict({"resources": {"accelerators": ["V100:1", "A100:1"], "cpus": "8+"}}).resources
    assert [a.accelerators for a in r.alternatives()] == [{"V100": 1}, {"A100": 1}]
    assert all(a.cpus == "8+" for a in r.alternatives())


def test_ordered_entries_inherit_base_fields_and_replace_location():
    r = TaskSpec.from_yaml(
        """
resources:
  cloud: aws
  accelerators: L4:1
  ordered:
    - {cloud: gcp, region: us-central1}
    - {infra: aws/us-east-1, use_spot: true}
"""
    ).resources
    alts = r.alternatives()
    assert [(a.cloud, a.region, a.use_spot, a.accelerators) for a in alts] == [
        ("gcp", "us-central1", False, {"L4": 1}),
        ("aws", "us-east-1", True, {"L4": 1}),
    ]


@pytest.mark.parametrize(("value", "norm"), [(4, "4"), ("4+", "4+"), ("4.0", "4"), (" 16+ ", "16+")])
def test_cpus_forms(value, norm):
    assert TaskSpec.from_dict({"resources": {"cpus": value}}).resources.cpus == norm


@pytest.mark.parametrize(("value", "norm"), [("16+", "16+"), (32, "32"), ("4x", "4x"), ("64GB+", "64+")])
def test_memory_forms(value, norm):
    assert TaskSpec.from_dict({"resources": {"memory": value}}).resources.memory == norm


@pytest.mark.parametrize(
    ("data", "in_problem", "in_fix"),
    [
        ({"resources": {"cpu": 4}}, "Unknown key 'cpu'", "did you mean 'cpus'"),
        ({"reources": {}}, "Unknown key 'reources'", "did you mean 'resources'"),
        ({"resources": {"accelerators": "V10:1"}}, "Unknown accelerator 'V10'", "V100"),
        ({"resources": {"accelerators": "A100:zero"}}, "not a number", "A100:1"),
        ({"resources": {"cpus": "four"}}, "resources.cpus 'four'", "'4+'"),
        ({"resources": {"memory": "lots"}}, "resources.memory 'lots'", "'16+'"),
        ({"num_nodes": 0}, "num_nodes is 0", ">= 1"),
        ({"resources": {"cloud": "awz"}}, "Unknown cloud 'awz'", "'aws'"),
        ({"resources": {"infra": "aws//x"}}, "infra 'aws//x' is malformed", "cloud[/region[/zone]]"),
        ({"inputs": {"s3://b/x": "big"}}, "size 'big'", "GB"),
        ({"envs": {"TOKEN": None}}, "envs TOKEN has no value", "airflow-sky launch --env TOKEN=VALUE"),
    ],
)
def test_bad_input_names_key_and_fix(data, in_problem, in_fix):
    with pytest.raises(SkyUserError) as err:
        TaskSpec.from_dict(data)
    assert in_problem in err.value.problem
    assert in_fix in err.value.fix


def test_missing_task_file_is_a_user_error():
    with pytest.raises(SkyUserError, match="does not exist"):
        TaskSpec.from_yaml("/nonexistent/task.yaml")


def test_inputs_with_region_feed_joint_placement():
    task = TaskSpec.from_dict({"inputs": {"s3://raw/shards": {"size_gb": 500, "region": "eu-west-1"}}})
    assert task.input_data() == {"s3://raw/shards": 500.0}
    assert task.input_regions == {"s3://raw/shards": "eu-west-1"}
    assert TaskSpec.from_dict(task.to_dict()) == task


def test_any_of_entry_on_a_skypilot_only_cloud_is_skipped_with_a_warning(caplog):
    spec = TaskSpec.from_dict({"resources": {"any_of": [{"cloud": "lambda", "accelerators": "A100:1"},
                                                        {"infra": "runpod/US"}, {"cloud": "aws"}]}})  # fmt: skip
    assert [alt.cloud for alt in spec.resources.alternatives()] == ["aws"]
    assert "resources.any_of[0]" in caplog.text and "'lambda' is not supported" in caplog.text


def test_any_of_with_no_supported_cloud_names_the_clouds_it_needed():
    with pytest.raises(SkyUserError) as err:
        TaskSpec.from_dict({"resources": {"ordered": [{"cloud": "lambda"}, {"cloud": "runpod"}]}})
    assert "the entries need: lambda, runpod" in err.value.problem and "aws" in err.value.fix


def test_a_misspelt_cloud_in_any_of_is_still_an_error():
    with pytest.raises(SkyUserError, match="Unknown cloud 'lamda'"):
        TaskSpec.from_dict({"resources": {"any_of": [{"cloud": "lamda"}, {"cloud": "aws"}]}})


def test_null_envs_and_secrets_are_filled_at_launch():
    spec = TaskSpec.from_dict({"envs": {"MODEL": None, "BATCH": 8}, "secrets": {"HF_TOKEN": None}},
                              secrets={"HF_TOKEN": "hf_given"}, envs={"MODEL": "llama", "BATCH": "16"})  # fmt: skip
    assert spec.envs == {"MODEL": "llama", "BATCH": "16"} and spec.secrets == {"HF_TOKEN": "hf_given"}


def test_a_directory_as_task_path_is_one_clear_error(tmp_path):
    (tmp_path / "train.yaml").write_text("run: true\n")
    with pytest.raises(SkyUserError) as err:
        TaskSpec.from_yaml(str(tmp_path))
    assert "is a directory" in err.value.problem and str(tmp_path / "train.yaml") in err.value.fix
