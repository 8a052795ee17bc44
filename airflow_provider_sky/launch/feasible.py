"""Which catalog rows of one cloud can run one resource request, and at what hourly price.

Why a module of its own: this is the catalog-filter half of SkyPilot's optimizer (exact or
at-least cpus/memory, accelerator name and count, default instance families, GCP's separately
priced GPUs joined to their host VMs per zone). It works on whole numpy columns and counts what
each filter removed, so an empty answer can say which filter emptied it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from airflow_provider_sky.launch.catalog.table import CloudCatalog
from airflow_provider_sky.launch.task import ResourceRequest, bound

# SkyPilot's defaults when a task asks for nothing: 8+ vCPUs, 4 GiB per vCPU, general families.
DEFAULT_CPUS = "8+"
DEFAULT_MEMORY = "4x"
DEFAULT_FAMILIES = {
    "aws": re.compile(r"^[mrc][67]i\."),
    "gcp": re.compile(r"^n[24]-(standard|highmem|highcpu)-\d+$"),
    "azure": re.compile(r"^Standard_[DEF]\d+s_v5$"),
    "local": re.compile(r"."),
}

# GCP GPUs that come only with fixed host machine types: (name, count) -> host types.
GCP_GPU_HOSTS: dict[tuple[str, float], tuple[str, ...]] = {
    **{("A100", n): (f"a2-highgpu-{n}g",) for n in (1, 2, 4, 8)},
    ("A100", 16): ("a2-megagpu-16g",),
    **{("A100-80GB", n): (f"a2-ultragpu-{n}g",) for n in (1, 2, 4, 8)},
    **{("H100", n): (f"a3-highgpu-{n}g",) for n in (1, 2, 4, 8)},
    ("H100-MEGA", 8): ("a3-megagpu-8g",),
    ("H200", 8): ("a3-ultragpu-8g",),
    ("B200", 8): ("a4-highgpu-8g",),
    ("L4", 1): ("g2-standard-4", "g2-standard-8", "g2-standard-12", "g2-standard-16", "g2-standard-32"),
    ("L4", 2): ("g2-standard-24",),
    ("L4", 4): ("g2-standard-48",),
    ("L4", 8): ("g2-standard-96",),
}
# GCP GPUs attached to any n1 host, up to a vCPU limit per GPU count (GCE's attachment rules).
GCP_N1_GPU_MAX_VCPUS: dict[str, dict[float, float]] = {
    "T4": {1: 48, 2: 48, 4: 96},
    "V100": {1: 12, 2: 24, 4: 48, 8: 96},
    "P100": {1: 16, 2: 32, 4: 96},
    "P4": {1: 24, 2: 48, 4: 96},
    "K80": {1: 8, 2: 16, 4: 32, 8: 64},
}
GCP_N1_DEFAULT_HOST = "n1-highmem-8"


@dataclass
class Feasible:
    """Rows of one catalog that fit a request: row indices and the hourly price per row."""

    rows: np.ndarray
    hourly: np.ndarray
    accelerators: dict[str, float] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _isin(codes: np.ndarray, wanted: list[int]) -> np.ndarray:
    return np.isin(codes, np.asarray(wanted, dtype=np.int32))


def _name_mask(cat: CloudCatalog, names: tuple[str, ...], codes: np.ndarray, pred) -> np.ndarray:
    """Evaluate ``pred`` once per distinct name and broadcast to rows (fast string filters)."""
    per_name = np.fromiter((bool(pred(n)) for n in names), dtype=bool, count=len(names))
    per_name = np.append(per_name, False)  # code -1 (no value) indexes this False
    return per_name[codes]


def _size_mask(values: np.ndarray, spec: str | None, vcpus: np.ndarray | None = None) -> np.ndarray | None:
    b = bound(spec)
    if b is None:
        return None
    target, at_least = b
    if spec is not None and spec.rstrip("+").endswith("x") and vcpus is not None:
        target_arr = vcpus * target
        return values >= target_arr - 1e-6 if at_least else np.isclose(values, target_arr)
    return values >= target - 1e-6 if at_least else np.isclose(values, target)


class _Stages:
    """Apply masks in order, remembering how many rows each one removed."""

    def __init__(self, n: int) -> None:
        self.mask = np.ones(n, dtype=bool)
        self.removed: dict[str, int] = {}

    def apply(self, reason: str, mask: np.ndarray | None) -> None:
        if mask is None:
            return
        before = int(self.mask.sum())
        self.mask &= mask
        lost = before - int(self.mask.sum())
        if lost:
            self.removed[reason] = self.removed.get(reason, 0) + lost


def feasible_rows(cat: CloudCatalog, req: ResourceRequest) -> Feasible:
    """Rows of ``cat`` that satisfy ``req`` with their per-node hourly price (spot or on-demand)."""
    stages = _Stages(len(cat))
    notes: list[str] = []
    price = cat.spot if req.use_spot else cat.price
    accel_name, given_count = next(iter(req.accelerators.items())) if req.accelerators else (None, None)
    accel_count = float(given_count or 0)
    gpu_join = (
        cat.cloud == "gcp"
        and accel_name is not None
        and not accel_name.startswith("tpu-")
        and cat.gpus is not None
        and (accel_name, float(accel_count)) in _gcp_gpu_keys(accel_name)
    )
    if req.region is not None:
        stages.apply("region", cat.region == cat.code_of(cat.region_names, req.region))
    if req.zone is not None:
        stages.apply("zone", cat.zone == cat.code_of(cat.zone_names, req.zone))
    if req.instance_type is not None:
        stages.apply("instance_type", cat.itype == cat.code_of(cat.itype_names, req.instance_type))

    cpus, memory = req.cpus, req.memory
    if accel_name is None:
        if req.instance_type is None:
            stages.apply("has accelerators (none asked)", cat.accel < 0)
            if cpus is None and memory is None:
                cpus, memory = DEFAULT_CPUS, DEFAULT_MEMORY
            family = DEFAULT_FAMILIES[cat.cloud]
            fam_mask = _name_mask(cat, cat.itype_names, cat.itype, family.search)
            trial = (
                stages.mask
                & fam_mask
                & _both(_size_mask(cat.vcpus, cpus), _size_mask(cat.memory, memory, cat.vcpus))
            )
            if trial.any():
                stages.apply("outside default instance families", fam_mask)
            elif (stages.mask & fam_mask).any():
                notes.append(f"{cat.cloud}: no default-family instance fits; searched all families")
    elif gpu_join:
        hosts = _gcp_host_mask(cat, accel_name, float(accel_count), cpus, memory)
        stages.apply("accelerators", hosts)
    else:
        code = cat.code_of(cat.accel_names, accel_name)
        stages.apply("accelerators", (cat.accel == code) & np.isclose(cat.accel_count, float(accel_count)))
    if not (gpu_join and cpus is None and memory is None):
        stages.apply("cpus", _size_mask(cat.vcpus, cpus))
        stages.apply("memory", _size_mask(cat.memory, memory, cat.vcpus))

    hourly = price.copy()
    if gpu_join:
        assert accel_name is not None  # gpu_join needs one
        hourly = hourly + _gcp_gpu_price_by_zone(cat, accel_name, float(accel_count), req.use_spot)
    stages.apply("no spot price" if req.use_spot else "no price", ~np.isnan(hourly))
    rows = np.flatnonzero(stages.mask)
    accels: dict[str, float] = {accel_name: accel_count} if accel_name else {}
    return Feasible(rows, hourly[rows], accels, stages.removed, notes)


def _both(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | bool:
    out: np.ndarray | bool = True
    for m in (a, b):
        if m is not None:
            out = out & m
    return out


def _gcp_gpu_keys(name: str) -> set[tuple[str, float]]:
    keys = {k for k in GCP_GPU_HOSTS if k[0] == name}
    keys |= {(name, float(n)) for n in GCP_N1_GPU_MAX_VCPUS.get(name, {})}
    return {(k[0], float(k[1])) for k in keys}


def _gcp_host_mask(
    cat: CloudCatalog, name: str, count: float, cpus: str | None, memory: str | None
) -> np.ndarray:
    fixed = GCP_GPU_HOSTS.get((name, count)) or GCP_GPU_HOSTS.get((name, int(count)))
    if fixed:
        codes = [cat.code_of(cat.itype_names, t) for t in fixed]
        return _isin(cat.itype, codes) & (cat.accel < 0)
    limit = GCP_N1_GPU_MAX_VCPUS[name][count]
    if cpus is None and memory is None:
        return (cat.itype == cat.code_of(cat.itype_names, GCP_N1_DEFAULT_HOST)) & (cat.vcpus <= limit)
    n1 = _name_mask(cat, cat.itype_names, cat.itype, lambda t: t.startswith("n1-"))
    return n1 & (cat.vcpus <= limit) & (cat.accel < 0)


def _gcp_gpu_price_by_zone(cat: CloudCatalog, name: str, count: float, spot: bool) -> np.ndarray:
    """Per host row, the price of the GPUs in that row's zone (NaN where the zone sells none)."""
    gpus = cat.gpus
    assert gpus is not None
    sel = (
        (gpus.accel == cat.code_of(cat.accel_names, name)) & np.isclose(gpus.count, count) & (gpus.zone >= 0)
    )
    by_zone = np.full(len(cat.zone_names) + 1, np.nan)  # last slot: rows without a zone
    by_zone[gpus.zone[sel]] = (gpus.spot if spot else gpus.price)[sel]
    return by_zone[cat.zone]


def offered_counts(cat: CloudCatalog, name: str) -> set[float]:
    """Counts of accelerator ``name`` this catalog sells (host rows and GCP GPU rows)."""
    code = cat.code_of(cat.accel_names, name)
    counts = set(np.unique(cat.accel_count[cat.accel == code]).tolist())
    if cat.gpus is not None:
        counts |= set(np.unique(cat.gpus.count[cat.gpus.accel == code]).tolist())
    return {c for c in counts if c == c}
