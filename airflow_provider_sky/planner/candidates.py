"""Relay pruning: which regions are worth offering to the solver as relays.

A mixed-integer program over all ~60-70 regions spends most of its time proving that far-away
relays are useless. Relays that can matter are those that make a two-hop path either cheap or
fast, so each allowed relay ``r`` is scored on the path ``s -> r -> d``:

* ``rate``: Gbps one VM per hop can push, ``min(T[s,r], T[r,d], NIC limits)``;
* ``price``: $ per Gbit of egress plus the VM time per Gbit along the path.

Kept: the Pareto front of (price low, rate high), the cheapest few and the fastest few by each
hop (so three-hop routes through two good relays stay reachable). ``limit=None`` keeps all
allowed relays (the exhaustive model, used to check the pruning).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from airflow_provider_sky.planner.data import RegionGrid

DEFAULT_LIMIT = 12


def relay_scores(grid: RegionGrid, src: int, dst: int, relays: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-relay (rate Gbps per VM per hop, price $ per Gbit) of the two-hop path via it."""
    r = np.asarray(relays, dtype=int)
    t, c = grid.throughput_gbps, grid.egress_usd_per_gb
    e_nic, i_nic, vm = grid.nic_egress_gbps, grid.nic_ingress_gbps, grid.vm_usd_per_hour / 3600.0
    hop1 = np.minimum.reduce([t[src, r], np.full(len(r), e_nic[src]), i_nic[r]])
    hop2 = np.minimum.reduce([t[r, dst], e_nic[r], np.full(len(r), i_nic[dst])])
    rate = np.minimum(hop1, hop2)
    with np.errstate(divide="ignore"):
        vm_per_gbit = vm[src] / hop1 + vm[r] / rate + vm[dst] / hop2  # $/s per Gbps = $ per Gbit
    price = (c[src, r] + c[r, dst]) / 8.0 + vm_per_gbit
    price = np.where(rate > 0, price, np.inf)
    return rate, price


def pick_relays(
    grid: RegionGrid, src: int, dsts: Sequence[int], relays: Sequence[int], limit: int | None = DEFAULT_LIMIT
) -> list[int]:
    """Relays worth modelling for ``src`` to each of ``dsts`` (union over destinations)."""
    relays = list(relays)
    if limit is None or len(relays) <= limit:
        return relays
    ranked: list[list[int]] = []
    per_dst = max(3, limit // max(1, len(dsts)))
    for dst in dsts:
        rate, price = relay_scores(grid, src, dst, relays)
        order = np.lexsort((-rate, price))  # cheapest first, faster first among equals
        front, best_rate = [], -1.0
        for i in order:  # Pareto front: each kept relay is faster than every cheaper one
            if np.isfinite(price[i]) and rate[i] > best_rate + 1e-9:
                front.append(relays[i])
                best_rate = rate[i]
        picks = front[:per_dst]
        picks += [relays[i] for i in order[:per_dst] if np.isfinite(price[i])]
        picks += [relays[i] for i in np.argsort(-rate)[: max(2, per_dst // 2)] if rate[i] > 0]
        out_fast = np.argsort(-grid.throughput_gbps[src, relays])[:2]
        in_fast = np.argsort(-grid.throughput_gbps[relays, dst])[:2]
        picks += [relays[i] for i in (*out_fast, *in_fast)]
        ranked.append(list(dict.fromkeys(picks)))
    if len(dsts) == 1:  # unicast: the whole (small) list; the cap matters for multicast unions
        return ranked[0]
    keep: dict[int, None] = {}
    for depth in range(max(len(r) for r in ranked)):  # round-robin over destinations, best first
        for r in ranked:
            if depth < len(r) and len(keep) < limit:
                keep.setdefault(r[depth], None)
    return list(keep)
