"""Fixtures every part of the suite shares: a private Airflow home and the storage emulators.

The environment is set at import time, before any test module imports Airflow, so no test
ever reads or writes ~/airflow. Emulators are started once per session and only when a test
asks for them. When one cannot start, its tests skip with the reason; in CI (CI=true) they fail
instead, so a broken machine is never mistaken for a green run.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="sky-test-airflow-home-")
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
atexit.register(shutil.rmtree, _AIRFLOW_HOME, True)

from hypothesis import settings  # noqa: E402

# CI replays the same examples every run (a red build always reproduces); developers get fresh
# random examples each run, which is where new counterexamples come from.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")

from airflow_provider_sky.devtools import emulators  # noqa: E402 - after the environment is set
from airflow_provider_sky.stores.base import ObjectStore  # noqa: E402

CLOUD_SCHEMES = ("s3", "gs", "azure")
_EMULATOR_FIXTURE = {"s3": "s3_emulator", "gs": "gcs_emulator", "azure": "azure_emulator"}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"emulator unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"emulator unavailable: {reason}")


def _session_emulator(start: Callable[[], emulators.Emulator]) -> Iterator[emulators.Emulator]:
    try:
        emulator = start()
    except emulators.EmulatorError as exc:
        _unavailable(str(exc))
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def s3_emulator() -> Iterator[emulators.Emulator]:
    yield from _session_emulator(emulators.start_moto)


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[emulators.Emulator]:
    yield from _session_emulator(emulators.start_fake_gcs)


@pytest.fixture(scope="session")
def azure_emulator() -> Iterator[emulators.Emulator]:
    yield from _session_emulator(emulators.start_azurite)


@dataclass
class FreshBucket:
    """A new, empty bucket on one store, and a store instance to use it with."""

    scheme: str
    bucket: str
    store: ObjectStore
    emulator: emulators.Emulator | None  # None for file://
    key_prefix: str = ""  # file:// has no buckets: keys live under a temp directory

    def key(self, name: str) -> str:
        return self.key_prefix + name

    @property
    def url(self) -> str:
        if self.scheme == "azure":
            return f"azure://{emulators.AZURITE_ACCOUNT}/{self.bucket}/{self.key_prefix}"
        if self.scheme == "file":
            return f"file:///{self.key_prefix}"
        return f"{self.scheme}://{self.bucket}/"


@pytest.fixture
def fresh_bucket(request: pytest.FixtureRequest, tmp_path) -> Iterator[Callable[..., FreshBucket]]:
    """`fresh_bucket("gs", page_size=2)`: a uniquely named empty bucket; stores are closed after."""
    made: list[ObjectStore] = []

    def make(scheme: str, **store_options: object) -> FreshBucket:
        if scheme == "file":
            from airflow_provider_sky.stores.local import LocalStore

            root = tmp_path / f"bucket-{uuid.uuid4().hex[:8]}"
            root.mkdir()
            return FreshBucket("file", "", LocalStore(**store_options), None, str(root).lstrip("/") + "/")
        emulator: emulators.Emulator = request.getfixturevalue(_EMULATOR_FIXTURE[scheme])
        name = f"sky-{uuid.uuid4().hex[:16]}"
        emulator.create_bucket(name)
        store = emulator.open_store(**store_options)
        made.append(store)
        return FreshBucket(scheme, name, store, emulator)

    yield make
    for store in made:
        store.close()
