"""Where `airflow-sky cp/sync` takes each cloud's credentials from, and their flags.

For each cloud a copy touches, the first of these that says anything wins:

1. `--aws-conn-id` / `--gcp-conn-id` / `--azure-conn-id`: that connection;
2. the cloud's credential flags on the command line (`--s3-endpoint-url`, `--gcp-key-path`, ...);
3. the official default connection (`aws_default`, `google_cloud_default`, `wasb_default`) when its
   `AIRFLOW_CONN_<ID>` variable is set, as the official providers would use it;
4. that default connection from Airflow's metadata DB or secrets backend, asked only when an
   Airflow installation is configured here (it costs seconds of imports);
5. the cloud SDK's own variables (`AWS_ENDPOINT_URL`, `STORAGE_EMULATOR_HOST`,
   `AZURE_STORAGE_CONNECTION_STRING`, ...);
6. the SDK's default chain (profiles, instance roles, Application Default Credentials).

Steps 3-5 are the official providers' order: their hooks use the default connection wherever
Airflow finds it (environment, secrets backend, DB) and fall back to the SDK's own variables
and chain only when no such connection exists.

Connection variables are parsed without importing Airflow (hooks/env_connections.py).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from airflow_provider_sky.credentials import AwsCredentials, AzureCredentials, GcpCredentials, StoreCredentials
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.hooks.connections import (
    DEFAULT_AWS_CONN_ID,
    DEFAULT_AZURE_CONN_ID,
    DEFAULT_GCP_CONN_ID,
    ConnectionLike,
    aws_credentials_from_connection,
    azure_credentials_from_connection,
    connection_for,
    gcp_credentials_from_connection,
)
from airflow_provider_sky.hooks.env_connections import defined_in_env, env_variable

CloudCredentials = AwsCredentials | GcpCredentials | AzureCredentials

log = logging.getLogger(__name__)

# Per scheme: the conn-id flag's dest, the default conn id, and the credential flags' dests.
_CLOUDS = {
    "s3": ("aws_conn_id", DEFAULT_AWS_CONN_ID, ("s3_endpoint_url", "aws_region", "aws_profile")),
    "gs": ("gcp_conn_id", DEFAULT_GCP_CONN_ID, ("gcs_endpoint_url", "gcp_project", "gcp_key_path")),
    "azure": ("azure_conn_id", DEFAULT_AZURE_CONN_ID, ("azure_connection_string", "azure_account_url")),
}  # fmt: skip
_FROM_CONNECTION: dict[str, Callable[[ConnectionLike], CloudCredentials]] = {
    "s3": aws_credentials_from_connection,
    "gs": gcp_credentials_from_connection,
    "azure": azure_credentials_from_connection,
}


def add_credential_arguments(parser: argparse.ArgumentParser) -> None:
    """The credential flags; each defaults to None so a flag given can be told from none."""
    creds = parser.add_argument_group(
        "credentials",
        "Per cloud, the first that says anything: a --*-conn-id connection; that cloud's flags below; "
        "AIRFLOW_CONN_AWS_DEFAULT / AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT / AIRFLOW_CONN_WASB_DEFAULT; the default "
        "connection in Airflow, when Airflow is configured here; the SDK's variables (named below); the "
        "SDK's default chain.",
    )
    creds.add_argument("--s3-endpoint-url", help="S3-compatible endpoint (env AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)")
    creds.add_argument("--aws-region", help="AWS region (default: AWS_DEFAULT_REGION/profile)")
    creds.add_argument("--aws-profile", help="named profile from ~/.aws")
    creds.add_argument("--gcs-endpoint-url", help="GCS endpoint, e.g. fake-gcs-server (env STORAGE_EMULATOR_HOST)")
    creds.add_argument("--gcp-project", help="GCP project id (env GOOGLE_CLOUD_PROJECT)")
    creds.add_argument("--gcp-key-path", help="service-account JSON key file (env GOOGLE_APPLICATION_CREDENTIALS)")
    creds.add_argument("--azure-connection-string", help="Azure storage connection string "
                       "(env AZURE_STORAGE_CONNECTION_STRING)")  # fmt: skip
    creds.add_argument("--azure-account-url", help="e.g. http://127.0.0.1:10000/devstoreaccount1")
    creds.add_argument("--aws-conn-id", help="read AWS credentials from this Airflow connection")
    creds.add_argument("--gcp-conn-id", help="read GCP credentials from this Airflow connection")
    creds.add_argument("--azure-conn-id", help="read Azure credentials from this Airflow connection")


def credentials_from_args(
    args: argparse.Namespace, schemes: set[str], environ: Mapping[str, str] | None = None
) -> StoreCredentials:
    """Each cloud's credentials for the `schemes` a copy touches, by the order in the docstring."""
    env = os.environ if environ is None else environ
    plain = _from_flags_and_env(args, env)
    chosen: dict[str, Any] = {"s3": plain.aws, "gs": plain.gcp, "azure": plain.azure}
    for scheme in sorted(schemes & set(_CLOUDS)):
        conn_id = _connection_to_read(args, scheme, env)
        if conn_id:
            chosen[scheme] = _FROM_CONNECTION[scheme](_named_connection(scheme, conn_id))
        elif not _flags_given(args, scheme):
            found = _default_from_airflow(scheme, env)
            chosen[scheme] = found if found is not None else chosen[scheme]
    return StoreCredentials(aws=chosen["s3"], gcp=chosen["gs"], azure=chosen["azure"])


