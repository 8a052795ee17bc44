"""Where prices come from, and the parsed-catalog cache.

Three sources, first match wins per cloud:

1. ``user-dir``: a full SkyPilot catalog directory the user points at (``--catalog-dir``, the
   ``catalog_dir`` argument, or ``AIRFLOW_SKY_CATALOG_DIR``), laid out ``<dir>/<cloud>/vms.csv``
   like ``~/.sky/catalogs/v8``.
2. ``refreshed``: what ``airflow-sky catalog refresh`` built from the clouds' own price APIs,
   under ``$AIRFLOW_SKY_CACHE_DIR`` or ``~/.cache/airflow-sky/catalogs/v8/<cloud>/vms.csv``.
3. ``packaged``: the copies shipped in ``catalog_data/`` (offline default; partial for AWS).

Parsed catalogs are cached by (path, size, mtime), so a scheduler that plans many tasks parses
each file once and a refresh is picked up without a restart.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from importlib import resources as importlib_resources
from pathlib import Path

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch.catalog.schema import iter_rows
from airflow_provider_sky.launch.catalog.table import CloudCatalog

CLOUDS = ("aws", "gcp", "azure", "local")
PRICED_CLOUDS = ("aws", "gcp", "azure")
SCHEMA_VERSION = "v8"

_PACKAGED_FILES = {
    "aws": "aws_vms.csv",
    "gcp": "v8/gcp/vms.csv.gz",
    "azure": "v8/azure/vms.csv.gz",
    "local": "local/vms.csv",
}


def packaged_dir() -> Path:
    return Path(str(importlib_resources.files("airflow_provider_sky.launch") / "catalog_data"))


def cache_dir() -> Path:
    """Root of refreshed catalogs (``.../catalogs/v8``); env overrides for tests and read-only homes."""
    env = os.environ.get("AIRFLOW_SKY_CACHE_DIR")
    if env:
        return Path(env).expanduser() / "catalogs" / SCHEMA_VERSION
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "airflow-sky" / "catalogs" / SCHEMA_VERSION


def user_dir(catalog_dir: str | os.PathLike[str] | None) -> Path | None:
    text = os.fspath(catalog_dir) if catalog_dir else os.environ.get("AIRFLOW_SKY_CATALOG_DIR")
    if not text:
        return None
    path = Path(text).expanduser()
    if not path.is_dir():
        raise SkyUserError(
            f"Catalog directory {str(path)!r} does not exist",
            "point at a SkyPilot v8 catalog directory such as ~/.sky/catalogs/v8 (holding <cloud>/vms.csv)",
        )
    return path


@dataclass(frozen=True)
class SourceChoice:
    """Which file a cloud's prices come from, and which of the three sources that is."""

    cloud: str
    source: str  # "user-dir" | "refreshed" | "packaged"
    path: Path


def choose_source(cloud: str, catalog_dir: str | os.PathLike[str] | None = None) -> SourceChoice:
    """Pick the file for ``cloud`` following the source order in the module docstring."""
    if cloud not in CLOUDS:
        raise SkyUserError(f"Unknown cloud {cloud!r}", f"use one of {', '.join(CLOUDS)}")
    user = user_dir(catalog_dir)
    if user is not None:
        path = user / cloud / "vms.csv"
        if path.is_file():
            return SourceChoice(cloud, "user-dir", path)
    if cloud != "local":
        refreshed = cache_dir() / cloud / "vms.csv"
        if refreshed.is_file():
            return SourceChoice(cloud, "refreshed", refreshed)
    return SourceChoice(cloud, "packaged", packaged_dir() / _PACKAGED_FILES[cloud])


_CACHE: dict[tuple[str, int, int], CloudCatalog] = {}
_LOCK = threading.Lock()


def load_catalog(cloud: str, catalog_dir: str | os.PathLike[str] | None = None) -> CloudCatalog:
    """The parsed catalog for ``cloud`` from the best available source (cached)."""
    choice = choose_source(cloud, catalog_dir)
    return load_file(cloud, choice.path, choice.source)


def load_file(cloud: str, path: Path, source: str = "user-dir") -> CloudCatalog:
    """Parse one v8 ``vms.csv`` (cached by path, size and mtime)."""
    stat = path.stat()
    key = (f"{cloud}:{path}", stat.st_size, stat.st_mtime_ns)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    catalog = CloudCatalog.from_rows(cloud, iter_rows(path), source=source, path=str(path))
    if len(catalog) == 0 and catalog.gpus is None:  # rows there may be, but none is launchable
        why = ", ".join(f"{reason}: {n}" for reason, n in sorted(catalog.dropped.items())) or "no rows"
        raise SkyUserError(
            f"Catalog file '{path}' has no launchable row ({why})",
            "give rows with a Region and a numeric Price, or rerun 'airflow-sky catalog refresh'",
        )
    with _LOCK:
        for old in [k for k in _CACHE if k[0] == key[0]]:
            del _CACHE[old]
        _CACHE[key] = catalog
    return catalog


def clear_cache() -> None:
    """Forget parsed catalogs (benchmarks measure cold starts with this)."""
    with _LOCK:
        _CACHE.clear()
