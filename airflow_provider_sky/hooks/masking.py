"""Inside Airflow: our redaction on the worker's log records, our secrets in Airflow's masker.

Airflow masks the connection fields it loads itself, but not the credentials this provider
builds from them (a connection string assembled from parts, a SAS token read from an extra)
nor credential shapes in the SDKs' debug lines. So the hooks call :func:`mask_in_airflow`:
every value :mod:`airflow_provider_sky.redact` knows, now or later, also goes to Airflow's
``mask_secret``, and standard-library log records (botocore, urllib3, azure-core) are redacted
as they are created, before Airflow's handlers see them.
"""

from __future__ import annotations

from airflow_provider_sky import redact


def mask_in_airflow() -> None:
    """Idempotent; call before any credential is loaded in a task."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # older task SDKs keep it here
        from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]

    redact.add_listener(mask_secret)
    redact.install()
