"""Bucket checks fail fast with a message naming the bucket, the problem and the fix."""

from __future__ import annotations

import datetime
import hashlib
import json

import boto3
import pytest

from airflow_provider_sky.credentials import AwsCredentials, AzureCredentials, GcpCredentials, StoreCredentials
from airflow_provider_sky.devtools import emulators
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.stores.registry import StoreCache, open_store
from airflow_provider_sky.uri import parse_uri

MISSING_WORDS = {
    "s3": ["S3 bucket 'no-such-bucket-here' does not exist", "aws s3 mb s3://no-such-bucket-here"],
    "gs": ["GCS bucket 'no-such-bucket-here' does not exist", "gcloud storage buckets create"],
    "azure": ["Azure container 'no-such-bucket-here' does not exist", "az storage container create"],
}


@pytest.mark.emulators
@pytest.mark.parametrize("scheme", ["s3", "gs", "azure"])
def test_check_bucket_names_a_missing_bucket_and_how_to_create_it(fresh_bucket, scheme):
    store = fresh_bucket(scheme).store

    with pytest.raises(SkyUserError) as caught:
        store.check_bucket("no-such-bucket-here", write=False)

    for words in MISSING_WORDS[scheme]:
        assert words in str(caught.value)
    assert "Fix:" in str(caught.value)


@pytest.mark.emulators
@pytest.mark.parametrize("scheme", ["s3", "gs", "azure"])
def test_check_bucket_for_writing_passes_and_leaves_nothing_behind(fresh_bucket, scheme):
    fresh = fresh_bucket(scheme)

    fresh.store.check_bucket(fresh.bucket, write=True)

    assert list(fresh.store.list(fresh.bucket, "")) == []
    assert list(fresh.store.list(fresh.bucket, ".sky-parts/")) == []
    assert fresh.store.abort_stale_uploads(fresh.bucket, "") == 0


@pytest.fixture(scope="module")
def moto_with_iam():
    """A moto that enforces IAM, with bucket 'iam-bucket' and a read-only user's keys."""
    try:
        server = emulators.start_moto(require_auth=True, setup_requests=4)
    except emulators.EmulatorError as exc:
        pytest.skip(str(exc))
    admin = {
        "endpoint_url": server.endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    try:
        iam, s3 = boto3.client("iam", **admin), boto3.client("s3", **admin)
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        read_only = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "*"}],
        }
        iam.put_user_policy(UserName="reader", PolicyName="read-only", PolicyDocument=json.dumps(read_only))
        s3.create_bucket(Bucket="iam-bucket")  # the last request let through without auth
        yield (
            server,
            AwsCredentials(
                access_key_id=key["AccessKeyId"],
                secret_access_key=key["SecretAccessKey"],
                region_name="us-east-1",
                endpoint_url=server.endpoint,
            ),
        )
    finally:
        server.stop()


@pytest.mark.emulators
def test_s3_wrong_keys_are_reported_as_rejected_credentials_without_the_secret(moto_with_iam):
    server, _ = moto_with_iam
    secret = "wrong-secret-value-1234"
    creds = AwsCredentials(
        access_key_id="AKIAWRONGWRONGWRONG",
        secret_access_key=secret,
        region_name="us-east-1",
        endpoint_url=server.endpoint,
    )
    store = open_store(parse_uri("s3://iam-bucket"), StoreCredentials(aws=creds))

    with pytest.raises(SkyUserError) as caught:
        store.check_bucket("iam-bucket", write=False)

    message = str(caught.value)
    assert "rejected the credentials" in message and "'iam-bucket'" in message
    assert secret not in message


@pytest.mark.emulators
def test_s3_read_only_identity_is_denied_for_writing_and_told_which_permissions(moto_with_iam):
    _, reader = moto_with_iam
    store = open_store(parse_uri("s3://iam-bucket"), StoreCredentials(aws=reader))
    store.check_bucket("iam-bucket", write=False)

    with pytest.raises(SkyUserError) as caught:
        store.check_bucket("iam-bucket", write=True)

    message = str(caught.value)
    assert "Access denied to S3 bucket 'iam-bucket' (write to s3://iam-bucket" in message
    assert "s3:PutObject" in message and reader.secret_access_key not in message


@pytest.mark.emulators
def test_azure_wrong_account_key_is_reported_without_the_key(fresh_bucket):
    fresh = fresh_bucket("azure")
    wrong_key = "A" * 20 + emulators.AZURITE_KEY[20:]
    store = open_store(
        parse_uri(f"azure://{emulators.AZURITE_ACCOUNT}/{fresh.bucket}"),
        StoreCredentials(
            azure=AzureCredentials(
                account_name=emulators.AZURITE_ACCOUNT, account_key=wrong_key, account_url=fresh.emulator.endpoint
            )
        ),
    )

    with pytest.raises(SkyUserError) as caught:
        store.check_bucket(fresh.bucket, write=False)

    message = str(caught.value)
    assert "credentials" in message and f"'{fresh.bucket}'" in message
    assert wrong_key not in message


