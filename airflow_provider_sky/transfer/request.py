"""What to copy and how: one plain, serialisable request shared by the CLI, operator and gateway."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.uri import ObjectURI, parse_uri

# Below this a chunk costs more in requests and bookkeeping than it moves.
MIN_CHUNK_SIZE = 64 * 1024

MiB = 1024 * 1024
Mode = Literal["cp", "sync"]


@dataclass(frozen=True)
class CopyRequest:
    """One source copied to one or more destinations.

    - `mode="cp"` copies every object, except ones a previous run already wrote and verified
      (their `sky-source-etag`/`sky-size` stamps match the source); `mode="sync"` also skips
      objects whose size and checksum (or size and mtime) already match.
    - `delete=True` (sync only) removes destination objects the source does not have.
    - Memory for object bytes stays below `concurrency * chunk_size` (chunks grow only when
      a store's part limits demand it). file:// -> file:// copies use at most 4 workers.
    - A chunk or small object that fails with a transient StoreError is retried `retries`
      times with exponential backoff; checksum mismatches are never retried.
    """

    source: str
    destinations: tuple[str, ...]
    mode: Mode = "cp"
    delete: bool = False
    chunk_size: int = 16 * MiB
    concurrency: int = 16
    multipart_threshold: int = 16 * MiB
    dry_run: bool = False
    small_batch_objects: int = 32  # small objects per worker task: fewer hand-offs per object
    allow_empty_source: bool = False  # by default an empty source is an error (a typo, or sync --delete wiping)
    retries: int = 3  # per chunk or small object, after a transient store error
    retry_backoff: float = 0.5  # seconds before the first retry; doubles each time
    extra: dict[str, Any] = field(default_factory=dict)  # room for gateway/operator hints

    @classmethod
    def build(cls, source: str, destination: str | Sequence[str], **kwargs: Any) -> CopyRequest:
        """Accept one destination or a list, and validate the numbers once, here."""
        dests = (destination,) if isinstance(destination, str) else tuple(destination)
        request = cls(source=source, destinations=dests, **kwargs)
        request.validate()
        return request

    def validate(self) -> None:
        if not self.destinations:
            raise SkyUserError("No destination given", "pass at least one destination URI")
        if self.mode not in ("cp", "sync"):
            raise SkyUserError(f"Unknown copy mode {self.mode!r}", "use mode='cp' or mode='sync'")
        if self.delete and self.mode != "sync":
            raise SkyUserError("delete=True only applies to sync", "use mode='sync' with delete=True")
        if not isinstance(self.retries, int) or self.retries < 0 or self.retry_backoff < 0:
            raise SkyUserError(
                f"retries={self.retries!r}, retry_backoff={self.retry_backoff!r} are not valid",
                "pass retries >= 0 and retry_backoff >= 0 seconds",
            )
        for name in ("chunk_size", "concurrency", "multipart_threshold", "small_batch_objects"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SkyUserError(f"{name}={value!r} is not a positive integer", f"pass {name} >= 1")
        if self.chunk_size < MIN_CHUNK_SIZE:  # a 1-byte chunk is a request per byte: no progress
            raise SkyUserError(
                f"chunk_size={self.chunk_size} bytes is too small to make progress (one request per chunk)",
                f"pass chunk_size >= {MIN_CHUNK_SIZE} (64KiB); the default is 16MiB",
            )
        self._check_distinct_destinations()

    def _check_distinct_destinations(self) -> None:
        """Two destinations that write to the same place would upload every object twice at once.

        Spellings differ (``s3://b/x`` and ``s3://b/x/``, ``azure://ACCOUNT/c/`` and its https
        form, ``file:///tmp/a/../a/``), so places are compared, not text. A destination inside
        another is refused too: one copy's keys can be the other's (``y/k`` under ``x/`` and
        ``k`` under ``x/y/``), and a sync with delete of the outer one removes the inner one's.
        """
        seen: list[tuple[str, ObjectURI]] = []
        for text in self.destinations:
            uri = parse_uri(text)
            for earlier_text, earlier in seen:
                if uri.place == earlier.place:
                    raise SkyUserError(
                        f"Destinations {earlier_text!r} and {text!r} are the same place; every object would be "
                        "uploaded there twice at once",
                        "list each destination once",
                    )
                pair = [(earlier_text, earlier), (text, uri)]
                nested = [(a, b) for (a, outer), (b, inner) in (pair, pair[::-1]) if outer.contains(inner)]
                if nested:
                    raise SkyUserError(
                        f"Destination {nested[0][1]!r} lies inside destination {nested[0][0]!r}; their copies "
                        "would overwrite each other's objects",
                        "give destinations that do not contain one another (e.g. sibling prefixes)",
                    )
            seen.append((text, uri))

    @property
    def memory_budget(self) -> int:
        """Bytes of object data allowed in flight at once."""
        return self.concurrency * self.chunk_size

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, for XCom, trigger kwargs or a gateway's control API."""
        data = asdict(self)
        data["destinations"] = list(self.destinations)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CopyRequest:
        """The inverse of `to_dict`, validated."""
        fields = dict(data)
        return cls.build(fields.pop("source"), fields.pop("destinations"), **fields)
