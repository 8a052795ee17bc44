"""mkdocs hook: Sphinx cross-reference roles in docstrings shown as plain code names.

The package's docstrings use Sphinx fields (``:param x:``, parsed by mkdocstrings) and now and
then a role such as ``:class:`Planner```, which mkdocstrings leaves as text: the page would show
``:class:`` in front of the name. The rendered page keeps the name as code, without the role (and
without the path a leading ``~`` hides, as Sphinx would show it).
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|exc|data|obj):<code>(~?)([^<]+)</code>")


def _name(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"<code>{target.rsplit('.', 1)[-1] if tilde else target}</code>"


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    return _ROLE.sub(_name, html)
