"""Airflow connections in the official providers' formats become the right credential objects."""

from __future__ import annotations

import hashlib
import json

import pytest
from airflow.models.connection import Connection

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.hooks.connections import (
    aws_credentials_from_connection,
    azure_credentials_from_connection,
    gcp_credentials_from_connection,
    store_credentials_from_connections,
)
from airflow_provider_sky.stores.registry import open_store
from airflow_provider_sky.uri import parse_uri

SERVICE_ACCOUNT = {"type": "service_account", "project_id": "proj-from-key", "client_email": "a@b.iam"}


def test_aws_login_and_password_are_the_key_pair_and_extras_fill_the_rest():
    conn = Connection(
        conn_id="a",
        conn_type="aws",
        login="AKIAEXAMPLE",
        password="secret/key",
        extra={
            "region_name": "eu-west-1",
            "endpoint_url": "http://moto:5000",
            "aws_session_token": "tok",
            "verify": "false",
            "profile_name": "dev",
        },
    )

    creds = aws_credentials_from_connection(conn)

    assert (creds.access_key_id, creds.secret_access_key, creds.session_token) == ("AKIAEXAMPLE", "secret/key", "tok")
    assert (creds.region_name, creds.endpoint_url, creds.profile_name) == ("eu-west-1", "http://moto:5000", "dev")
    assert creds.verify is False
    assert "secret/key" not in repr(creds)


def test_aws_keys_in_extras_and_the_s3_service_endpoint_are_read():
    conn = Connection(
        conn_id="a",
        conn_type="aws",
        extra={
            "aws_access_key_id": "AKIA2",
            "aws_secret_access_key": "s2",
            "endpoint_url": "http://general:1",
            "service_config": {"s3": {"endpoint_url": "http://s3-only:2"}},
        },
    )

    creds = aws_credentials_from_connection(conn)

    assert (creds.access_key_id, creds.secret_access_key) == ("AKIA2", "s2")
    assert creds.endpoint_url == "http://s3-only:2"


def test_aws_connection_from_an_env_var_uri(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SKY_AWS_URI",
        "aws://AKIA3:se%2Fcret@/?region_name=us-east-2&endpoint_url=http%3A%2F%2F127.0.0.1%3A5000",
    )

    creds = store_credentials_from_connections(aws_conn_id="sky_aws_uri", needed_schemes=["s3"]).aws

    assert (creds.access_key_id, creds.secret_access_key) == ("AKIA3", "se/cret")
    assert (creds.region_name, creds.endpoint_url) == ("us-east-2", "http://127.0.0.1:5000")


@pytest.mark.parametrize("keyfile", [json.dumps(SERVICE_ACCOUNT), SERVICE_ACCOUNT])
def test_gcp_keyfile_dict_as_json_text_or_dict(keyfile):
    conn = Connection(conn_id="g", conn_type="google_cloud_platform", extra={"keyfile_dict": keyfile})

    creds = gcp_credentials_from_connection(conn)

    assert creds.service_account_info == SERVICE_ACCOUNT
    assert creds.project_id == "proj-from-key"


def test_gcp_legacy_prefixed_extras_and_emulator_extras():
    conn = Connection(
        conn_id="g",
        conn_type="google_cloud_platform",
        extra={
            "extra__google_cloud_platform__key_path": "/keys/sa.json",
            "extra__google_cloud_platform__project": "legacy-proj",
            "endpoint_url": "http://127.0.0.1:4443",
            "anonymous": "true",
        },
    )

    creds = gcp_credentials_from_connection(conn)

    assert (creds.key_path, creds.project_id) == ("/keys/sa.json", "legacy-proj")
    assert (creds.endpoint_url, creds.anonymous) == ("http://127.0.0.1:4443", True)


def test_gcp_keyfile_that_is_not_json_is_a_user_error_that_does_not_echo_it():
    conn = Connection(
        conn_id="g", conn_type="google_cloud_platform", extra={"keyfile_dict": "{'private_key': 'PRIVATE-MATERIAL'"}
    )

    with pytest.raises(SkyUserError) as caught:
        gcp_credentials_from_connection(conn)

    assert "'g'" in str(caught.value) and "PRIVATE-MATERIAL" not in str(caught.value)


