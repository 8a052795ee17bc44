"""The command line reaches every cloud emulator through flags and environment variables alone."""

from __future__ import annotations

import pytest

from airflow_provider_sky.cli.main import main
from airflow_provider_sky.devtools import emulators
from tests.transfer.helpers import tree, uri, write

pytestmark = pytest.mark.emulators


def _flags(scheme: str, emulator: emulators.Emulator) -> list[str]:
    if scheme == "s3":
        return ["--s3-endpoint-url", emulator.endpoint, "--aws-region", emulators.MOTO_REGION]
    if scheme == "gs":
        return ["--gcs-endpoint-url", emulator.credentials.gcp.endpoint_url, "--gcp-project", "sky-test"]
    return ["--azure-connection-string", emulators.azurite_connection_string(emulator.credentials.azure.account_url)]


@pytest.mark.parametrize("scheme", ["s3", "gs", "azure"])
def test_cli_copies_up_and_back_down_with_endpoint_flags(scheme, fresh_bucket, src, dst, monkeypatch, capsys):
    bucket = fresh_bucket(scheme)
    if scheme == "s3":  # boto3 still wants some key pair; moto accepts any
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    write(src / "a.txt", b"alpha")
    write(src / "d" / "b.bin", b"\x00" * 3000)
    flags = ["--no-progress", *_flags(scheme, bucket.emulator)]

    assert main(["cp", uri(src), bucket.url + "up/", *flags]) == 0
    assert main(["sync", bucket.url + "up/", uri(dst), *flags]) == 0

    assert tree(dst) == tree(src)
    assert "copied 2 objects" in capsys.readouterr().err
