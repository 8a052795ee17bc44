"""Plain credential objects, so the core runs without Airflow.

The Airflow face fills these from connections (`aws_default`, `google_cloud_default`,
`wasb_default`) in the formats the official providers use; plain Python callers build them
directly. Secrets never appear in `repr`, so a credential object can be logged safely, and each
secret is registered with :mod:`airflow_provider_sky.redact` when the object is built, so no log
line or error message can show it either, whichever path loaded it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from airflow_provider_sky import redact


class _KeepsSecrets:
    """Masks the fields named in ``SECRETS``: in ``repr``, and in every log line once built."""

    SECRETS: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for name in self.SECRETS:
            value = getattr(self, name)
            redact.register(value.get("private_key") if isinstance(value, dict) else value)

    def __repr__(self) -> str:
        return _redacted_repr(self, self.SECRETS)


def _redacted_repr(obj: Any, secret_fields: tuple[str, ...]) -> str:
    parts = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value in (None, "", {}):
            continue
        parts.append(f"{f.name}={'***' if f.name in secret_fields else repr(value)}")
    return f"{type(obj).__name__}({', '.join(parts)})"


@dataclass(frozen=True, repr=False)
class AwsCredentials(_KeepsSecrets):
    """Static keys, a named profile, or nothing (boto3's default chain: env, role, IMDS)."""

    SECRETS = ("secret_access_key", "session_token")

    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    region_name: str | None = None
    endpoint_url: str | None = None  # S3-compatible endpoint (moto, MinIO, ...)
    profile_name: str | None = None
    verify: bool | str | None = None


@dataclass(frozen=True, repr=False)
class GcpCredentials(_KeepsSecrets):
    """A service-account key (dict or file path), anonymous access (emulators), or ADC."""

    SECRETS = ("service_account_info",)

    service_account_info: dict[str, Any] | None = None
    key_path: str | None = None
    project_id: str | None = None
    endpoint_url: str | None = None  # e.g. http://127.0.0.1:4443 for fake-gcs-server
    anonymous: bool = False


@dataclass(frozen=True, repr=False)
class AzureCredentials(_KeepsSecrets):
    """A connection string, an account key, a SAS token, a service principal, or the default chain."""

    SECRETS = ("account_key", "connection_string", "sas_token", "client_secret")

    account_name: str | None = None
    account_key: str | None = None
    connection_string: str | None = None
    sas_token: str | None = None
    account_url: str | None = None  # e.g. http://127.0.0.1:10000/devstoreaccount1 for Azurite
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


@dataclass(frozen=True)
class StoreCredentials:
    """The credentials for every cloud a transfer may touch; unused ones stay at their defaults."""

    aws: AwsCredentials = field(default_factory=AwsCredentials)
    gcp: GcpCredentials = field(default_factory=GcpCredentials)
    azure: AzureCredentials = field(default_factory=AzureCredentials)