def test_gcs_unreadable_key_file_is_a_user_error_naming_the_file(tmp_path):
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps({"type": "service_account", "private_key": "-----BEGIN secret-----"}))

    with pytest.raises(SkyUserError) as caught:
        open_store(parse_uri("gs://bucket-x"), StoreCredentials(gcp=GcpCredentials(key_path=str(key_file))))

    assert str(key_file) in str(caught.value)
    assert "BEGIN secret" not in str(caught.value)


def test_azure_credentials_for_another_account_are_refused_up_front():
    creds = StoreCredentials(azure=AzureCredentials(account_name="otheraccount", account_key="a2V5"))

    with pytest.raises(SkyUserError, match=r"account 'otheraccount'.*names account 'myaccount'"):
        open_store(parse_uri("azure://myaccount/container/key"), creds)


@pytest.mark.emulators
def test_azure_connection_string_with_blob_endpoint_reaches_azurite(fresh_bucket):
    fresh = fresh_bucket("azure")
    fresh.store.put(fresh.bucket, "k", b"v", hashlib.md5(b"v").digest(), {})
    creds = AzureCredentials(connection_string=emulators.azurite_connection_string(fresh.emulator.endpoint))

    store = open_store(parse_uri(f"azure://{emulators.AZURITE_ACCOUNT}/{fresh.bucket}"), StoreCredentials(azure=creds))

    assert [i.key for i in store.list(fresh.bucket, "")] == ["k"]


def test_store_cache_shares_one_store_per_scheme_and_account():
    creds = StoreCredentials(azure=AzureCredentials(account_name="acct1", account_key="a2V5"))
    with StoreCache(creds) as cache:
        first = cache.get(parse_uri("s3://bucket-a/x"))
        again = cache.get(parse_uri("s3://bucket-b/y"))
        azure = cache.get(parse_uri("azure://acct1/container/z"))

    assert first is again
    assert type(first).__name__ == "S3Store" and type(azure).__name__ == "AzureBlobStore"


def test_unknown_aws_profile_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))

    with pytest.raises(SkyUserError, match="AWS profile 'no-such-profile' is not configured"):
        open_store(parse_uri("s3://bucket-x"), StoreCredentials(aws=AwsCredentials(profile_name="no-such-profile")))


def test_unreachable_s3_endpoint_is_reported_with_the_endpoint():
    endpoint = f"http://127.0.0.1:{emulators.free_port()}"  # nothing listens there
    creds = AwsCredentials(access_key_id="a", secret_access_key="b", region_name="us-east-1", endpoint_url=endpoint)

    with pytest.raises(SkyUserError, match=f"Cannot reach S3 for bucket 'bkt-x' \\(endpoint {endpoint}\\)"):
        open_store(parse_uri("s3://bkt-x"), StoreCredentials(aws=creds)).check_bucket("bkt-x", write=False)


@pytest.mark.emulators
def test_azure_read_only_sas_token_is_denied_for_writing_and_named_as_such(fresh_bucket):
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    fresh = fresh_bucket("azure")
    token = generate_container_sas(
        emulators.AZURITE_ACCOUNT,
        fresh.bucket,
        account_key=emulators.AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
    )
    creds = AzureCredentials(
        account_name=emulators.AZURITE_ACCOUNT, sas_token=token, account_url=fresh.emulator.endpoint
    )
    store = open_store(parse_uri(f"azure://{emulators.AZURITE_ACCOUNT}/{fresh.bucket}"), StoreCredentials(azure=creds))
    store.check_bucket(fresh.bucket, write=False)

    with pytest.raises(SkyUserError) as caught:
        store.check_bucket(fresh.bucket, write=True)

    message = str(caught.value)
    assert f"Access denied to Azure container '{fresh.bucket}' (write to" in message
    assert "SAS token with read, write, delete and list" in message
    assert token not in message and "sig=" not in message


@pytest.mark.emulators
def test_gcs_service_account_refused_by_the_token_server_is_reported_as_rejected_credentials(fresh_bucket):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    fresh = fresh_bucket("gs")
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    key = {
        "type": "service_account",
        "project_id": "sky-test",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "sky@sky-test.iam.gserviceaccount.com",
        "client_id": "1",
        # fake-gcs-server has no token endpoint: it answers 404, as Google answers a deleted key with 400.
        "token_uri": f"{fresh.emulator.endpoint}/token",
    }
    creds = GcpCredentials(service_account_info=key, endpoint_url=fresh.emulator.endpoint)
    store = open_store(parse_uri(f"gs://{fresh.bucket}"), StoreCredentials(gcp=creds))

    with pytest.raises(SkyUserError) as caught:
        store.check_bucket(fresh.bucket, write=False)

    message = str(caught.value)
    assert f"Google Cloud rejected the credentials used for bucket '{fresh.bucket}'" in message
    assert "PRIVATE KEY" not in message
