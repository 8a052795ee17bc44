"""assets=True: the operators' inlets and outlets as Airflow Assets, decided when the DAG is parsed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.operators.launch import SkyLaunchOperator
from airflow_provider_sky.operators.transfer import SkyTransferOperator


def _uris(assets: list) -> list[str]:
    return [asset.uri for asset in assets]


def test_a_transfer_with_assets_reads_its_source_and_writes_every_destination() -> None:
    from airflow.sdk import Asset

    op = SkyTransferOperator(
        task_id="copy", source="s3://raw-data/in/", destination=["gs://train-eu/in/", "azure://acct01/box/in/"],
        assets="True", outlets=[Asset("s3://raw-data/_done")],
    )  # fmt: skip
    assert _uris(op.inlets) == ["s3://raw-data/in"]
    assert _uris(op.outlets) == [
        "s3://raw-data/_done", "gs://train-eu/in", "wasbs://box@acct01.blob.core.windows.net/in",
    ]  # fmt: skip


@pytest.mark.parametrize("flag", [False, "false", "no", 0])
def test_without_assets_the_operator_declares_none(flag: object) -> None:
    op = SkyTransferOperator(task_id="copy", source="s3://raw-data/in/", destination="gs://train-eu/in/", assets=flag)
    assert (op.inlets, op.outlets) == ([], [])


def test_a_flag_that_is_not_a_boolean_is_refused_by_name() -> None:
    with pytest.raises(SkyUserError, match=r"assets='sometimes' is not a boolean"):
        SkyTransferOperator(task_id="copy", source="s3://raw-data/a", destination="gs://train-eu/a", assets="sometimes")


def test_a_templated_destination_cannot_become_an_asset() -> None:
    with pytest.raises(SkyUserError, match="needs destination as a literal URI") as caught:
        SkyTransferOperator(task_id="copy", source="s3://raw-data/in/", destination="gs://train-eu/{{ ds }}/",
                            assets=True)  # fmt: skip
    assert "inlets=/outlets=" in str(caught.value)


def test_a_bad_uri_is_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(SkyUserError, match="Unknown storage scheme"):
        SkyTransferOperator(task_id="copy", source="ftp://raw-data/in/", destination="gs://train-eu/", assets=True)


def test_a_launch_with_assets_reads_its_mounts_and_inputs_and_writes_its_outputs(tmp_path: Path) -> None:
    task_file = tmp_path / "train.yaml"
    task_file.write_text(
        "resources: {cloud: local}\n"
        "file_mounts:\n"
        "  ~/shards: s3://raw-data/shards/\n"
        "  ~/local: ./notes\n"
        "  ~/ckpt: {name: ckpt-bucket, store: gcs, mode: MOUNT}\n"
        "  ~/r2: r2://elsewhere/x\n"
        "inputs: {'gs://train-eu/vocab.txt': 0.1}\n"
        "outputs: {'https://acct01.blob.core.windows.net/box/model/': 2}\n"
        "secrets: {HF_TOKEN: null}\n"
        "run: echo hi\n"
    )
    op = SkyLaunchOperator(task_id="train", task=str(task_file), assets=True)
    assert _uris(op.inlets) == ["s3://raw-data/shards", "gs://train-eu/vocab.txt"]
    assert _uris(op.outlets) == ["wasbs://box@acct01.blob.core.windows.net/model", "gs://ckpt-bucket/"]


def test_a_launch_task_with_a_bad_data_key_is_one_user_error() -> None:
    with pytest.raises(SkyUserError, match=r"outputs\['s3://raw-data/x'\] size 'lots' is not a number of GB"):
        SkyLaunchOperator(task_id="train", task={"outputs": {"s3://raw-data/x": "lots"}, "run": "x"}, assets=True)


def test_a_downstream_dag_can_be_scheduled_on_the_outlets() -> None:
    from airflow.sdk import DAG

    op = SkyTransferOperator(task_id="copy", source="file:///srv/in/", destination="s3://raw-data/in/", assets=True)
    with DAG("consumer", schedule=op.outlets, start_date=datetime(2026, 1, 1)) as consumer:
        pass
    assert [asset.uri for asset in consumer.timetable.asset_condition.objects] == ["s3://raw-data/in"]


def test_an_outlet_is_the_asset_a_downstream_dag_writes_by_hand() -> None:
    from airflow.sdk import Asset

    op = SkyTransferOperator(task_id="copy", source="file:///srv/in/", destination="gs://train-eu/in/", assets=True)
    assert op.outlets == [Asset("gs://train-eu/in")]  # same name and URI: Airflow sees one Asset, not a conflict
    assert op.inlets == [Asset("file:///srv/in")]


@pytest.mark.parametrize("operator", [SkyTransferOperator, SkyLaunchOperator])
def test_a_mapped_task_cannot_take_assets_from_partial(operator: type) -> None:
    with pytest.raises(SkyUserError, match=r"assets=True cannot be given to \.partial\(\)") as caught:
        operator.partial(task_id="mapped", assets="yes")
    assert "outlets=[Asset(...)]" in str(caught.value)


def test_a_mapped_task_without_assets_still_expands() -> None:
    from airflow.sdk import DAG

    with DAG("mapped", schedule=None, start_date=datetime(2026, 1, 1)):
        mapped = SkyTransferOperator.partial(task_id="copy", destination="gs://train-eu/in/", assets=False).expand(
            source=["s3://raw-data/a/", "s3://raw-data/b/"]
        )
    assert mapped.partial_kwargs["assets"] is False
