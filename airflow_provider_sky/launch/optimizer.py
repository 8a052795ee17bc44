"""The launch optimizer: every feasible (cloud, region, zone, instance, spot) ranked by cost.

What it does, in SkyPilot's spirit but as one pass over numpy columns:
1. each alternative of the request (``any_of`` / ``ordered`` / accelerator lists) is matched
   against each enabled cloud's catalog (:mod:`feasible`);
2. rows become launch locations: AWS on-demand collapses to the region (one request lets AWS
   pick the zone), AWS spot and GCP stay per zone (spot prices differ by zone), Azure has no
   zones;
3. ``deny_regions`` / ``allow_regions`` globs (``aws:us-*``) drop locations; a zone matches
   through its region;
4. the cost of bringing the task's input data to each region is added (joint placement), with
   the egress amortised over ``estimated_runtime_hours`` (1 h by default, as SkyPilot assumes);
5. candidates are sorted by that score (``ordered`` alternatives keep their order first).

No cloud calls and no Airflow imports: the plan is pure data the runner walks for failover.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch import egress
from airflow_provider_sky.launch.catalog.sources import PRICED_CLOUDS, load_catalog
from airflow_provider_sky.launch.catalog.table import CloudCatalog
from airflow_provider_sky.launch.feasible import Feasible, feasible_rows, offered_counts
from airflow_provider_sky.launch.plan import Candidate, LaunchPlan
from airflow_provider_sky.launch.task import ResourceRequest, TaskSpec
from airflow_provider_sky.planner.regions import RegionRules

MAX_CANDIDATES_PER_CLOUD = 50


def optimize(
    task: TaskSpec,
    *,
    clouds: Sequence[str] | None = None,
    deny_regions: Iterable[str] | str | None = None,
    allow_regions: Iterable[str] | str | None = None,
    catalog_dir: str | None = None,
    catalogs: Mapping[str, CloudCatalog] | None = None,
    data_regions: Mapping[str, str] | None = None,
    max_per_cloud: int = MAX_CANDIDATES_PER_CLOUD,
) -> LaunchPlan:
    """Rank where ``task`` can run, cheapest first; raise SkyUserError when nothing fits.

    ``clouds`` limits the search (default: aws, gcp, azure; ``local`` only when named by the
    task or here). ``catalogs`` injects parsed catalogs (tests); otherwise they come from the
    source order in :mod:`catalog.sources`. ``data_regions`` maps an input URI to its bucket's
    region when the task file does not say.
    """
    start = time.perf_counter()
    rules = RegionRules.of(deny_regions, allow_regions)
    alternatives = task.resources.alternatives()
    ordered = bool(task.resources.ordered)
    inputs = _inputs(task, data_regions or {})
    scored: list[tuple[tuple, Candidate]] = []
    rejected: dict[str, int] = {}
    notes: list[str] = []
    used: dict[str, CloudCatalog] = {}
    for alt_index, req in enumerate(alternatives):
        for cloud in _clouds_for(req, clouds):
            cat = catalogs[cloud] if catalogs is not None and cloud in catalogs else None
            if cat is None:
                if catalogs is not None:
                    continue
                cat = load_catalog(cloud, catalog_dir)
            used[cloud] = cat
            fz = feasible_rows(cat, req)
            _merge(rejected, fz.removed)
            notes.extend(n for n in fz.notes if n not in notes)
            for key, cand in _candidates(cat, req, fz, task, rules, inputs, rejected, max_per_cloud):
                scored.append(((alt_index if ordered else 0, *key), cand))
    if not scored:
        raise _infeasible(task, alternatives, used, rejected, rules)
    scored.sort(key=lambda item: item[0])
    seen: set[tuple] = set()
    ranked = []
    for _, cand in scored:  # the same location may come from two alternatives: keep the better
        ident = (cand.cloud, cand.region, cand.zone, cand.instance_type, cand.use_spot)
        if ident not in seen:
            seen.add(ident)
            ranked.append(cand)
    if inputs and any(size is None for _, _, size in inputs):
        notes.append("Some input buckets have no size: give `inputs: {URI: GB}` to price moving them.")
    return LaunchPlan(
        task_name=task.name,
        candidates=ranked,
        rejected=rejected,
        catalog_source=_source_label(used),
        solve_ms=(time.perf_counter() - start) * 1000.0,
        runtime_hours=task.estimated_runtime_hours,
        ordered=ordered,
        notes=notes,
    )


def _clouds_for(req: ResourceRequest, clouds: Sequence[str] | None) -> list[str]:
    if req.cloud is not None:
        if clouds and req.cloud not in clouds:
            return []
        return [req.cloud]
    return list(clouds) if clouds else list(PRICED_CLOUDS)


def _inputs(task: TaskSpec, data_regions: Mapping[str, str]) -> list[tuple[str, str | None, float | None]]:
    """(cloud, region or None, GB or None) for every input bucket of the task."""
    out = []
    for uri, size in task.input_data().items():
        cloud = egress.data_cloud(uri)
        if cloud is None:
            continue
        region = task.input_regions.get(uri) or _lookup_region(uri, data_regions)
        out.append((cloud, region, size))
    return out


def _lookup_region(uri: str, data_regions: Mapping[str, str]) -> str | None:
    best = None
    for prefix, region in data_regions.items():
        if uri.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, region)
    if best is None:
        return None
    return best[1].split(":", 1)[1] if ":" in best[1] else best[1]


def _candidates(
    cat: CloudCatalog,
    req: ResourceRequest,
    fz: Feasible,
    task: TaskSpec,
    rules: RegionRules,
    inputs: list[tuple[str, str | None, float | None]],
    rejected: dict[str, int],
    limit: int,
) -> list[tuple[tuple, Candidate]]:
    rows, hourly = fz.rows, fz.hourly
    if len(rows) == 0:
        return []
    region_codes = cat.region[rows]
    zone_codes = cat.zone[rows]
    per_zone = cat.has_zones and (cat.cloud != "aws" or req.use_spot or req.zone is not None)
    if not per_zone:
        zone_codes = np.full(len(rows), -1, dtype=np.int32)
    # region rules, evaluated once per distinct region / zone
    keep = _rule_mask(cat, rules, region_codes, zone_codes, rejected)
    rows, hourly, region_codes, zone_codes = rows[keep], hourly[keep], region_codes[keep], zone_codes[keep]
    if len(rows) == 0:
        return []
    # one candidate per (instance type, region, zone): cheapest first, then drop repeats
    order = np.lexsort((zone_codes, region_codes, cat.itype[rows], hourly))
    rows, hourly, region_codes, zone_codes = (
        rows[order],
        hourly[order],
        region_codes[order],
        zone_codes[order],
    )
    key = (cat.itype[rows].astype(np.int64) * (len(cat.region_names) + 1) + region_codes) * (
        len(cat.zone_names) + 2
    ) + (zone_codes + 1)
    _, first = np.unique(key, return_index=True)
    first.sort()
    rows, hourly, region_codes, zone_codes = (
        rows[first],
        hourly[first],
        region_codes[first],
        zone_codes[first],
    )
    egress_by_region = _egress_by_region(cat, inputs)
    egress_usd = egress_by_region[region_codes]
    total = hourly * task.num_nodes
    score = total + egress_usd / task.estimated_runtime_hours
    best = np.argsort(score, kind="stable")[:limit]
    if len(score) > limit:
        rejected["beyond per-cloud candidate limit"] = rejected.get("beyond per-cloud candidate limit", 0) + (
            len(score) - limit
        )
    out = []
    for i in best:
        r = int(rows[i])
        accels = dict(fz.accelerators)
        if not accels and cat.accel[r] >= 0:
            accels = {cat.accel_names[cat.accel[r]]: float(cat.accel_count[r])}
        zone = cat.zone_names[zone_codes[i]] if zone_codes[i] >= 0 else None
        cand = Candidate(
            cloud=cat.cloud,
            region=cat.region_names[region_codes[i]],
            zone=zone,
            instance_type=cat.itype_names[cat.itype[r]],
            use_spot=req.use_spot,
            hourly_price=round(float(hourly[i]), 6),
            num_nodes=task.num_nodes,
            vcpus=float(cat.vcpus[r]),
            memory_gib=float(cat.memory[r]),
            accelerators=accels,
            data_egress_usd=round(float(egress_usd[i]), 6),
            total_hourly_usd=round(float(total[i]), 6),
            score_usd=round(float(score[i]), 6),
        )
        out.append(((cand.score_usd, cand.cloud, cand.region, cand.zone or "", cand.instance_type), cand))
    return out


def _rule_mask(
    cat: CloudCatalog,
    rules: RegionRules,
    region_codes: np.ndarray,
    zone_codes: np.ndarray,
    rejected: dict[str, int],
) -> np.ndarray:
    if not rules.deny and rules.allow is None:
        return np.ones(len(region_codes), dtype=bool)
    cloud = cat.cloud
    region_denied = np.array([rules.denied(f"{cloud}:{r}") for r in cat.region_names] + [False])
    region_allowed = np.array([_allowed(rules, f"{cloud}:{r}") for r in cat.region_names] + [False])
    zone_denied = np.array([rules.denied(f"{cloud}:{z}") for z in cat.zone_names] + [False])
    zone_allowed = np.array([_allowed(rules, f"{cloud}:{z}") for z in cat.zone_names] + [False])
    denied = region_denied[region_codes] | zone_denied[zone_codes]
    allowed = region_allowed[region_codes] | zone_allowed[zone_codes]
    n_denied = int(denied.sum())
    n_not_allowed = int((~denied & ~allowed).sum())
    if n_denied:
        rejected["deny_regions"] = rejected.get("deny_regions", 0) + n_denied
    if n_not_allowed:
        rejected["allow_regions"] = rejected.get("allow_regions", 0) + n_not_allowed
    return ~denied & allowed


def _allowed(rules: RegionRules, location: str) -> bool:
    from fnmatch import fnmatchcase

    return rules.allow is None or any(fnmatchcase(location, p) for p in rules.allow)


def _egress_by_region(cat: CloudCatalog, inputs: list[tuple[str, str | None, float | None]]) -> np.ndarray:
    """USD to bring all sized inputs to each region of ``cat`` (indexed by region code; last = 0)."""
    out = np.zeros(len(cat.region_names) + 1)
    for src_cloud, src_region, size in inputs:
        if not size:
            continue
        for code, region in enumerate(cat.region_names):
            out[code] += size * egress.usd_per_gb(src_cloud, src_region, cat.cloud, region)
    return out


def _merge(into: dict[str, int], more: Mapping[str, int]) -> None:
    for k, v in more.items():
        into[k] = into.get(k, 0) + v


def _source_label(used: Mapping[str, CloudCatalog]) -> str:
    sources = {c.source or "injected" for c in used.values()}
    if len(sources) == 1:
        return sources.pop()
    return "mixed (" + ", ".join(f"{cloud}: {c.source}" for cloud, c in sorted(used.items())) + ")"


def _infeasible(
    task: TaskSpec,
    alternatives: list[ResourceRequest],
    used: Mapping[str, CloudCatalog],
    rejected: Mapping[str, int],
    rules: RegionRules,
) -> SkyUserError:
    """Say why nothing fits and what is close, naming the filter that removed the last rows."""
    clouds = ", ".join(sorted(used)) or "no cloud"
    if not used:
        return SkyUserError(
            "No cloud left to search: the task's cloud is not among the enabled clouds",
            "drop --cloud, or set resources.cloud to one of the enabled clouds",
        )
    for req in alternatives:
        if req.accelerators:
            name, count = next(iter(req.accelerators.items()))
            counts = sorted(set().union(*(offered_counts(c, name) for c in used.values())))
            if float(count) not in counts:
                shown = ", ".join(_num(c) for c in counts) or "none"
                return SkyUserError(
                    f"No catalog row has {name}:{_num(count)} on {clouds}; available counts: {shown}",
                    "ask for one of the available counts, or another accelerator/cloud",
                )
        if req.instance_type:
            names = sorted({n for c in used.values() for n in c.itype_names})
            if req.instance_type not in names:
                close = difflib.get_close_matches(req.instance_type, names, n=4)
                return SkyUserError(
                    f"Instance type {req.instance_type!r} is in no catalog of {clouds}",
                    f"did you mean {', '.join(close)}?" if close else "check the spelling or the cloud",
                )
        if req.region:
            regions = sorted({r for c in used.values() for r in c.region_names})
            if req.region not in regions:
                close = difflib.get_close_matches(req.region, regions, n=4)
                return SkyUserError(
                    f"Region {req.region!r} is in no catalog of {clouds}",
                    f"use a listed region{': ' + ', '.join(close) if close else ''}",
                )
    if rejected.get("deny_regions") or rejected.get("allow_regions"):
        parts = [
            f"{k} removed {rejected[k]} candidates"
            for k in ("deny_regions", "allow_regions")
            if rejected.get(k)
        ]
        return SkyUserError(
            f"No candidate left after region rules: {'; '.join(parts)} (deny {list(rules.deny)}, "
            f"allow {list(rules.allow) if rules.allow is not None else 'all'})",
            "loosen deny_regions/allow_regions, or allow another cloud",
        )
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(rejected.items(), key=lambda kv: -kv[1])) or "none"
    what = "; ".join(_describe(r) for r in alternatives)
    exact = [
        r
        for r in alternatives
        if (r.cpus and not r.cpus.endswith("+")) or (r.memory and not r.memory.endswith("+"))
    ]
    if exact:
        r = exact[0]
        sizes = [
            f"{k}: '{v}+'" for k, v in (("cpus", r.cpus), ("memory", r.memory)) if v and not v.endswith("+")
        ]
        hint = f"exact sizes match no catalog row; write {' / '.join(sizes)} to accept at least that much"
    else:
        hint = "relax cpus/memory, allow spot or on-demand, or another cloud"
    return SkyUserError(
        f"No instance on {clouds} fits {what} (rows removed by filter: {reasons})",
        hint,
    )


def _describe(req: ResourceRequest) -> str:
    parts = [f"{k}={v}" for k, v in req._flat_dict().items()]
    return "{" + ", ".join(parts) + "}" if parts else "the defaults (8+ vCPUs, 4 GiB per vCPU)"


def _num(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"
