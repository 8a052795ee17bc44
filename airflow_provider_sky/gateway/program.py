"""Compile a TransferPlan into one program per gateway: a pure function, no I/O.

The planner says how much flow each overlay edge carries. Gateways need something more
local: for each *partition* of the data (one path of a unicast, one tree of a multicast),
which next hops a chunk goes to and whether this region writes it. The source additionally
needs each partition's share of the flow, to assign chunks in proportion to the plan.

- Unicast: the edge flows are decomposed into source -> destination paths (largest
  bottleneck first), each a partition weighted by its Gbit/s.
- Multicast: each of the plan's distribution trees is a partition.
- The direct path is the one-partition, one-edge case: the same stages, nothing special.

Connections: an edge's connections (from the plan) are split evenly over the sending
region's gateways, at least one each.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.planner.plan import TransferPlan

FLOW_EPS = 1e-9


@dataclass(frozen=True)
class Partition:
    """A path (unicast) or tree (multicast) that carries ``weight`` of the data."""

    id: int
    weight: float
    edges: tuple[tuple[str, str], ...]

    def children(self, region: str) -> list[str]:
        return [b for a, b in self.edges if a == region]

    def regions(self) -> set[str]:
        return {r for e in self.edges for r in e}


@dataclass(frozen=True)
class Hop:
    """What a gateway does with a chunk of one partition: send it on, write it, or both."""

    next_hops: tuple[str, ...]
    write: bool


@dataclass
class GatewayProgram:
    """Everything one gateway runs; the runner adds addresses and stores before loading it."""

    job_id: str
    gateway_id: str
    region: str
    reads: bool  # the source region: read chunks from the source store
    writes: bool  # a destination region: write chunks to its store
    hops: dict[int, Hop]  # partition id -> what to do (only partitions through this region)
    weights: dict[int, float] = field(default_factory=dict)  # source: partition -> share of flow
    connections: dict[str, int] = field(default_factory=dict)  # next region -> connections from here
    peers: dict[str, list[str]] = field(default_factory=dict)  # next region -> data addresses host:port
    store: dict[str, Any] = field(default_factory=dict)  # source or destination store config (runner)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["hops"] = {str(p): {"next_hops": list(h.next_hops), "write": h.write} for p, h in self.hops.items()}
        doc["weights"] = {str(p): w for p, w in self.weights.items()}
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> GatewayProgram:
        doc = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        doc["hops"] = {int(p): Hop(tuple(h["next_hops"]), bool(h["write"])) for p, h in doc["hops"].items()}
        doc["weights"] = {int(p): float(w) for p, w in doc.get("weights", {}).items()}
        return cls(**doc)


def gateway_ids(plan: TransferPlan) -> dict[str, list[str]]:
    """Region -> the ids of its gateways (``local-tb-src-0``...), as many as the plan's VMs."""
    out: dict[str, list[str]] = {}
    for region, count in plan.vms.items():
        if count > 0:
            slug = re.sub(r"[^a-z0-9]+", "-", region.lower()).strip("-")
            out[region] = [f"{slug}-{i}" for i in range(count)]
    return out


def partitions(plan: TransferPlan, first: int = 0) -> list[Partition]:
    """The plan's trees, or for a unicast its edge flows decomposed into paths (ids from ``first``)."""
    if plan.trees:
        trees = [t for t in plan.trees if t.gbps > FLOW_EPS]
        return [Partition(first + i, t.gbps, tuple((a, b) for a, b in t.edges)) for i, t in enumerate(trees)]
    if len(plan.destinations) != 1:
        raise SkyUserError(
            "The multicast plan has no distribution trees", "plan it again with SkyPlannerHook.plan_multicast"
        )
    paths = _decompose(plan.source, plan.destinations[0], {(e.src, e.dst): e.gbps for e in plan.edges})
    return [Partition(first + p.id, p.weight, p.edges) for p in paths]


def _decompose(source: str, sink: str, flow: dict[tuple[str, str], float]) -> list[Partition]:
    """Peel source -> sink paths off the flow, widest first; cyclic leftovers are dropped."""
    remaining = {e: f for e, f in flow.items() if f > FLOW_EPS}
    paths: list[Partition] = []
    while True:
        path = _widest_path(source, sink, remaining)
        if path is None:
            break
        width = min(remaining[e] for e in path)
        for e in path:
            remaining[e] -= width
            if remaining[e] <= FLOW_EPS:
                del remaining[e]
        paths.append(Partition(len(paths), width, tuple(path)))
    return paths


def _widest_path(source: str, sink: str, flow: dict[tuple[str, str], float]) -> list[tuple[str, str]] | None:
    """The path with the largest bottleneck (a max-min Dijkstra over a handful of regions)."""
    best: dict[str, float] = {source: math.inf}
    via: dict[str, tuple[str, str]] = {}
    done: set[str] = set()
    while True:
        open_nodes = [n for n in best if n not in done]
        if not open_nodes:
            return None
        node = max(open_nodes, key=lambda n: (best[n], n))
        if node == sink:
            break
        done.add(node)
        for (a, b), f in sorted(flow.items()):
            if a == node and b not in done:
                width = min(best[node], f)
                if width > best.get(b, 0.0):
                    best[b], via[b] = width, (a, b)
    path = []
    node = sink
    while node != source:
        edge = via[node]
        path.append(edge)
        node = edge[0]
    return path[::-1]


def compile_programs(plan: TransferPlan, job_id: str, first_partition: int = 0) -> dict[str, GatewayProgram]:
    """Gateway id -> its program. Every gateway of a region runs the same hops.

    ``first_partition`` numbers the partitions from there: a re-plan's partitions must not
    collide with the ones whose chunks are still on their way.
    """
    ids = gateway_ids(plan)
    parts = partitions(plan, first_partition)
    if not parts:
        raise SkyUserError(
            f"The plan from {plan.source} carries no flow to {', '.join(plan.destinations)}",
            "plan again with a reachable throughput goal (airflow-sky plan shows the maximum)",
        )
    missing = sorted({r for p in parts for r in p.regions()} - set(ids))
    if missing:
        raise SkyUserError(
            f"The plan routes through {', '.join(missing)} but starts no gateway there",
            "plan again: every region on a route needs at least one VM",
        )
    destinations = set(plan.destinations)
    conns = {(e.src, e.dst): e.connections for e in plan.edges}
    programs: dict[str, GatewayProgram] = {}
    for region, region_ids in ids.items():
        hops = {
            p.id: Hop(tuple(p.children(region)), region in destinations)
            for p in parts
            if region in p.regions() or (region == plan.source and not p.edges)
        }
        if not hops:
            continue  # a VM the plan counts but no partition uses: start nothing there
        next_regions = sorted({n for h in hops.values() for n in h.next_hops})
        per_gateway = {
            n: max(1, math.ceil(conns.get((region, n), len(region_ids)) / len(region_ids))) for n in next_regions
        }
        for gateway_id in region_ids:
            programs[gateway_id] = GatewayProgram(
                job_id=job_id,
                gateway_id=gateway_id,
                region=region,
                reads=region == plan.source,
                writes=region in destinations,
                hops=hops,
                weights={p.id: p.weight for p in parts} if region == plan.source else {},
                connections=per_gateway,
            )
    return programs
