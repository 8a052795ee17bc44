"""Upper bounds on what a testbed can carry, from its rate matrix alone.

Benchmarks compare measured throughput with what the shaped network allows at best; that best
is a max-flow over the links, each link independent (a namespace's links are separate veths, so
a gateway may fill all of them at once). Pure Python and tiny graphs, so no new dependency.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

from airflow_provider_sky.errors import SkyUserError

EPS = 1e-12


def _index(doc: dict[str, Any], region: str) -> int:
    try:
        return list(doc["regions"]).index(region)
    except ValueError:
        raise SkyUserError(
            f"Region '{region}' is not in profile '{doc.get('name', 'custom')}'",
            f"use one of {', '.join(doc['regions'])}",
        ) from None


def max_flow(profile_doc: dict[str, Any], source: str, destination: str) -> float:
    """Most Gbit/s from ``source`` to ``destination`` over the profile's links (Edmonds-Karp)."""
    s, t = _index(profile_doc, source), _index(profile_doc, destination)
    if s == t:
        raise SkyUserError(f"Source and destination are both '{source}'", "name two different regions")
    residual = [[float(v) for v in row] for row in profile_doc["throughput_gbps"]]
    n = len(residual)
    total = 0.0
    while True:
        parent = [-1] * n
        parent[s] = s
        queue = deque([s])
        while queue and parent[t] < 0:
            a = queue.popleft()
            for b in range(n):
                if parent[b] < 0 and residual[a][b] > EPS:
                    parent[b] = a
                    queue.append(b)
        if parent[t] < 0:
            return round(total, 12)
        path, b = [], t
        while b != s:
            path.append((parent[b], b))
            b = parent[b]
        push = min(residual[a][b] for a, b in path)
        for a, b in path:
            residual[a][b] -= push
            residual[b][a] += push
        total += push


def multicast_bound(profile_doc: dict[str, Any], source: str, destinations: Sequence[str]) -> float:
    """An upper bound for one-to-many: every destination must receive all the data, so none can
    receive faster than its own max-flow from the source."""
    if not destinations:
        raise SkyUserError("No destination given", "name at least one destination region")
    return min(max_flow(profile_doc, source, d) for d in destinations)
