"""Which objects a source URI names, and where each lands at the destination.

Rules (those of `aws s3 cp`/`rclone copy`, chosen so object-store users get no surprises):

- `SRC/` (trailing slash, or a bare bucket) copies the *contents* of the prefix:
  `s3://b/data/x/y` goes to `DST/x/y`.
- `SRC` without a trailing slash that is exactly one object copies that one object, even if
  objects under `SRC/` exist too (like `rclone copy`, which checks for a file first). To copy
  the prefix instead, write the trailing slash. The object lands at `DST` itself, or at
  `DST/<basename>` when `DST` ends with '/' (or is an existing local directory).
- `SRC` without a trailing slash that is no object is read as `SRC/`: its contents are copied,
  and `SRC-other/...` siblings are not.

Listings are streamed and checked for lexicographic order because the sync merge and
`--delete` depend on it; one that a preflight check had to read whole is kept, up to a bound,
and replayed rather than listed twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from airflow_provider_sky.errors import SkyUserError, StoreError
from airflow_provider_sky.stores.base import ObjectInfo, ObjectStore
from airflow_provider_sky.uri import ObjectURI


@dataclass(frozen=True)
class SourceSelection:
    """The resolved source: one object (`single`) or every object under `prefix`."""

    uri: ObjectURI
    prefix: str
    single: ObjectInfo | None = None
    # The whole listing, when a check already read it and it was small enough to keep
    # (see engine.preflight): the copy then replays what was checked instead of listing again.
    listed: tuple[ObjectInfo, ...] | None = None


@dataclass(frozen=True)
class KeyMapping:
    """Source key -> destination key: strip `src_prefix`, prepend `dst_prefix` (order-preserving)."""

    src_prefix: str
    dst_prefix: str
    single: bool

    def dst_key(self, src_key: str) -> str:
        return self.dst_prefix + src_key[len(self.src_prefix) :]


def resolve_source(store: ObjectStore, uri: ObjectURI) -> SourceSelection:
    """Decide between "one object" and "a prefix" (one stat call at most)."""
    if not uri.is_prefix_like:
        info = store.stat(uri.bucket, uri.key)
        if info is not None:
            return SourceSelection(uri, uri.key, info)
        return SourceSelection(uri, uri.key + "/")
    return SourceSelection(uri, uri.key)


def destination_is_directory(uri: ObjectURI) -> bool:
    """A destination names a "directory" when it ends with '/' or is an existing local directory."""
    if uri.is_prefix_like:
        return True
    return uri.scheme == "file" and os.path.isdir("/" + uri.key)


def map_keys(selection: SourceSelection, dst: ObjectURI) -> KeyMapping:
    """Where the selected source objects go under `dst` (see the module rules)."""
    if selection.single is not None:
        if destination_is_directory(dst):
            base = dst.key if dst.key.endswith("/") or not dst.key else dst.key + "/"
            target = base + selection.single.key.rsplit("/", 1)[-1]
        else:
            target = dst.key
        return KeyMapping(selection.single.key, target, single=True)
    base = dst.key if dst.key.endswith("/") or not dst.key else dst.key + "/"
    return KeyMapping(selection.prefix, base, single=False)


def _comparable(uri: ObjectURI, key: str) -> str:
    if uri.scheme == "file":
        resolved = os.path.realpath("/" + key)
        return resolved.lstrip("/") + ("/" if key.endswith("/") or not key else "")
    return key


def check_not_overlapping(selection: SourceSelection, dst: ObjectURI, mapping: KeyMapping) -> None:
    """Refuse a destination inside the source (or the reverse): it would copy or delete itself."""
    src = selection.uri
    if (src.scheme, src.account, src.bucket) != (dst.scheme, dst.account, dst.bucket):
        return
    if mapping.single:
        if _comparable(src, mapping.src_prefix) == _comparable(dst, mapping.dst_prefix):
            raise SkyUserError(
                f"Source and destination are the same object ({src})",
                "choose a different destination key",
            )
        return
    src_prefix = _comparable(src, mapping.src_prefix)
    dst_prefix = _comparable(dst, mapping.dst_prefix)
    if dst_prefix.startswith(src_prefix) or src_prefix.startswith(dst_prefix):
        inner = (
            "destination is inside the source"
            if dst_prefix.startswith(src_prefix)
            else ("source is inside the destination")
        )
        raise SkyUserError(
            f"The {inner} ({src} -> {dst}); the copy would read or delete its own output",
            "choose a destination outside the source prefix (e.g. a sibling prefix or another bucket)",
        )


def sorted_guard(items: Iterable[ObjectInfo], where: str) -> Iterator[ObjectInfo]:
    """Pass a listing through, failing loudly if a store ever yields keys out of order."""
    previous: str | None = None
    for info in items:
        if previous is not None and info.key <= previous:
            raise StoreError(
                f"Listing of {where} is not in lexicographic key order ({previous!r} then {info.key!r}); "
                "sync cannot compare it safely"
            )
        previous = info.key
        yield info


def iter_source(store: ObjectStore, selection: SourceSelection) -> Iterator[ObjectInfo]:
    """Every selected source object, in key order."""
    if selection.single is not None:
        yield selection.single
        return
    if selection.listed is not None:
        yield from selection.listed
        return
    yield from sorted_guard(store.list(selection.uri.bucket, selection.prefix), str(selection.uri))


def iter_destination(store: ObjectStore, dst: ObjectURI, mapping: KeyMapping) -> Iterator[ObjectInfo]:
    """What already exists where the source objects will land, in key order."""
    if mapping.single:
        info = store.stat(dst.bucket, mapping.dst_prefix)
        if info is not None:
            yield info
        return
    yield from sorted_guard(store.list(dst.bucket, mapping.dst_prefix), str(dst))
