"""Keep credentials out of every log line, whatever the verbosity.

Why a filter of our own: with ``-v`` the SDKs log request lines and headers (urllib3 prints
Azure SAS URLs with their ``sig=``, botocore prints ``Authorization`` headers), and an SDK
exception may quote a connection string. Two defences, both applied to every record:

- **Known values**: every credential this project loads is registered (:func:`register`) when
  it is read, and replaced wherever it appears, in any form we can foresee (as is, URL-quoted,
  JSON-escaped), including inside exception text.
- **Shapes**: what a credential looks like even when we never loaded it: signed-URL query
  parameters (``sig``, ``X-Amz-Signature``, ``X-Amz-Credential``, ``X-Amz-Security-Token``,
  ``X-Goog-Signature``), botocore's logged SigV4 signatures, ``Authorization`` headers, ``SharedKey`` and bearer tokens,
  ``AccountKey=`` / ``SharedAccessSignature=`` in connection strings, PEM private key blocks.

:func:`install` makes every log record pass through :func:`redact` as it is created, so handlers
added later (Airflow's, pytest's) see only redacted text. Core module: no Airflow import; the
Airflow face adds its secrets masker as a listener (:func:`add_listener`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_LENGTH = 5  # shorter values would mask ordinary words ("true", ports); Airflow's rule too

# Query parameters of signed URLs (Azure SAS, S3 and GCS presigned URLs).
_SIGNED_PARAMS = re.compile(
    r"(?i)(?<![\w-])(sig|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|"
    r"x-goog-credential|awsaccesskeyid|signature)=([^&\s\"'<>]+)"
)
# Header values, quoted (botocore's dicts: 'Authorization': b'AWS4-HMAC-SHA256 ...') or to the end of line.
_HEADER_QUOTED = re.compile(
    r"(?i)(['\"]?(?:proxy-)?authorization|['\"]?x-amz-security-token|['\"]?x-ms-copy-source-authorization|"
    r"['\"]?x-goog-iam-authorization-token)(['\"]?\s*[:=]\s*b?)(['\"])(.*?)\3"
)
_HEADER_LINE = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-amz-security-token|x-ms-copy-source-authorization|"
    r"x-goog-iam-authorization-token)(\s*:\s*+)(?!['\"]|b['\"])([^\r\n]+)"
)
# botocore's debug line "Signature:" puts the request's SigV4 signature on the next line.
_SIGV4_LINE = re.compile(r"(\bSignature:[ \t]*\r?\n)[0-9a-f]{64}\b")
_SHARED_KEY = re.compile(r"\b(SharedKey(?:Lite)?\s+[^:\s]+:)[A-Za-z0-9+/=]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*")
# key=value pairs in connection strings and config text.
_CONNECTION_PARTS = re.compile(r"(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature|ClientSecret)=([^;\s\"']+)")
_PEM = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----(?:.*?-----END \1PRIVATE KEY-----|[A-Za-z0-9+/=\s\\]*)",
    re.DOTALL,
)
# (words one of which a line must contain, lowercased; pattern; replacement). The words are a
# cheap test that skips the regular expressions for the ordinary line, which has none of them.
_SHAPES: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    (("private key",), _PEM, "-----BEGIN \\1PRIVATE KEY-----" + MASK + "-----END \\1PRIVATE KEY-----"),
    (("authorization", "x-amz-security-token"), _HEADER_QUOTED, "\\1\\2\\3" + MASK + "\\3"),
    (("authorization", "x-amz-security-token"), _HEADER_LINE, "\\1\\2" + MASK),
    (("signature:",), _SIGV4_LINE, "\\1" + MASK),
    (("sharedkey",), _SHARED_KEY, "\\1" + MASK),
    (("bearer",), _BEARER, "\\1" + MASK),
    (("accountkey", "sharedaccess", "clientsecret"), _CONNECTION_PARTS, "\\1=" + MASK),
    (("sig=", "signature=", "x-amz-", "x-goog-", "awsaccesskeyid="), _SIGNED_PARAMS, "\\1=" + MASK),
)
# Environment variables the SDKs read credentials from by themselves (we never see them otherwise).
SECRET_ENVIRONMENT = (
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_ACCESS_KEY", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_CLIENT_SECRET", "GOOGLE_OAUTH_ACCESS_TOKEN",
)  # fmt: skip

_lock = threading.Lock()
_known: set[str] = set()
_ordered: list[str] = []  # _known, longest first, so a secret inside another is not half-masked
_listeners: list[Callable[[str], Any]] = []


def _variants(value: str) -> Iterable[str]:
    """The forms a secret takes in text: as is, URL-quoted, JSON/repr-escaped, line by line (PEM)."""
    yield value
    for safe in ("", "/", "=&", "/=&"):  # SDKs differ in what they leave unquoted
        yield quote(value, safe=safe)
        yield quote_plus(value, safe=safe)
    yield json.dumps(value)[1:-1]
    yield repr(value)[1:-1]
    if "\n" in value:  # a PEM key: each base64 line on its own is a secret too
        yield from (line.strip() for line in value.splitlines() if not line.startswith("-----"))


def register(*values: Any) -> None:
    """Mask these credential values wherever they appear from now on (mappings: every value).

    Call it where a credential is loaded, before anything can log it. Values shorter than
    ``MIN_SECRET_LENGTH`` are ignored; listeners (Airflow's masker) get each new value once.
    """
    new: list[str] = []
    for value in values:
        if isinstance(value, Mapping):
            register(*value.values())
            continue
        if isinstance(value, (list, tuple, set)):
            register(*value)
            continue
        if not isinstance(value, str) or len(value.strip()) < MIN_SECRET_LENGTH:
            continue
        with _lock:
            forms = {v for v in _variants(value) if len(v) >= MIN_SECRET_LENGTH} - _known
            if forms:
                _known.update(forms)
                _ordered[:] = sorted(_known, key=len, reverse=True)
                new.append(value)
    for value in new:
        for listener in list(_listeners):
            listener(value)


def register_environment(environ: Mapping[str, str] | None = None) -> None:
    """Register the credentials the SDKs would read from the environment (``SECRET_ENVIRONMENT``)."""
    environ = os.environ if environ is None else environ
    register(*(environ[name] for name in SECRET_ENVIRONMENT if environ.get(name)))


def add_listener(listener: Callable[[str], Any]) -> None:
    """Also hand every registered value (past and future) to ``listener``, e.g. Airflow's ``mask_secret``."""
    with _lock:
        if listener in _listeners:
            return
        _listeners.append(listener)
        known = [v for v in _ordered]
    for value in known:
        listener(value)


def redact(text: str) -> str:
    """``text`` with every registered secret and every credential shape replaced by ``***``."""
    if not text:
        return text
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    lowered = text.lower()
    for words, pattern, replacement in _SHAPES:
        if any(word in lowered for word in words):
            text = pattern.sub(replacement, text)
    return text


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record in place: its message (arguments merged in), traceback and stack."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it to the handler's error path
        return record
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """A handler filter that redacts each record (for handlers set up outside :func:`install`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed = False


def install() -> None:
    """Redact every log record from now on: at creation (all loggers) and on the root handlers.

    Idempotent. Also registers the SDKs' credential variables from the environment.
    """
    global _installed
    register_environment()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    with _lock:
        if _installed:
            return
        _installed = True
        make_record = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(make_record(*args, **kwargs))

    logging.setLogRecordFactory(redacting_factory)
