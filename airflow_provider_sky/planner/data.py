"""Region grids: the measured numbers the planner optimises over.

A :class:`RegionGrid` holds, for a set of regions, the throughput one gateway VM gets to one VM
in another region (at ``connections_per_vm`` parallel TCP connections), egress prices, VM prices,
per-VM NIC limits and per-region VM limits. Cloud regions and testbed profiles (network
namespaces named like ``local:ns-relay``) use the same ``sky-grid/1`` JSON document, so the planner
plans a testbed exactly as it plans clouds.

Units: the packaged grids are decimal Gbit/s (bits/s / 1e9). A grid may declare another unit
(``"unit": "Gibit/s"`` for numbers taken from Skyplane's solver, which divides by 2**30); the
planner is unit-agnostic as long as throughput, NIC limits and goals share one unit, and it reports
the grid's unit back in every plan.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from airflow_provider_sky.errors import SkyUserError

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_GRID = "skyplane-2022-01"
FORMAT = "sky-grid/1"
LINK_MODELS = ("shared", "independent")


@dataclass(frozen=True, eq=False)
class RegionGrid:
    """Immutable matrices over ``regions``; row = source region, column = destination region."""

    regions: tuple[str, ...]
    throughput_gbps: np.ndarray  # (n, n) per VM pair at connections_per_vm connections; 0 = no link
    egress_usd_per_gb: np.ndarray  # (n, n)
    vm_usd_per_hour: np.ndarray  # (n,)
    nic_egress_gbps: np.ndarray  # (n,) per VM
    nic_ingress_gbps: np.ndarray  # (n,) per VM
    vm_limit: np.ndarray  # (n,) int, gateway VMs a region may run
    connections_per_vm: int = 64
    unit: str = "Gbit/s"
    name: str = "custom"
    # "shared": a VM's connections and NIC serve all its edges (clouds: one NIC per VM, the grid
    # measured one VM pair at a time). "independent": each region pair has its own link, so an
    # edge is limited by its own rate alone (a namespace testbed: one veth per pair).
    link_model: str = "shared"
    # True when vm_limit is physical, not a default (a testbed namespace is one "VM": a limit
    # passed by the user can lower it but never raise it).
    vm_limit_hard: bool = False
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.regions)
        if n == 0:
            raise SkyUserError("The grid has no regions", "list at least two region ids in 'regions'")
        object.__setattr__(self, "_index", {r: i for i, r in enumerate(self.regions)})
        if len(self._index) != n:
            raise SkyUserError("The grid lists a region twice", "give every region once in 'regions'")
        for name in ("throughput_gbps", "egress_usd_per_gb"):
            if getattr(self, name).shape != (n, n):
                raise SkyUserError(f"'{name}' is not {n}x{n}", "give one row and one column per region")
        for name in ("vm_usd_per_hour", "nic_egress_gbps", "nic_ingress_gbps", "vm_limit"):
            if getattr(self, name).shape != (n,):
                raise SkyUserError(f"'{name}' does not have {n} entries", "give one value per region")
        if self.link_model not in LINK_MODELS:
            raise SkyUserError(f"Unknown link_model '{self.link_model}'", f"use one of {', '.join(LINK_MODELS)}")
        for name in ("throughput_gbps", "egress_usd_per_gb", "vm_usd_per_hour", "nic_egress_gbps",
                     "nic_ingress_gbps"):  # fmt: skip
            if not np.isfinite(getattr(self, name)).all():
                raise SkyUserError(f"'{name}' holds an infinite or NaN value", "give finite numbers only")
        if (self.throughput_gbps < 0).any() or (self.egress_usd_per_gb < 0).any():
            raise SkyUserError("The grid has negative throughput or prices", "use values >= 0")
        if (self.vm_limit < 0).any():
            raise SkyUserError("'vm_limit' holds a negative VM count", "give each region 0 or more VMs")

    def __len__(self) -> int:
        return len(self.regions)

    def index(self, region: str) -> int:
        """Position of ``region``; unknown ids raise an error that lists close matches."""
        try:
            return self._index[region]
        except KeyError:
            cloud = region.split(":", 1)[0]
            near = [r for r in self.regions if r.startswith(cloud + ":")][:8] or list(self.regions[:8])
            raise SkyUserError(
                f"Region '{region}' is not in grid '{self.name}'",
                f"use an id like {', '.join(near)} (run 'airflow-sky plan --list-regions' for all)",
            ) from None

    def cloud(self, region: str) -> str:
        """The provider prefix of a region id (``aws`` for ``aws:us-east-1``)."""
        return region.split(":", 1)[0]

    def with_limits(
        self,
        vm_limit: int | dict[str, int] | None = None,
        vm_usd_per_hour: float | dict[str, float] | None = None,
    ) -> RegionGrid:
        """A copy with VM limits / prices replaced (one number for all, or per region id)."""
        limits = self.vm_limit.copy()
        prices = self.vm_usd_per_hour.copy()
        for arr, value in ((limits, vm_limit), (prices, vm_usd_per_hour)):
            if isinstance(value, dict):
                for region, v in value.items():
                    arr[self.index(region)] = v
            elif value is not None:
                arr[:] = value
        if self.vm_limit_hard:
            limits = np.minimum(limits, self.vm_limit)
        return _replace(self, vm_limit=limits, vm_usd_per_hour=prices)

    def to_dict(self) -> dict[str, Any]:
        """The ``sky-grid/1`` document for this grid (round-trips through :func:`grid_from_dict`)."""
        return {
            "format": FORMAT,
            "name": self.name,
            "unit": self.unit,
            "connections_per_vm": self.connections_per_vm,
            "regions": list(self.regions),
            "throughput_gbps": self.throughput_gbps.tolist(),
            "egress_usd_per_gb": self.egress_usd_per_gb.tolist(),
            "vm_usd_per_hour": self.vm_usd_per_hour.tolist(),
            "nic_egress_gbps": self.nic_egress_gbps.tolist(),
            "nic_ingress_gbps": self.nic_ingress_gbps.tolist(),
            "vm_limit": self.vm_limit.tolist(),
            "link_model": self.link_model,
            "vm_limit_hard": self.vm_limit_hard,
        }


def _replace(grid: RegionGrid, **changes: Any) -> RegionGrid:
    kwargs = {k: getattr(grid, k) for k in grid.__dataclass_fields__ if k != "_index"}
    kwargs.update(changes)
    return RegionGrid(**kwargs)


def _per_region(doc: dict[str, Any], key: str, regions: list[str], default: Any) -> np.ndarray:
    """Accept a list (one per region), a dict by region id or by cloud prefix, or one number."""
    value = doc.get(key, default)
    if value is None:
        raise SkyUserError(f"The grid document has no '{key}'", f"add '{key}' (one value per region)")
    if isinstance(value, dict):
        out = []
        for r in regions:
            v = value.get(r, value.get(r.split(":", 1)[0], value.get("*")))
            if v is None:
                raise SkyUserError(f"'{key}' has no value for region '{r}'", f"add '{r}' or a '*' entry")
            out.append(v)
        return np.asarray(out, dtype=float)
    if isinstance(value, int | float):
        return np.full(len(regions), float(value))
    return np.asarray(value, dtype=float)


DEFAULT_NIC = {"aws": (5.0, 10.0), "gcp": (7.0, 16.0), "azure": (16.0, 16.0)}


def grid_from_dict(doc: dict[str, Any]) -> RegionGrid:
    """Build a grid from a ``sky-grid/1`` document (packaged, user-measured or testbed).

    A hand-edited document goes wrong in many ways; each is one SkyUserError naming the key,
    never a KeyError or a numpy message.
    """
    if not isinstance(doc, dict):
        raise SkyUserError(f"A grid document is a JSON object, got {type(doc).__name__}",
                           f"write a '{FORMAT}' object with regions and throughput_gbps")  # fmt: skip
    if doc.get("format", FORMAT) != FORMAT:
        raise SkyUserError(f"Unknown grid format '{doc.get('format')}'", f"write a '{FORMAT}' document")
    for key in ("regions", "throughput_gbps", "egress_usd_per_gb"):
        if key not in doc:
            raise SkyUserError(f"The grid document has no '{key}'", f"add '{key}' (see docs/planner.md)")
    if not isinstance(doc["regions"], list) or not all(isinstance(r, str) for r in doc["regions"]):
        raise SkyUserError("The grid's 'regions' is not a list of region ids", 'write e.g. ["aws:us-east-1"]')
    if not doc["regions"]:
        raise SkyUserError("The grid has no regions", "list at least two region ids in 'regions'")
    try:
        return _grid_from_checked(doc)
    except (TypeError, ValueError) as exc:  # a string or a ragged row where numbers belong
        raise SkyUserError(f"The grid document holds a value that is not a number ({exc})",
                           "give numbers (or one number per region) in every matrix and list") from exc  # fmt: skip


def _grid_from_checked(doc: dict[str, Any]) -> RegionGrid:
    regions = list(doc["regions"])
    nic = {c: v for c, v in DEFAULT_NIC.items()}
    nic_default_e = {r: nic[r.split(":", 1)[0]][0] for r in regions if r.split(":", 1)[0] in nic}
    nic_default_i = {r: nic[r.split(":", 1)[0]][1] for r in regions if r.split(":", 1)[0] in nic}
    return RegionGrid(
        regions=tuple(regions),
        throughput_gbps=np.asarray(doc["throughput_gbps"], dtype=float),
        egress_usd_per_gb=np.asarray(doc["egress_usd_per_gb"], dtype=float),
        vm_usd_per_hour=_per_region(doc, "vm_usd_per_hour", regions, 0.54),
        nic_egress_gbps=_per_region(doc, "nic_egress_gbps", regions, nic_default_e or None),
        nic_ingress_gbps=_per_region(doc, "nic_ingress_gbps", regions, nic_default_i or None),
        vm_limit=_per_region(doc, "vm_limit", regions, 8).astype(int),
        connections_per_vm=int(doc.get("connections_per_vm", 64)),
        unit=str(doc.get("unit", "Gbit/s")),
        name=str(doc.get("name", "custom")),
        link_model=str(doc.get("link_model", "shared")),
        vm_limit_hard=bool(doc.get("vm_limit_hard", False)),
    )


@cache
def _load_packaged(name: str) -> RegionGrid:
    path = DATA_DIR / f"{name}.json.gz"
    if not path.exists():
        from airflow_provider_sky.testbed.profiles import load_profile, profile_names

        if name in profile_names():  # a testbed profile is a grid too: plan the testbed like a cloud
            return grid_from_dict(load_profile(name))
        names = sorted(p.name.removesuffix(".json.gz") for p in DATA_DIR.glob("*.json.gz")) + profile_names()
        raise SkyUserError(f"No packaged grid named '{name}'", f"use one of {', '.join(names)} or a file path")
    return grid_from_dict(json.loads(gzip.decompress(path.read_bytes())))


def load_grid(source: str | Path | dict[str, Any] | RegionGrid | None = None) -> RegionGrid:
    """Load a grid: ``None`` (packaged default), a packaged name, a JSON/JSON.gz path, or a document.

    Packaged grids are cached, so repeated loads cost nothing; grids are immutable, so sharing is safe.
    """
    if isinstance(source, RegionGrid):
        return source
    if isinstance(source, dict):
        return grid_from_dict(source)
    if source is None:
        return _load_packaged(DEFAULT_GRID)
    path = Path(source)
    if not path.suffix and not path.exists():
        return _load_packaged(str(source))
    if not path.exists():
        raise SkyUserError(f"Grid file '{path}' does not exist", "pass an existing sky-grid/1 JSON file")
    if not path.is_file():
        raise SkyUserError(f"Grid path '{path}' is not a file", "pass a sky-grid/1 JSON file, not a directory")
    try:
        raw = path.read_bytes()
        doc = json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # unreadable, or a truncated .gz
        raise SkyUserError(f"Grid file '{path}' cannot be read ({exc})", "pass a readable sky-grid/1 file") from exc
    except json.JSONDecodeError as exc:
        raise SkyUserError(f"Grid file '{path}' is not JSON ({exc})", "write a sky-grid/1 JSON document") from exc
    return grid_from_dict(doc)
