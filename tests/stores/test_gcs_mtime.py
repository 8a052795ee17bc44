"""A GCS object's modification time read from the listing's text equals the SDK's parse of it."""

from __future__ import annotations

import pytest
from google.cloud import storage  # type: ignore[attr-defined]

from airflow_provider_sky.stores.gcs import _info


def _blob(resource: dict[str, str]) -> storage.Blob:
    """A blob as a listing page builds it from the JSON API's object resource."""
    blob = storage.Blob(resource["name"], storage.Bucket(None, resource["bucket"]))
    blob._set_properties(resource)
    return blob


@pytest.mark.parametrize("updated", [
    "2026-12-02T18:51:11.123Z", "2026-12-02T18:51:11Z", "2026-12-02T18:51:11.123456Z",
    "2026-12-02T18:51:11.123456789Z",
])  # fmt: skip
def test_updated_text_gives_the_sdks_timestamp(updated: str) -> None:
    blob = _blob({"name": "k", "bucket": "b", "size": "3", "updated": updated})
    assert blob.updated is not None
    assert _info(blob).mtime == pytest.approx(blob.updated.timestamp(), abs=1e-6)


def test_an_object_without_updated_has_no_mtime() -> None:
    blob = _blob({"name": "k", "bucket": "b", "size": "3"})
    assert _info(blob).mtime is None
