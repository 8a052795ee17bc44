"""What each rendered string must parse to, per kind of templated argument.

Airflow renders every template field to text, so a DAG author's ``False`` reaches the operator
as ``"False"``; these are the strings a render can give and what a strict parser makes of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_sky.errors import SkyUserError

RENDERED = ("False", "false", "0", "no", "off", "True", "1", "yes", "maybe", "", "1.5", "-1", "inf", "nan")
_FALSE = ("False", "false", "0", "no", "off")
_TRUE = ("True", "1", "yes")
BY_KIND = "refused like any other non-value"


@dataclass(frozen=True)
class Refused:
    """The error a value must raise: ``NAME='TEXT' <phrase>``, or just ``phrase`` when not named."""

    phrase: str
    named: bool = True


@dataclass(frozen=True)
class Flag:
    """One templated flag or number, how to read its parsed value off an operator, and its rules."""

    name: str
    kind: str  # "bool", "int" or "float"
    read: Callable[[Any], Any]
    minimum: float = 0.0
    exclusive: bool = False  # the minimum itself is refused
    empty: Any = BY_KIND  # what "" gives; optional numbers fall back to their default
    templated: bool = True  # in template_fields (deferrable is not, and is parsed all the same)
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


def expected(flag: Flag, text: str) -> Any:
    if text == "" and flag.empty is not BY_KIND:
        return flag.empty
    if flag.kind == "bool":
        return False if text in _FALSE else True if text in _TRUE else Refused("is not a boolean")
    if flag.kind == "int":
        if text not in ("0", "1", "-1"):
            return Refused("is not an integer")
        return int(text) if int(text) >= flag.minimum else Refused("is out of range")
    if text in ("inf", "nan"):
        return Refused("is not finite")
    if text not in ("0", "1", "-1", "1.5"):
        return Refused("is not a number")
    value = float(text)
    fits = value > flag.minimum if flag.exclusive else value >= flag.minimum
    return value if fits else Refused("is out of range")


def check(flag: Flag, text: str, operator: Any) -> None:
    """Read the flag off the rendered operator and compare with what ``text`` must give."""
    want = expected(flag, text)
    if isinstance(want, Refused):
        with pytest.raises(SkyUserError) as info:
            flag.read(operator)
        assert (f"{flag.name}={text!r} {want.phrase}" if want.named else want.phrase) in str(info.value)
        assert "Fix:" in str(info.value)
        return
    got = flag.read(operator)
    assert got == want and type(got) is type(want), (flag.name, text, got)


def cases(flags: tuple[Flag, ...]) -> list[Any]:
    return [pytest.param(flag, text, id=f"{flag.name}={text!r}") for flag in flags for text in RENDERED]


def render(operator_class: type, flag: Flag, text: str, **kwargs: Any) -> Any:
    """Build the operator with the flag as a template and render it, as a task run does."""
    op = operator_class(**kwargs, **flag.extra, **{flag.name: "{{ params.value }}" if flag.templated else text})
    if flag.templated:
        op.render_template_fields({"params": {"value": text}})
    return op