def _named_connection(scheme: str, conn_id: str) -> ConnectionLike:
    try:
        return connection_for(scheme, conn_id)
    except ImportError as exc:  # no AIRFLOW_CONN_ variable, and no Airflow to ask
        raise SkyUserError(
            f"connection {conn_id!r} is not set in {env_variable(conn_id)} and Airflow is not installed here "
            "to look it up",
            f"set {env_variable(conn_id)} to the connection's URI or JSON, install Airflow alongside, or pass "
            "credentials with the --s3-/--gcs-/--azure- flags or the SDKs' variables",
        ) from exc


def _connection_to_read(args: argparse.Namespace, scheme: str, env: Mapping[str, str]) -> str | None:
    conn_flag, default_id, flags = _CLOUDS[scheme]
    if getattr(args, conn_flag):
        return getattr(args, conn_flag)
    if any(getattr(args, dest) for dest in flags):
        return None
    return default_id if defined_in_env(default_id, env) else None


def _flags_given(args: argparse.Namespace, scheme: str) -> bool:
    """A credential flag of this cloud is on the command line (flags win over every connection)."""
    return any(getattr(args, dest) for dest in _CLOUDS[scheme][2])


def _default_from_airflow(scheme: str, env: Mapping[str, str]) -> CloudCredentials | None:
    """The default connection from Airflow, when Airflow is configured here and defines it."""
    if not _airflow_configured(env):
        return None
    try:
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:
        return None
    default_id = _CLOUDS[scheme][1]
    try:
        conn = connection_for(scheme, default_id)
    except SkyUserError as exc:
        if not isinstance(exc.__cause__, AirflowNotFoundException):
            raise
        log.debug("no Airflow connection %s: using the SDK's default chain", default_id)
        return None
    return _FROM_CONNECTION[scheme](conn)


def _airflow_configured(env: Mapping[str, str]) -> bool:
    """An Airflow install this shell uses: its airflow.cfg exists, or a DB/secrets backend is set."""
    if env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or env.get("AIRFLOW__SECRETS__BACKEND"):
        return True
    home = Path(env.get("AIRFLOW_HOME") or Path.home() / "airflow").expanduser()
    return (home / "airflow.cfg").is_file()


def _from_flags_and_env(args: argparse.Namespace, env: Mapping[str, str]) -> StoreCredentials:
    gcs_endpoint = args.gcs_endpoint_url or _gcs_emulator(env.get("STORAGE_EMULATOR_HOST"))
    return StoreCredentials(
        aws=AwsCredentials(
            endpoint_url=args.s3_endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL"),
            region_name=args.aws_region,
            profile_name=args.aws_profile,
        ),
        gcp=GcpCredentials(
            endpoint_url=gcs_endpoint,
            project_id=args.gcp_project or env.get("GOOGLE_CLOUD_PROJECT"),
            key_path=args.gcp_key_path or env.get("GOOGLE_APPLICATION_CREDENTIALS"),
            anonymous=(gcs_endpoint or "").startswith("http://"),  # plain HTTP: an emulator
        ),
        azure=AzureCredentials(
            connection_string=args.azure_connection_string or env.get("AZURE_STORAGE_CONNECTION_STRING"),
            account_url=args.azure_account_url,
        ),
    )


def _gcs_emulator(host: str | None) -> str | None:
    if host and "://" not in host:
        host = "http://" + host
    return host
