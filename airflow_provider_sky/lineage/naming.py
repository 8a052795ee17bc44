"""OpenLineage dataset names and Airflow Asset URIs for the project's storage URIs.

Names follow OpenLineage's naming spec, so lineage from this provider joins lineage from the
official providers and from Spark for the same data:

==============  ==============================================  ==================
store           namespace                                       name
==============  ==============================================  ==================
S3              ``s3://{bucket}``                               ``{key}``
GCS             ``gs://{bucket}``                               ``{key}``
Azure Blob      ``wasbs://{container}@{account}.dfs.core.windows.net``  ``{key}``
local disk      ``file://{host}``                               ``/{absolute path}``
==============  ==============================================  ==================

Choices, and why:

- **A prefix is one dataset** named by the prefix without its trailing '/' (the amazon and
  google providers do the same for a "directory"); a whole bucket is named ``/``. A copy of a
  prefix reads and writes one directory-like dataset, not one dataset per object.
- **Custom endpoints do not change names.** moto, fake-gcs-server, Azurite or MinIO stand in
  for the cloud's bucket: the official providers and Spark name ``s3://bucket`` the same way
  whatever ``endpoint_url`` says, so a DAG tested on an emulator emits what it will emit in
  production. (Two MinIO servers holding a bucket of the same name would collide; that is the
  convention's limit, not ours to redefine.)
- **Azure** uses the spec's ``wasbs`` form with the account as the service name; the
  ``azure://`` scheme is this project's spelling and means nothing to lineage consumers.
- **Local files** carry the worker's host name: a path means nothing without the disk it is on.
  The path is normalised textually (``..``, repeated '/'), never resolved through symlinks, so
  the name does not depend on what the disk holds when the event is built.
- **Keys are kept as written** (spaces, unicode, '%'): an object's lineage name is its key.
"""

from __future__ import annotations

import posixpath
import re
import socket
from dataclasses import dataclass

from airflow_provider_sky.uri import ObjectURI, parse_uri

AZURE_SERVICE_SUFFIX = ".dfs.core.windows.net"  # OpenLineage's WASBS namespace
AZURE_ASSET_SUFFIX = ".blob.core.windows.net"  # the Azure provider's wasbs:// Asset URIs
# Characters that would change what an Asset URI means ('#' starts a fragment Airflow drops,
# '?' a query it re-sorts, '%' an escape) and control characters; everything else is kept.
_URI_UNSAFE = re.compile(r"[%?#\x00-\x1f\x7f]")


@dataclass(frozen=True)
class DatasetName:
    """An OpenLineage dataset identifier: the datasource (namespace) and the dataset in it."""

    namespace: str
    name: str


def local_host() -> str:
    """This machine's name for ``file://`` namespaces (``localhost`` when it has none)."""
    return socket.gethostname() or "localhost"


def _as_uri(uri: ObjectURI | str) -> ObjectURI:
    return uri if isinstance(uri, ObjectURI) else parse_uri(uri)


def _dataset_key(key: str) -> str:
    """The key without the one trailing '/' a prefix carries; a bucket's root is '/'."""
    key = key[:-1] if key.endswith("/") else key
    return key or "/"


def dataset_name(uri: ObjectURI | str, host: str | None = None) -> DatasetName:
    """The OpenLineage (namespace, name) of one storage URI (an object or a prefix)."""
    parsed = _as_uri(uri)
    if parsed.scheme == "file":
        path = "/" + posixpath.normpath("/" + parsed.key).lstrip("/")
        return DatasetName(f"file://{host or local_host()}", path)
    if parsed.scheme == "azure":
        namespace = f"wasbs://{parsed.bucket}@{parsed.account}{AZURE_SERVICE_SUFFIX}"
        return DatasetName(namespace, _dataset_key(parsed.key))
    return DatasetName(f"{parsed.scheme}://{parsed.bucket}", _dataset_key(parsed.key))


def _escape(key: str) -> str:
    return _URI_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), key)


def asset_uri(uri: ObjectURI | str) -> str:
    """The URI of the Airflow Asset for one storage URI, in the schemes Airflow's providers use.

    ``s3://bucket/key``, ``gs://bucket/key``, ``wasbs://container@account.blob.core.windows.net/key``
    (the Azure provider's form) and ``file:///path``. Airflow drops a trailing '/', so a prefix
    and the object of the same name share an Asset; a bucket's root keeps its '/'.
    """
    parsed = _as_uri(uri)
    key = _escape(parsed.key)
    if parsed.scheme == "file":
        return "file:///" + posixpath.normpath("/" + key).lstrip("/")
    if parsed.scheme == "azure":
        return f"wasbs://{parsed.bucket}@{parsed.account}{AZURE_ASSET_SUFFIX}/{key}"
    return f"{parsed.scheme}://{parsed.bucket}/{key}"


def is_templated(text: object) -> bool:
    """True when a value still holds Jinja markup (it is known only when the task runs)."""
    return isinstance(text, str) and ("{{" in text or "{%" in text)
