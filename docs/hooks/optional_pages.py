"""mkdocs hook: nav entries for pages other parts of the project add, kept out until the file exists.

Strict mode fails on a nav entry whose file is missing. The plan view (``ui.md``) and lineage
(``lineage.md``) pages are written with their features; listing them here puts them in the nav
from the first build that has them, and a checkout without them still builds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

OPTIONAL = frozenset({"ui.md", "lineage.md"})


def _prune(entries: list[Any], docs: Path) -> list[Any]:
    """The nav without optional pages that are not there (sections keep their other entries)."""
    kept: list[Any] = []
    for entry in entries:
        if isinstance(entry, dict):
            ((title, value),) = entry.items()
            if isinstance(value, list):
                kept.append({title: _prune(value, docs)})
            elif not (value in OPTIONAL and not (docs / value).is_file()):
                kept.append(entry)
        elif not (entry in OPTIONAL and not (docs / entry).is_file()):
            kept.append(entry)
    return kept


def on_config(config: Any) -> Any:
    if config.get("nav"):
        config["nav"] = _prune(config["nav"], Path(config["docs_dir"]))
    return config
