"""The v8 catalog file format: read it tolerantly, write it plainly.

Why tolerant: real catalogs are not clean CSV. Azure's file writes its ``Generation`` column
unquoted as ``V1,V2`` in about half its rows, so those rows carry one field too many and a strict
reader refuses the file. Column order also differs by cloud (GCP puts vCPUs second). We map
columns by header name and fold surplus fields back into the last column, so no row is lost.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

from airflow_provider_sky.errors import SkyUserError

# Columns this package reads; every other column (GpuInfo, Arch, Generation, SourceSlice) is ignored.
V8_COLUMNS = (
    "InstanceType",
    "AcceleratorName",
    "AcceleratorCount",
    "vCPUs",
    "MemoryGiB",
    "Price",
    "SpotPrice",
    "Region",
    "AvailabilityZone",
)


def open_text(path: Path) -> io.TextIOBase:
    """Open a catalog file, transparently un-gzipping ``*.gz`` (the packaged copies are gzipped)."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


# Without these a row cannot be launched at a price, so a file lacking one is not a catalog.
REQUIRED_COLUMNS = ("InstanceType", "Price", "Region")
_FIX = "point at a SkyPilot v8 vms.csv (header InstanceType,...,Price,SpotPrice,Region,...) or rerun catalog refresh"


def iter_rows(path: Path) -> Iterator[tuple[str, ...]]:
    """Yield rows as tuples ordered like :data:`V8_COLUMNS` ('' where a column is absent).

    A file that is no CSV catalog at all (binary, a broken .gz, NUL bytes, a header without
    the required columns) is one SkyUserError naming the file and line, not a parser traceback
    or an empty catalog that silently launches nothing.
    """
    reader = None
    try:
        with open_text(path) as fh:
            reader = csv.reader(fh)
            yield from _rows(reader, path)
    except (csv.Error, UnicodeDecodeError, OSError, EOFError) as exc:
        line = f" at line {reader.line_num}" if reader is not None and reader.line_num else ""
        raise SkyUserError(f"Catalog file '{path}' cannot be parsed{line} ({exc})", _FIX) from exc


def _rows(reader: Iterator[list[str]], path: Path) -> Iterator[tuple[str, ...]]:
    header = next(reader, None)
    if header is None:
        raise SkyUserError(f"Catalog file '{path}' is empty", _FIX)
    missing = [col for col in REQUIRED_COLUMNS if col not in header]
    if missing:
        raise SkyUserError(f"Catalog file '{path}' has no {', '.join(missing)} column(s) in its header", _FIX)
    width = len(header)
    positions = [header.index(col) if col in header else -1 for col in V8_COLUMNS]
    for raw in reader:
        if not raw:
            continue
        if len(raw) > width:  # unquoted comma in the last column (Azure "V1,V2"): fold it back
            raw = [*raw[: width - 1], ",".join(raw[width - 1 :])]
        elif len(raw) < width:
            raw = raw + [""] * (width - len(raw))
        yield tuple(raw[p].strip() if p >= 0 else "" for p in positions)


def write_rows(path: Path, rows: Iterable[dict[str, object]]) -> int:
    """Write rows (dicts keyed by V8 column names) as a v8 ``vms.csv``; returns the row count.

    Written to a temporary name and renamed so a reader never sees half a catalog.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(V8_COLUMNS)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in V8_COLUMNS])
            count += 1
    tmp.replace(path)
    return count
