"""Take secret values out of a task before it is stored anywhere, keeping the secrets' names.

A task given inline (a dict, or YAML text) is an operator field, and Airflow stores operator
fields in the serialized DAG, readable by anyone who can read the metadata database or the UI.
So the values move to a private mapping, given back at launch, and the task keeps each name
with a null value: SkyPilot's own form for "this secret is given at launch". A task file path
holds no values in the first place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from airflow_provider_sky.errors import SkyUserError

_SECRETS_BLOCK = re.compile(r"^secrets\s*:", re.MULTILINE)


def split_secrets(task: str | Mapping[str, Any]) -> tuple[str | dict[str, Any], dict[str, Any]]:
    """(the task with every secret value set to null, name -> value of the secrets that had one).

    YAML text that carries secret values comes back as the parsed mapping without them; YAML
    text that does not parse yet (Jinja before rendering) may not carry a ``secrets:`` block.
    """
    if isinstance(task, Mapping):
        return _split_mapping(task)
    if not isinstance(task, str):
        return task, {}
    try:
        doc = yaml.safe_load(task)
    except yaml.YAMLError:
        if _SECRETS_BLOCK.search(task):
            raise SkyUserError(
                "The task's YAML text has a secrets: block but does not parse before rendering, so its values "
                "would be stored in the serialized DAG",
                "give the values through secrets= (NAME: null in the task), or put the task in a file",
            ) from None
        return task, {}
    if not isinstance(doc, Mapping):
        return task, {}  # a file path, or text the task parser will refuse with its own message
    stripped, values = _split_mapping(doc)
    return (stripped, values) if values else (task, {})


def _split_mapping(task: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    declared = task.get("secrets")
    if not isinstance(declared, Mapping):
        return dict(task), {}  # none, or a shape the task parser refuses by name
    values = {str(name): value for name, value in declared.items() if value is not None}
    return {**task, "secrets": {str(name): None for name in declared}}, values
