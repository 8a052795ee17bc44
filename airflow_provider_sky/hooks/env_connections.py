"""`AIRFLOW_CONN_<ID>` variables, read the way Airflow 3 reads them but without importing Airflow.

Importing Airflow to look up one connection costs 4-6 CPU-seconds, which `airflow-sky cp` would
pay on every call. The environment form is fully specified, so it is parsed here:

- JSON (the value starts with ``{``): ``conn_type``, ``login``, ``password``, ``host``, ``port``,
  ``schema``, ``extra`` (a JSON object, or a string holding one) and ``description``;
- a URI ``TYPE://LOGIN:PASSWORD@HOST:PORT/SCHEMA?k=v``: percent-decoded parts, ``-`` in the type
  read as ``_``, a host keeping its own protocol when written ``TYPE://PROTOCOL://HOST``, query
  parameters as the extra (or ``__extra__`` holding the extra's JSON).

Stricter than Airflow where Airflow is silently lossy: an extra that is not a JSON object is
refused instead of dropped (a dropped ``endpoint_url`` would send real credentials to the real
cloud), and malformed JSON is reported as malformed, naming the variable. Messages name fields,
never their values: a connection holds secrets.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from airflow_provider_sky.errors import SkyUserError

ENV_PREFIX = "AIRFLOW_CONN_"
_JSON_KEYS = ("conn_type", "login", "password", "host", "port", "schema", "extra", "description")
_URI_EXTRA_KEY = "__extra__"


@dataclass(frozen=True, repr=False)
class EnvConnection:
    """A connection defined by an environment variable; shaped like Airflow's for our readers."""

    conn_id: str
    variable: str
    conn_type: str | None = None
    host: str | None = None
    login: str | None = None
    password: str | None = None
    schema: str | None = None
    port: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        return dict(self.extra)

    def __repr__(self) -> str:
        return f"EnvConnection({self.conn_id!r} from ${self.variable}, conn_type={self.conn_type!r})"


def env_variable(conn_id: str) -> str:
    """The variable Airflow's environment secrets backend reads for `conn_id`."""
    return ENV_PREFIX + conn_id.upper()


def defined_in_env(conn_id: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a variable (even a malformed one) defines `conn_id`, without parsing it."""
    return env_variable(conn_id) in (os.environ if environ is None else environ)


def connection_from_env(conn_id: str, environ: Mapping[str, str] | None = None) -> EnvConnection | None:
    """The connection `AIRFLOW_CONN_<ID>` defines, None when unset, SkyUserError when malformed."""
    variable = env_variable(conn_id)
    value = (os.environ if environ is None else environ).get(variable)
    if value is None:
        return None
    text = value.strip()
    if not text:
        raise _malformed(variable, "is set but empty")
    if text.startswith("{"):
        return _from_json(conn_id, variable, text)
    return _from_uri(conn_id, variable, text)


def _from_json(conn_id: str, variable: str, text: str) -> EnvConnection:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:  # exc.msg and the position carry no part of the value
        raise _malformed(variable, f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(doc, dict):
        raise _malformed(variable, "is JSON but not an object")
    unknown = sorted(set(doc) - set(_JSON_KEYS))
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise _malformed(variable, f"has unknown key(s) {names}; known: {', '.join(_JSON_KEYS)}")
    for key in ("conn_type", "login", "password", "host", "schema"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise _malformed(variable, f"has a {key!r} that is not a string")
    conn_type = doc.get("conn_type")
    return EnvConnection(
        conn_id=conn_id,
        variable=variable,
        conn_type=_normalize_type(conn_type) if conn_type else None,
        host=doc.get("host") or None,
        login=doc.get("login") or None,
        password=doc.get("password") or None,
        schema=doc.get("schema") or None,
        port=_json_port(variable, doc.get("port")),
        extra=_extra_object(variable, doc.get("extra")),
    )


def _json_port(variable: str, port: Any) -> int | None:
    if port in (None, ""):
        return None
    if isinstance(port, bool) or not isinstance(port, (int, str)) or not str(port).strip().isdigit():
        raise _malformed(variable, "has a 'port' that is not a whole number")
    return int(port)


def _from_uri(conn_id: str, variable: str, text: str) -> EnvConnection:
    schemes = text.count("://")
    if schemes == 0 or schemes > 2:
        raise _malformed(variable, "is neither JSON (starting with '{') nor a connection URI (TYPE://...)")
    conn_type, _, rest = text.partition("://")
    if not conn_type:
        raise _malformed(variable, "is a URI without a connection type before '://'")
    protocol = None
    if schemes == 2:  # TYPE://PROTOCOL://HOST...: the host keeps its own protocol
        protocol, _, rest = rest.partition("://")
        if "@" in protocol or ":" in protocol:
            raise _malformed(variable, "has a second '://' that does not follow a host protocol")
    parts = urlsplit("//" + rest)
    try:
        port = parts.port
    except ValueError:
        raise _malformed(variable, "has a port that is not a number from 0 to 65535") from None
    host = _hostname(parts)
    if host and protocol:
        host = f"{protocol}://{host}"
    return EnvConnection(
        conn_id=conn_id,
        variable=variable,
        conn_type=_normalize_type(conn_type),
        host=host or None,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        schema=unquote(parts.path[1:]) if parts.path[1:] else None,
        port=port,
        extra=_uri_extra(variable, parts.query),
    )


def _hostname(parts: SplitResult) -> str:
    """The host as Airflow takes it: urlsplit's (lower-cased) hostname, or, when a percent-encoded
    host holds a '/', the netloc between '@' and ':'."""
    host = unquote(parts.hostname or "")
    if "/" in host:
        host = unquote(parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0])
    return host


def _uri_extra(variable: str, query: str) -> dict[str, Any]:
    if not query:
        return {}
    params = dict(parse_qsl(query, keep_blank_values=True))
    if _URI_EXTRA_KEY in params:
        return _extra_object(variable, params[_URI_EXTRA_KEY])
    return params


def _extra_object(variable: str, extra: Any) -> dict[str, Any]:
    """The extra as a dict: a JSON object, or text holding one; anything else is refused."""
    if extra in (None, ""):
        return {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise _malformed(variable, f"has an 'extra' that is not valid JSON ({exc.msg})") from None
    if not isinstance(extra, dict):
        raise _malformed(variable, f"has an 'extra' that is a JSON {type(extra).__name__}, not an object")
    return extra


def _normalize_type(conn_type: str) -> str:
    """As Airflow does: `google-cloud-platform` names the type `google_cloud_platform`."""
    return "postgres" if conn_type == "postgresql" else conn_type.replace("-", "_")


def _malformed(variable: str, what: str) -> SkyUserError:
    return SkyUserError(
        f"environment variable {variable} {what}",
        f"set {variable} to the connection as JSON, e.g. "
        '\'{"conn_type": "TYPE", "login": "...", "password": "...", "extra": {"key": "value"}}\', '
        "or as a URI such as TYPE://LOGIN:PASSWORD@HOST/?key=value (percent-encode '/', ':' and '@' "
        "inside parts), or unset it",
    )
