"""mkdocs hook: the command-line reference, generated from `airflow-sky`'s own argparse parsers.

A page holds ``<!-- cli-reference -->``; the hook replaces it with every (sub)command's
``--help``, so the reference cannot drift from the flags the code accepts. Building the full
parser imports the command modules only (no solver, no Airflow), well under a second.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import Any

MARKER = "<!-- cli-reference -->"
WIDTH = "100"  # argparse wraps to $COLUMNS; a fixed width keeps the page the same on every machine


def _walk(parser: argparse.ArgumentParser, path: list[str]) -> Iterator[tuple[list[str], argparse.ArgumentParser]]:
    """Every parser under ``parser``, depth first, with the words that invoke it."""
    yield path, parser
    for action in parser._actions:  # argparse offers no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, [*path, name])


def cli_reference() -> str:
    """Markdown: one section per command, its help text verbatim."""
    from airflow_provider_sky.cli.main import build_parser

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parts = []
        for path, parser in _walk(build_parser(None), []):
            title = " ".join(["airflow-sky", *path])
            level = "####" if len(path) > 1 else "###"  # under the page's "Reference"; a subcommand under its command
            parts.append(f"{level} `{title}`\n\n```text\n{parser.format_help().rstrip()}\n```\n")
        return "\n".join(parts)
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())
