"""Price catalogs: v8 files from three sources, parsed into numpy columns for the optimizer."""

from airflow_provider_sky.launch.catalog.sources import choose_source, clear_cache, load_catalog, load_file
from airflow_provider_sky.launch.catalog.table import CloudCatalog

__all__ = ["CloudCatalog", "choose_source", "clear_cache", "load_catalog", "load_file"]
