"""Object URIs: the one place that turns user text into (scheme, account, bucket, key).

Keys are kept byte-for-byte as the user wrote them after the bucket: object stores allow
repeated, leading and trailing slashes and any unicode, and a copy must not rename objects.
Percent signs are *not* decoded: `s3://b/100%25` names the key `100%25`, as in the AWS CLI.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from airflow_provider_sky.errors import SkyUserError

SCHEMES = ("s3", "gs", "azure", "file")
_AZURE_HTTPS = re.compile(r"^https://(?P<account>[a-z0-9]{3,24})\.blob\.core\.windows\.net/(?P<rest>.*)$", re.I)
_BUCKET_RULES = {
    "s3": (re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"), "3-63 lowercase letters, digits, '.' or '-'"),
    "gs": (re.compile(r"^[a-z0-9][a-z0-9._\-]{1,220}[a-z0-9]$"), "3-222 lowercase letters, digits, '.', '_' or '-'"),
    "azure": (
        re.compile(r"^(\$root|[a-z0-9](?!.*--)[a-z0-9\-]{1,61}[a-z0-9])$"),
        "3-63 lowercase letters, digits or single '-'",
    ),
}
_EXAMPLES = "s3://bucket/key, gs://bucket/key, azure://account/container/key, file:///abs/path"


@dataclass(frozen=True)
class ObjectURI:
    """A parsed location: a single object, or a prefix when `key` is empty or ends with '/'."""

    scheme: str
    bucket: str
    key: str = ""
    account: str = ""

    @property
    def is_prefix_like(self) -> bool:
        """True when the URI can only name a "directory" (empty key or trailing slash)."""
        return self.key == "" or self.key.endswith("/")

    def with_key(self, key: str) -> ObjectURI:
        return ObjectURI(self.scheme, self.bucket, key, self.account)

    @property
    def container_uri(self) -> str:
        """The bucket (or container, or file root) without any key, for messages."""
        if self.scheme == "azure":
            return f"azure://{self.account}/{self.bucket}"
        if self.scheme == "file":
            return "file:///"
        return f"{self.scheme}://{self.bucket}"

    @property
    def place(self) -> tuple[str, str, str, str]:
        """Where objects written under this URI land, spelled one way, to tell two spellings apart.

        (scheme, account, bucket, prefix): the https form of Azure is already ``azure`` here; the
        prefix ends with '/' (``s3://b/x`` and ``s3://b/x/`` write to the same place when the
        source is a prefix); local paths are resolved (``.``, ``..``, repeated '/', symlinks)
        because the file system, not the text, decides where bytes go. Object keys are kept
        byte-for-byte: ``s3://b/x//`` is a different prefix from ``s3://b/x/``.
        """
        key = self.key
        if self.scheme == "file":
            key = os.path.realpath("/" + key).lstrip("/")
        if key and not key.endswith("/"):
            key += "/"
        return (self.scheme, self.account, self.bucket, key)

    def contains(self, other: ObjectURI) -> bool:
        """True when every object written under ``other`` also lies under this URI's place."""
        mine, theirs = self.place, other.place
        return mine[:3] == theirs[:3] and theirs[3].startswith(mine[3])

    def __str__(self) -> str:
        if self.scheme == "file":
            return "file:///" + self.key
        return f"{self.container_uri}/{self.key}"


def parse_uri(text: str) -> ObjectURI:
    """Parse a user-supplied URI, or raise SkyUserError naming what is wrong and the accepted forms."""
    if not isinstance(text, str) or not text.strip():
        raise SkyUserError(f"Empty storage URI {text!r}", f"pass a URI such as {_EXAMPLES}")
    text = text.strip()
    match = _AZURE_HTTPS.match(text)
    if match:
        return _parse_azure_path(match["account"].lower(), match["rest"], text)
    if "://" not in text:
        raise SkyUserError(
            f"{text!r} is not a storage URI (no scheme)",
            f"write it with a scheme, e.g. {_EXAMPLES}; local paths are file:///abs/path",
        )
    scheme, rest = text.split("://", 1)
    scheme = scheme.lower()
    if scheme in ("gcs",):
        scheme = "gs"
    if scheme not in SCHEMES:
        raise SkyUserError(
            f"Unknown storage scheme {scheme!r} in {text!r}",
            f"use one of {', '.join(s + '://' for s in SCHEMES)} ({_EXAMPLES})",
        )
    if scheme == "file":
        return _parse_file(rest, text)
    if scheme == "azure":
        account, _, path = rest.partition("/")
        return _parse_azure_path(account.lower(), path, text)
    bucket, _, key = rest.partition("/")
    _check_bucket(scheme, bucket, text)
    return ObjectURI(scheme, bucket, key)


def _parse_file(rest: str, text: str) -> ObjectURI:
    split = urlsplit("file://" + rest)
    if split.netloc not in ("", "localhost"):
        raise SkyUserError(
            f"{text!r} names host {split.netloc!r}; file:// URIs are local paths",
            "write file:///absolute/path (three slashes)",
        )
    path = rest[len(split.netloc):]
    if not path.startswith("/"):
        raise SkyUserError(f"{text!r} is not an absolute path", "write file:///absolute/path (three slashes)")
    return ObjectURI("file", "", path.lstrip("/"))


def _parse_azure_path(account: str, path: str, text: str) -> ObjectURI:
    container, _, key = path.partition("/")
    if not re.fullmatch(r"[a-z0-9]{3,24}", account or ""):
        raise SkyUserError(
            f"{text!r} has no valid Azure storage account name",
            "write azure://ACCOUNT/CONTAINER/key or https://ACCOUNT.blob.core.windows.net/CONTAINER/key "
            "(account: 3-24 lowercase letters and digits)",
        )
    _check_bucket("azure", container, text)
    return ObjectURI("azure", container, key, account)


def _check_bucket(scheme: str, bucket: str, text: str) -> None:
    pattern, rule = _BUCKET_RULES[scheme]
    noun = "container" if scheme == "azure" else "bucket"
    if not bucket:
        raise SkyUserError(f"{text!r} names no {noun}", f"write {_EXAMPLES.split(', ')[SCHEMES.index(scheme)]}")
    if not pattern.match(bucket):
        raise SkyUserError(f"{noun.capitalize()} name {bucket!r} in {text!r} is not valid", f"a {noun} name is {rule}")
