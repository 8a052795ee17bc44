"""The object names each store refuses or changes, in one table, checked before any write.

A store refuses a name at the moment it is written: a copy that meets one halfway has already
written the objects before it, and on Azure some names are silently changed instead (a trailing
'.' is dropped, '.' segments are collapsed by HTTP clients). The copy engine asks
:func:`key_problem` for every destination key during preflight, so one error names every such
key and nothing is written. Limits are the stores' documented ones:

- S3: a key is at most 1024 bytes of UTF-8;
- GCS: at most 1024 bytes of UTF-8, no carriage return or line feed, not '.' or '..';
- Azure Blob Storage: at most 1024 characters and 254 path segments, no control characters,
  no trailing '.' or '/', no '.' or '..' segment;
- file://: a POSIX path (see stores/local.py), each segment at most 255 bytes (NAME_MAX),
  the whole path at most 4095 bytes (PATH_MAX).
"""

from __future__ import annotations

from collections.abc import Callable

from airflow_provider_sky.stores.local import key_problem as file_path_problem

MAX_KEY_BYTES = 1024  # S3 and GCS
AZURE_MAX_CHARS = 1024
AZURE_MAX_SEGMENTS = 254
FILE_NAME_MAX = 255
FILE_PATH_MAX = 4095


def _utf8_length(key: str) -> int:
    return len(key.encode("utf-8", "surrogatepass"))


def _too_long(key: str, limit: int) -> str | None:
    size = _utf8_length(key)
    return f"{size} bytes long, over the {limit}-byte limit" if size > limit else None


def s3_key_problem(key: str) -> str | None:
    """Why S3 cannot store `key`, or None."""
    return "empty key" if not key else _too_long(key, MAX_KEY_BYTES)


def gcs_key_problem(key: str) -> str | None:
    """Why Cloud Storage cannot store `key`, or None."""
    if not key:
        return "empty key"
    if "\r" in key or "\n" in key:
        return "contains a carriage return or line feed, which GCS refuses"
    if key in (".", ".."):
        return "is '.' or '..', which GCS refuses"
    return _too_long(key, MAX_KEY_BYTES)


def azure_key_problem(key: str) -> str | None:
    """Why Azure Blob Storage cannot store `key` unchanged, or None."""
    if not key:
        return "empty key"
    if len(key) > AZURE_MAX_CHARS:
        return f"{len(key)} characters long, over Azure's {AZURE_MAX_CHARS}-character limit"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        return "contains a control character, which Azure refuses in blob names"
    if key.endswith((".", "/")):
        return "ends with '.' or '/', which Azure drops from blob names"
    if key.count("/") + 1 > AZURE_MAX_SEGMENTS:
        return f"{key.count('/') + 1} path segments, over Azure's {AZURE_MAX_SEGMENTS}"
    if any(segment in (".", "..") for segment in key.split("/")):
        return "a '.' or '..' path segment (HTTP clients collapse them, so the blob would be renamed)"
    return None


def file_key_problem(key: str) -> str | None:
    """Why `key` cannot become a file path, or None."""
    why = file_path_problem(key)
    if why:
        return why
    longest = max(key.split("/"), key=_utf8_length)
    if _utf8_length(longest) > FILE_NAME_MAX:
        return f"a path segment of {_utf8_length(longest)} bytes, over the {FILE_NAME_MAX}-byte file name limit"
    return _too_long("/" + key, FILE_PATH_MAX)


KEY_RULES: dict[str, Callable[[str], str | None]] = {
    "s3": s3_key_problem,
    "gs": gcs_key_problem,
    "azure": azure_key_problem,
    "file": file_key_problem,
}


def key_problem(scheme: str, key: str) -> str | None:
    """Why a store of `scheme` cannot hold `key` unchanged, or None (unknown schemes: None)."""
    rule = KEY_RULES.get(scheme)
    return rule(key) if rule else None