def test_wasb_login_password_host_are_account_key_and_url():
    conn = Connection(
        conn_id="w",
        conn_type="wasb",
        login="devstoreaccount1",
        password="a2V5",
        host="http://127.0.0.1:10000/devstoreaccount1",
    )

    creds = azure_credentials_from_connection(conn)

    assert (creds.account_name, creds.account_key) == ("devstoreaccount1", "a2V5")
    assert creds.account_url == "http://127.0.0.1:10000/devstoreaccount1"


@pytest.mark.parametrize("name", ["connection_string", "extra__wasb__connection_string"])
def test_wasb_connection_string_takes_priority(name):
    conn = Connection(
        conn_id="w",
        conn_type="wasb",
        login="acct",
        password="pw",
        extra={name: "AccountName=acct;AccountKey=a2V5;BlobEndpoint=http://h/acct;"},
    )

    creds = azure_credentials_from_connection(conn)

    assert creds.connection_string.startswith("AccountName=acct;")
    assert creds.account_key is None


def test_wasb_tenant_makes_login_and_password_a_service_principal():
    conn = Connection(
        conn_id="w",
        conn_type="wasb",
        login="app-id",
        password="app-secret",
        host="https://myacct.blob.core.windows.net",
        extra={"tenant_id": "tenant-1"},
    )

    creds = azure_credentials_from_connection(conn)

    assert (creds.tenant_id, creds.client_id, creds.client_secret) == ("tenant-1", "app-id", "app-secret")
    assert creds.account_name == "myacct" and creds.account_key is None


def test_wasb_sas_token_and_shared_access_key():
    sas = Connection(conn_id="w", conn_type="wasb", login="acct", extra={"sas_token": "sv=2024&sig=x"})
    shared = Connection(conn_id="w", conn_type="wasb", login="acct", extra={"shared_access_key": "c2hhcmVk"})

    assert azure_credentials_from_connection(sas).sas_token == "sv=2024&sig=x"
    assert azure_credentials_from_connection(sas).account_url == "https://acct.blob.core.windows.net"
    assert azure_credentials_from_connection(shared).account_key == "c2hhcmVk"


def test_unknown_connection_id_says_how_to_define_it():
    with pytest.raises(SkyUserError) as caught:
        store_credentials_from_connections(gcp_conn_id="sky_missing_conn", needed_schemes=["gs"])

    message = str(caught.value)
    assert "'sky_missing_conn'" in message
    assert "airflow connections add sky_missing_conn" in message and "AIRFLOW_CONN_SKY_MISSING_CONN" in message


def test_only_connections_for_used_schemes_are_looked_up(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SKY_ONLY_AWS", json.dumps({"conn_type": "aws", "login": "AKIA4"}))

    creds = store_credentials_from_connections(
        aws_conn_id="sky_only_aws",
        gcp_conn_id="sky_absent_gcp",
        azure_conn_id="sky_absent_wasb",
        needed_schemes={"s3", "file"},
    )

    assert creds.aws.access_key_id == "AKIA4"
    assert creds.gcp.key_path is None and creds.azure.account_name is None


@pytest.mark.emulators
@pytest.mark.parametrize("scheme", ["s3", "gs", "azure"])
def test_emulator_connection_env_vars_reach_the_emulator(fresh_bucket, monkeypatch, scheme):
    fresh = fresh_bucket(scheme)
    for name, value in fresh.emulator.airflow_env().items():
        monkeypatch.setenv(name, value)

    creds = store_credentials_from_connections(needed_schemes=[scheme])
    store = open_store(parse_uri(fresh.url), creds)
    store.put(fresh.bucket, "via-connection", b"x", hashlib.md5(b"x").digest(), {})

    assert [info.key for info in fresh.store.list(fresh.bucket, "")] == ["via-connection"]
    store.close()
