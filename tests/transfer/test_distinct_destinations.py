"""The same destination twice, in any spelling, is refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_sky.cli.main import main
from airflow_provider_sky.devtools import emulators
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.transfer.request import CopyRequest
from tests.transfer.helpers import uri, write

SAME = "are the same place; every object would be uploaded there twice at once. Fix: list each destination once."
INSIDE = "lies inside destination"


@pytest.mark.parametrize(
    ("destinations", "words"),
    [
        (["s3://bucket-b/x/", "s3://bucket-b/x/"], SAME),
        (["s3://bucket-b/x", "s3://bucket-b/x/"], SAME),
        (["gs://bucket-b/x/", "gcs://bucket-b/x"], SAME),
        (["azure://acct1/data/x/", "https://acct1.blob.core.windows.net/data/x/"], SAME),
        (["azure://acct1/data/x/", "https://ACCT1.blob.core.windows.net/data/x"], SAME),
        (["file:///tmp/sky-a/", "file:///tmp/sky-a/../sky-a/"], SAME),
        (["file:///tmp/sky-a/", "file:///tmp//sky-a/./"], SAME),
        (["file:///tmp/sky-a/", "file://localhost/tmp/sky-a"], SAME),
        (["s3://bucket-b/x/", "gs://bucket-c/y/", "s3://bucket-b/x"], SAME),
        (["s3://bucket-b/x/", "s3://bucket-b/x/y/"], "Destination 's3://bucket-b/x/y/' lies inside destination 's3://bucket-b/x/'"),
        (["s3://bucket-b/x/y/", "s3://bucket-b/"], "Destination 's3://bucket-b/x/y/' lies inside destination 's3://bucket-b/'"),
        (["s3://bucket-b/x/", "s3://bucket-b/x//"], INSIDE),
        (["file:///tmp/sky-a/", "file:///tmp/sky-a/b/../b/c"], INSIDE),
    ],
)  # fmt: skip
def test_two_spellings_of_one_destination_are_refused(destinations: list[str], words: str) -> None:
    with pytest.raises(SkyUserError) as info:
        CopyRequest.build("file:///tmp/sky-src/", destinations)
    assert words in str(info.value)


@pytest.mark.parametrize(
    "destinations",
    [
        ["s3://bucket-b/x/", "s3://bucket-b/xy/"],  # a sibling that shares the first letters
        ["s3://bucket-b/x/", "gs://bucket-b/x/"],  # another cloud
        ["s3://bucket-b/x/", "s3://bucket-c/x/"],  # another bucket
        ["azure://acct1/data/x/", "azure://acct2/data/x/"],  # another account
        ["s3://bucket-b/X/", "s3://bucket-b/x/"],  # keys are case-sensitive
    ],
)
def test_distinct_destinations_are_accepted(destinations: list[str]) -> None:
    assert CopyRequest.build("file:///tmp/sky-src/", destinations).destinations == tuple(destinations)


def test_a_symlink_to_a_destination_is_the_same_destination(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(SkyUserError, match="are the same place"):
        CopyRequest.build(f"file://{tmp_path}/src/", [f"file://{tmp_path}/real/", f"file://{tmp_path}/link"])


def test_the_operator_refuses_before_writing(tmp_path: Path) -> None:
    from airflow_provider_sky.operators.transfer import SkyTransferOperator

    write(tmp_path / "in" / "a.txt", b"alpha")
    op = SkyTransferOperator(
        task_id="copy", source=uri(tmp_path / "in"),
        destination=[f"file://{tmp_path}/out/", f"file://{tmp_path}/out/../out"],
    )  # fmt: skip
    with pytest.raises(SkyUserError, match="are the same place"):
        op.execute({"ti": None})
    assert not (tmp_path / "out").exists()


@pytest.mark.emulators
def test_the_command_line_refuses_two_spellings_of_one_s3_prefix(fresh_bucket, src, monkeypatch, capsys) -> None:
    bucket = fresh_bucket("s3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    write(src / "a.txt", b"alpha")
    flags = ["--no-progress", "--s3-endpoint-url", bucket.emulator.endpoint, "--aws-region", emulators.MOTO_REGION]

    code = main(["cp", uri(src), bucket.url + "x", bucket.url + "x/", *flags])

    assert code == 2
    assert f"'{bucket.url}x' and '{bucket.url}x/' are the same place" in capsys.readouterr().err
    assert list(bucket.store.list(bucket.bucket, "")) == []


@pytest.mark.emulators
def test_the_command_line_refuses_the_https_and_azure_forms_of_one_container(fresh_bucket, src, capsys) -> None:
    bucket = fresh_bucket("azure")
    write(src / "a.txt", b"alpha")
    https = f"https://{emulators.AZURITE_ACCOUNT}.blob.core.windows.net/{bucket.bucket}/x/"
    flags = [
        "--no-progress", "--azure-connection-string",
        emulators.azurite_connection_string(bucket.emulator.credentials.azure.account_url),
    ]  # fmt: skip

    code = main(["sync", uri(src), bucket.url + "x/", https, *flags])

    assert code == 2
    assert "are the same place" in capsys.readouterr().err
    assert list(bucket.store.list(bucket.bucket, "")) == []
