"""Airflow connections -> plain credential objects, in the official providers' formats.

Users already have `aws_default`, `google_cloud_default` and `wasb_default` set up for the
amazon, google and microsoft-azure providers; this module reads those same fields and extras
so no connection has to be written twice. Only the connections for schemes a transfer actually
uses are looked up: a copy from S3 to GCS must not fail because `wasb_default` is missing.

Supported (field names as the official providers read them):
- aws: login/password or extras `aws_access_key_id`/`aws_secret_access_key`, `aws_session_token`,
  `region_name`, `endpoint_url` (also `service_config.s3.endpoint_url`), `profile_name`, `verify`,
  and the provider's deprecated `session_kwargs` holding `region_name` / `profile_name`.
- google_cloud_platform: extras `key_path`, `keyfile_dict` (JSON text or a dict), `project` and
  `is_anonymous` (the provider's "anonymous credentials" box), each also in the legacy
  `extra__google_cloud_platform__<name>` form; for emulators `endpoint_url` (and `anonymous`,
  this project's older spelling of `is_anonymous`).
- wasb: `login` = account name (or client id with `tenant_id`), `password` = account key (or
  client secret), `host` = account URL; extras `connection_string`, `shared_access_key`,
  `account_key`, `sas_token`, `tenant_id`, each also as `extra__wasb__<name>`.
A connection's type must match the scheme it serves (aws for s3://, google_cloud_platform for
gs://, wasb for azure://), and an extra that is not a JSON object is refused, not dropped.
`AIRFLOW_CONN_<ID>` variables are read without importing Airflow (:mod:`env_connections`);
Airflow (metadata DB, secrets backends) is asked only for ids no variable defines.
Role assumption (`role_arn`), Secret Manager keys and workload identity federation are not
read here; such connections fall back to the SDKs' default credential chains.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from airflow_provider_sky.credentials import (
    AwsCredentials,
    AzureCredentials,
    GcpCredentials,
    StoreCredentials,
)
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.hooks.env_connections import connection_from_env, env_variable

DEFAULT_AWS_CONN_ID = "aws_default"
DEFAULT_GCP_CONN_ID = "google_cloud_default"
DEFAULT_AZURE_CONN_ID = "wasb_default"
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
# The connection type each scheme's credentials are read from, as the official providers name them.
CONN_TYPE_FOR_SCHEME = {"s3": "aws", "gs": "google_cloud_platform", "azure": "wasb"}


class ConnectionLike(Protocol):
    """What we read from an Airflow connection (the SDK and the ORM class both have these)."""

    @property
    def conn_id(self) -> str | None: ...

    @property
    def conn_type(self) -> str | None: ...

    @property
    def host(self) -> str | None: ...

    @property
    def login(self) -> str | None: ...

    @property
    def password(self) -> str | None: ...

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def store_credentials_from_connections(
    aws_conn_id: str | None = DEFAULT_AWS_CONN_ID,
    gcp_conn_id: str | None = DEFAULT_GCP_CONN_ID,
    azure_conn_id: str | None = DEFAULT_AZURE_CONN_ID,
    needed_schemes: Iterable[str] = ("s3", "gs", "azure"),
) -> StoreCredentials:
    """Credentials for the schemes in `needed_schemes`; the others keep their defaults.

    A conn id of None means "no connection": the cloud SDK's own default chain is used (env
    variables, instance role, application default credentials).
    """
    schemes = set(needed_schemes)
    aws = AwsCredentials()
    gcp = GcpCredentials()
    azure = AzureCredentials()
    if "s3" in schemes and aws_conn_id:
        aws = aws_credentials_from_connection(connection_for("s3", aws_conn_id))
    if "gs" in schemes and gcp_conn_id:
        gcp = gcp_credentials_from_connection(connection_for("gs", gcp_conn_id))
    if "azure" in schemes and azure_conn_id:
        azure = azure_credentials_from_connection(connection_for("azure", azure_conn_id))
    return StoreCredentials(aws=aws, gcp=gcp, azure=azure)


def connection_for(scheme: str, conn_id: str) -> ConnectionLike:
    """Connection `conn_id`, refused when its type cannot hold credentials for `scheme`."""
    conn = get_connection(conn_id)
    expected = CONN_TYPE_FOR_SCHEME[scheme]
    if conn.conn_type and conn.conn_type != expected:
        raise SkyUserError(
            f"connection {conn_id!r} is of type {conn.conn_type!r}, but {scheme}:// needs a {expected!r} connection",
            f"name a {expected} connection for {scheme}:// (or change {conn_id!r} to conn_type {expected!r})",
        )
    return conn


def get_connection(conn_id: str) -> ConnectionLike:
    """Connection `conn_id`: from its `AIRFLOW_CONN_<ID>` variable, else from Airflow.

    The variable is what Airflow itself would read first, parsed here without importing Airflow
    and more strictly (malformed text is an error naming the variable, not "not defined").
    """
    from_env = connection_from_env(conn_id)
    if from_env is not None:
        _mask_in_airflow(from_env)
        return from_env
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise SkyUserError(
            f"Airflow connection {conn_id!r} is not defined",
            f"create it with `airflow connections add {conn_id} --conn-type TYPE ...` (or in the UI under "
            f"Admin > Connections), or set the environment variable {env_variable(conn_id)} to its "
            "URI or JSON, or pass a different conn id to the operator",
        ) from exc


def _mask_in_airflow(conn: ConnectionLike) -> None:
    """Inside Airflow, hand this connection's secrets to its log masker, as its own lookup would."""
    if "airflow.sdk" not in sys.modules:  # the plain CLI: nothing to register with, nothing to import
        return
    from airflow.sdk.log import mask_secret

    if conn.password:
        mask_secret(conn.password)
    if conn.extra_dejson:
        mask_secret(conn.extra_dejson)  # masks the values of sensitive keys (secret, key, token, ...)


