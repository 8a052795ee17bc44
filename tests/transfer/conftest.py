"""Fixtures for engine tests: a watched file:// store and source/destination directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_sky.stores.local import LocalStore
from tests.transfer.helpers import WatchedStore, watch


@pytest.fixture
def local() -> WatchedStore:
    """A watched LocalStore (fsync off: these tests check logic, not durability)."""
    return watch(LocalStore(fsync=False))


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "src"
    path.mkdir()
    return path


@pytest.fixture
def dst(tmp_path: Path) -> Path:
    return tmp_path / "dst"
