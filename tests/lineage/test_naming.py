"""Dataset names and Asset URIs: OpenLineage's conventions for every scheme this project reads."""

from __future__ import annotations

import socket

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.lineage.naming import DatasetName, asset_uri, dataset_name


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://raw-data/imagenet/train.tar", DatasetName("s3://raw-data", "imagenet/train.tar")),
        ("s3://raw-data/imagenet/", DatasetName("s3://raw-data", "imagenet")),
        ("s3://raw-data", DatasetName("s3://raw-data", "/")),
        ("s3://raw-data/", DatasetName("s3://raw-data", "/")),
        ("s3://raw-data/x//", DatasetName("s3://raw-data", "x/")),  # keys are kept: only the prefix's '/' goes
        ("gs://train-eu/my shards/ünïcode ☃.bin", DatasetName("gs://train-eu", "my shards/ünïcode ☃.bin")),
        ("gcs://train-eu/a/", DatasetName("gs://train-eu", "a")),
        ("s3://raw-data/100%25 done?#", DatasetName("s3://raw-data", "100%25 done?#")),
        ("azure://acct01/box/p/q.csv", DatasetName("wasbs://box@acct01.dfs.core.windows.net", "p/q.csv")),
        ("https://ACCT01.blob.core.windows.net/box/p/", DatasetName("wasbs://box@acct01.dfs.core.windows.net", "p")),
        ("azure://acct01/box", DatasetName("wasbs://box@acct01.dfs.core.windows.net", "/")),
        ("file:///srv/data/../in//shards/", DatasetName("file://worker-7", "/srv/in/shards")),
        ("file://localhost/srv/a b.txt", DatasetName("file://worker-7", "/srv/a b.txt")),
        ("file:///", DatasetName("file://worker-7", "/")),
    ],
)  # fmt: skip
def test_dataset_names_follow_openlineage_naming(uri: str, expected: DatasetName) -> None:
    assert dataset_name(uri, host="worker-7") == expected


def test_local_files_are_named_on_this_host_by_default() -> None:
    assert dataset_name("file:///srv/in/").namespace == f"file://{socket.gethostname()}"


def test_an_object_and_its_parsed_uri_name_the_same_dataset() -> None:
    from airflow_provider_sky.uri import parse_uri

    assert dataset_name(parse_uri("azure://acct01/box/k")) == dataset_name("https://acct01.blob.core.windows.net/box/k")


def test_a_custom_endpoint_does_not_rename_the_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443")
    assert dataset_name("s3://raw-data/a") == DatasetName("s3://raw-data", "a")
    assert dataset_name("gs://raw-data/a") == DatasetName("gs://raw-data", "a")
    assert dataset_name("azure://devstoreaccount1/box/a").namespace == (
        "wasbs://box@devstoreaccount1.dfs.core.windows.net"
    )


def test_a_bad_uri_is_one_user_error() -> None:
    with pytest.raises(SkyUserError, match="Unknown storage scheme 'ftp'"):
        dataset_name("ftp://host/x")


@pytest.mark.parametrize(
    ("uri", "expected", "normalized"),
    [
        ("s3://raw-data/imagenet/", "s3://raw-data/imagenet/", "s3://raw-data/imagenet"),
        ("s3://raw-data", "s3://raw-data/", "s3://raw-data/"),
        ("gs://train-eu/my shards/ü.bin", "gs://train-eu/my shards/ü.bin", "gs://train-eu/my shards/ü.bin"),
        ("azure://acct01/box/p/", "wasbs://box@acct01.blob.core.windows.net/p/",
         "wasbs://box@acct01.blob.core.windows.net/p"),
        ("file:///srv/a/../in/", "file:///srv/in", "file:///srv/in"),
        ("s3://raw-data/a#1?b=2%", "s3://raw-data/a%231%3Fb=2%25", "s3://raw-data/a%231%3Fb=2%25"),
    ],
)  # fmt: skip
def test_asset_uris_are_accepted_by_airflow_unchanged_but_for_the_trailing_slash(
    uri: str, expected: str, normalized: str
) -> None:
    from airflow.sdk import Asset

    assert asset_uri(uri) == expected
    assert Asset(uri=asset_uri(uri)).uri == normalized  # Airflow keeps the key: no fragment or query eaten
