"""The store a gateway reads or writes, as plain data for its program.

Credentials travel to a gateway only inside its program, over the control API's TLS with the
job's bearer token; the gateway keeps them in memory. The runner may override the endpoint a
gateway sees (in the testbed, a region's emulator is on the loopback of that region's
namespace, not where the runner reaches it).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from airflow_provider_sky.credentials import AwsCredentials, AzureCredentials, GcpCredentials, StoreCredentials
from airflow_provider_sky.stores.base import ObjectStore
from airflow_provider_sky.stores.registry import open_store
from airflow_provider_sky.uri import ObjectURI, parse_uri


def credentials_to_dict(credentials: StoreCredentials) -> dict[str, Any]:
    return dataclasses.asdict(credentials)


def credentials_from_dict(doc: dict[str, Any]) -> StoreCredentials:
    return StoreCredentials(
        aws=AwsCredentials(**doc.get("aws", {})),
        gcp=GcpCredentials(**doc.get("gcp", {})),
        azure=AzureCredentials(**doc.get("azure", {})),
    )


def with_endpoint(credentials: StoreCredentials, scheme: str, endpoint: str | None) -> StoreCredentials:
    """The same credentials with the endpoint of ``scheme``'s store replaced (None: unchanged)."""
    if not endpoint:
        return credentials
    if scheme == "s3":
        return dataclasses.replace(credentials, aws=dataclasses.replace(credentials.aws, endpoint_url=endpoint))
    if scheme == "gs":
        return dataclasses.replace(credentials, gcp=dataclasses.replace(credentials.gcp, endpoint_url=endpoint))
    if scheme == "azure":
        return dataclasses.replace(credentials, azure=dataclasses.replace(credentials.azure, account_url=endpoint))
    return credentials


def store_config(uri: str, credentials: StoreCredentials, endpoint: str | None = None) -> dict[str, Any]:
    """What goes into a program's ``store``: the URI and the credentials this gateway uses."""
    scheme = parse_uri(uri).scheme
    return {"uri": uri, "credentials": credentials_to_dict(with_endpoint(credentials, scheme, endpoint))}


def open_configured(config: dict[str, Any]) -> tuple[ObjectStore, ObjectURI]:
    uri = parse_uri(config["uri"])
    return open_store(uri, credentials_from_dict(config.get("credentials", {}))), uri
