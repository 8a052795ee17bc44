"""One cloud's price catalog as numpy columns, with the catalog quirks already cleaned out.

Why columns of integer codes: the optimizer must answer in well under 50 ms over ~90k rows, so
every filter is a vectorised comparison on small integers or floats; strings are compared once
per distinct value (a few hundred instance types, a few dozen regions), not once per row.

Cleaning rules (each one counted in ``dropped`` so ``catalog show`` and plans can explain them):
- an empty or non-numeric price means "not offered at that price": NaN, never launched;
- 700.0 is a placeholder some GCP TPU rows carry for both prices ("not sold here"): NaN;
- a spot price equal to the on-demand price (Azure H100 at launch) is a copied placeholder, not a
  spot offer: the spot price becomes NaN, the on-demand price stays;
- GCP GPU rows (empty InstanceType, AcceleratorName set) price the GPU alone; they are kept in a
  separate ``gpus`` table and joined to host VMs per zone by the optimizer;
- GCP TPU rows (empty InstanceType, ``tpu-*``) are TPU VMs with no host: instance type "TPU-VM";
- exact duplicate (type, region, zone) rows (Azure, GCP us-central2-b) are kept once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

PLACEHOLDER_PRICE = 700.0
TPU_VM = "TPU-VM"


def _price(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) and value > 0 else math.nan


def _codes(values: list[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """Dictionary-encode strings: (distinct names, int32 code per value); '' gets code -1."""
    names: dict[str, int] = {}
    out = np.empty(len(values), dtype=np.int32)
    for i, v in enumerate(values):
        if v == "":
            out[i] = -1
            continue
        code = names.get(v)
        if code is None:
            code = names[v] = len(names)
        out[i] = code
    return tuple(names), out


@dataclass(frozen=True, eq=False)
class GpuPrices:
    """GCP's separately priced GPUs: one row per (accelerator, count, zone)."""

    accel: np.ndarray  # int32 code into CloudCatalog.accel_names
    count: np.ndarray  # float
    zone: np.ndarray  # int32 code into CloudCatalog.zone_names
    price: np.ndarray
    spot: np.ndarray


@dataclass(frozen=True, eq=False)
class CloudCatalog:
    """Launchable rows of one cloud. Row i is (itype[i], region[i], zone[i]) with its prices."""

    cloud: str
    itype_names: tuple[str, ...]
    accel_names: tuple[str, ...]
    region_names: tuple[str, ...]
    zone_names: tuple[str, ...]
    itype: np.ndarray
    accel: np.ndarray
    accel_count: np.ndarray
    vcpus: np.ndarray
    memory: np.ndarray
    price: np.ndarray
    spot: np.ndarray
    region: np.ndarray
    zone: np.ndarray
    zone_region: np.ndarray  # region code of each zone code
    gpus: GpuPrices | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    source: str = "packaged"
    path: str = ""

    def __len__(self) -> int:
        return len(self.itype)

    @property
    def has_zones(self) -> bool:
        return len(self.zone_names) > 0

    @classmethod
    def from_rows(
        cls, cloud: str, rows: Iterable[tuple[str, ...]], source: str = "", path: str = ""
    ) -> CloudCatalog:
        """Build from rows ordered like ``schema.V8_COLUMNS``, applying the cleaning rules above."""
        dropped: dict[str, int] = {}

        def drop(reason: str) -> None:
            dropped[reason] = dropped.get(reason, 0) + 1

        host: dict[tuple[str, str, str], tuple] = {}
        gpu_rows: dict[tuple[str, float, str], tuple[str, float, float]] = {}
        for itype, accel, count, vcpus, mem, price, spot, region, zone in rows:
            if not region:
                drop("no region")
                continue
            p, s = _price(price), _price(spot)
            if p == PLACEHOLDER_PRICE:
                p = math.nan
                drop("placeholder price 700.0")
            if s == PLACEHOLDER_PRICE:
                s = math.nan
            if not math.isnan(s) and s == p:
                s = math.nan
                drop("spot price equals on-demand (placeholder)")
            if math.isnan(p) and math.isnan(s):
                drop("no price")
                continue
            n = _price(count) if count else math.nan
            if not itype and accel and not accel.startswith("tpu-"):
                gpu_key = (accel, n, zone)
                if gpu_key in gpu_rows:
                    drop("duplicate row")
                gpu_rows[gpu_key] = (region, p, s)
                continue
            if not itype and accel:
                itype = TPU_VM
            key = (itype + "|" + accel, region, zone)
            if key in host:
                drop("duplicate row")
                continue
            host[key] = (itype, accel, n, _num(vcpus), _num(mem), p, s, region, zone)

        cols = list(zip(*host.values(), strict=True)) if host else [()] * 9
        itype_names, itype_codes = _codes(list(cols[0]))
        gpu_accels = [k[0] for k in gpu_rows]
        accel_names, accel_codes = _codes(list(cols[1]) + gpu_accels)
        region_names, region_codes = _codes(list(cols[7]) + [v[0] for v in gpu_rows.values()])
        zone_names, zone_codes = _codes(list(cols[8]) + [k[2] for k in gpu_rows])
        n_host = len(host)
        zone_region = np.full(len(zone_names), -1, dtype=np.int32)
        valid = zone_codes >= 0
        zone_region[zone_codes[valid]] = region_codes[valid]

        gpus = None
        if gpu_rows:
            gpus = GpuPrices(
                accel=accel_codes[n_host:],
                count=np.array([k[1] for k in gpu_rows], dtype=float),
                zone=zone_codes[n_host:],
                price=np.array([v[1] for v in gpu_rows.values()], dtype=float),
                spot=np.array([v[2] for v in gpu_rows.values()], dtype=float),
            )
        return cls(
            cloud=cloud,
            itype_names=itype_names,
            accel_names=accel_names,
            region_names=region_names,
            zone_names=zone_names,
            itype=itype_codes,
            accel=accel_codes[:n_host],
            accel_count=np.array(cols[2], dtype=float),
            vcpus=np.array(cols[3], dtype=float),
            memory=np.array(cols[4], dtype=float),
            price=np.array(cols[5], dtype=float),
            spot=np.array(cols[6], dtype=float),
            region=region_codes[:n_host],
            zone=zone_codes[:n_host],
            zone_region=zone_region,
            gpus=gpus,
            dropped=dropped,
            source=source,
            path=path,
        )

    def code_of(self, names: tuple[str, ...], value: str) -> int:
        """Code of ``value`` in a name table, or -2 (matches nothing) when absent."""
        try:
            return names.index(value)
        except ValueError:
            return -2


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