def extra_of(conn: ConnectionLike) -> dict[str, Any]:
    """The connection's extra as a dict; text that is not a JSON object is refused.

    Airflow's `extra_dejson` logs and returns {} for such text, which would drop an
    `endpoint_url` and send real credentials to the real cloud.
    """
    raw = getattr(conn, "extra", None)
    if isinstance(raw, str) and raw.strip():
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            parsed = exc
        if not isinstance(parsed, dict):
            raise SkyUserError(
                f"the extra of connection {conn.conn_id!r} is not a JSON object",
                'write the extra as a JSON object, e.g. {"region_name": "us-east-1"} '
                f"(airflow connections add {conn.conn_id} --conn-extra '{{...}}')",
            )
        return parsed
    return dict(conn.extra_dejson or {})


def aws_credentials_from_connection(conn: ConnectionLike) -> AwsCredentials:
    """The amazon provider's `aws` connection format."""
    extra = extra_of(conn)
    service_config = extra.get("service_config") or {}
    s3_config = service_config.get("s3") if isinstance(service_config, Mapping) else None
    s3_config = s3_config if isinstance(s3_config, Mapping) else {}
    session_kwargs = extra.get("session_kwargs")
    session: Mapping[str, Any] = session_kwargs if isinstance(session_kwargs, Mapping) else {}
    return AwsCredentials(
        access_key_id=conn.login or extra.get("aws_access_key_id") or None,
        secret_access_key=conn.password or extra.get("aws_secret_access_key") or None,
        session_token=extra.get("aws_session_token") or None,
        region_name=extra.get("region_name") or session.get("region_name") or None,
        endpoint_url=s3_config.get("endpoint_url") or extra.get("endpoint_url") or None,
        profile_name=extra.get("profile_name") or session.get("profile_name") or None,
        verify=_verify(extra.get("verify")),
    )


def gcp_credentials_from_connection(conn: ConnectionLike) -> GcpCredentials:
    """The google provider's `google_cloud_platform` connection format (plus emulator extras)."""
    extra = extra_of(conn)

    def field(name: str) -> Any:
        value = extra.get(name)
        if value in (None, ""):
            value = extra.get(f"extra__google_cloud_platform__{name}")
        return None if value == "" else value

    keyfile = field("keyfile_dict")
    info: dict[str, Any] | None = None
    if isinstance(keyfile, Mapping):
        info = dict(keyfile)
    elif isinstance(keyfile, str):
        try:
            info = json.loads(keyfile)
        except json.JSONDecodeError as exc:  # never echo the text: it is a private key
            raise SkyUserError(
                f"keyfile_dict of connection {conn.conn_id!r} is not valid JSON (line {exc.lineno})",
                "paste the whole service-account JSON key file into keyfile_dict, or use key_path",
            ) from None
    return GcpCredentials(
        service_account_info=info,
        key_path=field("key_path"),
        project_id=field("project") or (info or {}).get("project_id"),
        endpoint_url=field("endpoint_url"),
        anonymous=_flag(field("is_anonymous")) or _flag(field("anonymous")),
    )


def azure_credentials_from_connection(conn: ConnectionLike) -> AzureCredentials:
    """The microsoft-azure provider's `wasb` connection format."""
    extra = extra_of(conn)

    def field(name: str) -> Any:
        return extra.get(name) or extra.get(f"extra__wasb__{name}") or None

    connection_string = field("connection_string")
    if connection_string:
        return AzureCredentials(connection_string=connection_string)
    account_url = _account_url(conn.host, conn.login)
    tenant = field("tenant_id")
    if tenant:  # service principal: login/password are the application's id and secret
        return AzureCredentials(
            account_name=_account_from_url(account_url),
            account_url=account_url,
            tenant_id=tenant,
            client_id=conn.login or None,
            client_secret=conn.password or None,
        )
    account_name = conn.login or _account_from_url(account_url)
    key = field("shared_access_key")
    sas_token = field("sas_token")
    if sas_token and not key:
        return AzureCredentials(account_name=account_name, account_url=account_url, sas_token=sas_token)
    return AzureCredentials(
        account_name=account_name,
        account_key=key or conn.password or field("account_key"),
        account_url=account_url,
    )


def _account_url(host: str | None, login: str | None) -> str | None:
    """Like the wasb hook: a full URL, a bare DNS name, or nothing (account from login)."""
    if host:
        url = host if "://" in host else f"https://{host}"
        return url.rstrip("/")
    return f"https://{login}.blob.core.windows.net" if login else None


def _account_from_url(url: str | None) -> str | None:
    """The account an account URL serves: its first DNS label, or Azurite's first path segment."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host.endswith(".blob.core.windows.net") or (host.count(".") >= 2 and not host[0].isdigit()):
        return host.split(".", 1)[0]
    segment = parts.path.strip("/").split("/", 1)[0]
    return segment or None


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)


def _verify(value: Any) -> bool | str | None:
    """`verify` is a bool or a CA bundle path; URI extras arrive as text."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return value or None
    return value if isinstance(value, bool) else None
