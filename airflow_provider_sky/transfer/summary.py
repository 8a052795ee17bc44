"""The result of a copy: plain numbers, JSON-serialisable for XCom and the task log."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class DestinationSummary:
    """What happened at one destination."""

    destination: str
    objects_copied: int = 0
    bytes_copied: int = 0
    objects_skipped: int = 0
    bytes_skipped: int = 0
    objects_deleted: int = 0
    checksums_verified: int = 0  # objects whose every chunk was checksum-verified on write
    whole_object_verified: int = 0  # ... and whose whole-object checksum matched the source's/destination's
    multipart_objects: int = 0
    parts_reused: int = 0  # parts an interrupted earlier run stored, proven identical and kept
    bytes_reused: int = 0  # ... their bytes: counted in bytes_copied, but not sent again
    stale_uploads_aborted: int = 0  # our own unfinished uploads left by a killed run, cleaned
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def throughput(self) -> float:
        """Bytes per second of copied data."""
        return self.bytes_copied / self.seconds if self.seconds > 0 else 0.0


@dataclass
class CopySummary:
    """Totals over every destination of one request."""

    source: str
    mode: str
    destinations: list[DestinationSummary] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False

    def _total(self, name: str) -> int:
        return sum(getattr(d, name) for d in self.destinations)

    @property
    def objects(self) -> int:
        return self._total("objects_copied")

    @property
    def bytes(self) -> int:
        return self._total("bytes_copied")

    @property
    def skipped(self) -> int:
        return self._total("objects_skipped")

    @property
    def deleted(self) -> int:
        return self._total("objects_deleted")

    @property
    def checksums_verified(self) -> int:
        return self._total("checksums_verified")

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (safe for XCom/JSON)."""
        return {
            "source": self.source,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "seconds": round(self.seconds, 3),
            "objects": self.objects,
            "bytes": self.bytes,
            "skipped": self.skipped,
            "deleted": self.deleted,
            "checksums_verified": self.checksums_verified,
            "destinations": [asdict(d) | {"seconds": round(d.seconds, 3)} for d in self.destinations],
        }
