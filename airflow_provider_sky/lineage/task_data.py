"""The storage a launch task reads and writes, read from the task without its secrets.

Lineage is built when the task starts and Assets when the DAG is parsed, both before secrets
are filled in, so the task is read here for its data keys only (``file_mounts``, ``inputs``,
``outputs``) and validated by :class:`TaskSpec` as a launch would validate them.

- inputs: bucket URIs in ``file_mounts`` (a plain source or a storage mapping's ``source``)
  and the keys of ``inputs``;
- outputs: the keys of ``outputs``, and storage mappings that name a bucket to create
  (``{name: BUCKET, store: s3|gcs}`` without a ``source``): the job writes into those.

URIs in schemes this project has no store for (``r2://``, ``cos://`` ...) are left out: they
have no dataset name here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch.task import TaskSpec
from airflow_provider_sky.uri import ObjectURI, parse_uri

_DATA_KEYS = ("file_mounts", "inputs", "outputs")
_STORE_SCHEMES = {"s3": "s3", "gcs": "gs"}


@dataclass(frozen=True)
class TaskData:
    """Parsed storage URIs a task reads (inputs) and writes (outputs), in the task's order."""

    inputs: tuple[ObjectURI, ...]
    outputs: tuple[ObjectURI, ...]


def _load(task: str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(task, Mapping):
        return task
    text = os.fspath(task)
    if "\n" not in text and (text.endswith((".yaml", ".yml")) or os.path.isfile(text)):
        if not os.path.isfile(text):
            raise SkyUserError(f"Task file {text!r} does not exist", "pass the path of a task YAML file")
        with open(text, encoding="utf-8") as fh:
            text = fh.read()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SkyUserError(f"Task YAML does not parse: {exc}", "fix the YAML syntax at the line shown") from None
    if not isinstance(data, Mapping):
        raise SkyUserError(f"A task must be a mapping, got {type(data).__name__}", "write keys such as resources, run")
    return data


def _parsed(uris: list[str]) -> tuple[ObjectURI, ...]:
    out: list[ObjectURI] = []
    for text in dict.fromkeys(uris):
        try:
            out.append(parse_uri(text))
        except SkyUserError:
            continue  # a store this project does not serve: no dataset name for it
    return tuple(out)


def task_data(task: str | Mapping[str, Any]) -> TaskData:
    """The storage a task (path, YAML text or mapping) reads and writes; SkyUserError on a bad task."""
    data = _load(task)
    spec = TaskSpec.from_dict({key: data[key] for key in _DATA_KEYS if key in data})
    created = [
        f"{_STORE_SCHEMES[str(mount['store']).lower()]}://{mount['name']}/"
        for mount in spec.file_mounts.values()
        if isinstance(mount, Mapping) and not mount.get("source") and mount.get("name")
        and str(mount.get("store", "")).lower() in _STORE_SCHEMES
    ]  # fmt: skip
    return TaskData(_parsed(list(spec.input_data())), _parsed([*spec.outputs, *created]))
