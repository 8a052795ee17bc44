"""The overlay network shared by every transfer model: candidate edges and gateway capacity.

Given a grid and the regions allowed to take part, this builds the sparse incidence matrices and
the per-edge constants once, and states the gateway constraints that unicast and multicast share:

* connections: an edge carrying ``f`` Gbps needs ``f / T * C`` TCP connections, where ``T`` is the
  measured per-VM-pair throughput at ``C`` connections (throughput is taken as linear in
  connections up to ``C``, as the grid was measured at ``C``); each VM opens at most ``C`` outgoing
  and accepts at most ``C`` incoming connections;
* NIC: each VM sends at most ``nic_egress`` and receives at most ``nic_ingress`` Gbps;
* VMs: an integer count per region, at most the region's ``vm_limit``.

The connection variables are eliminated (``conns = C * f / T``), which halves the model without
changing its optimum: any feasible (flow, conns) pair can lower conns to that value.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from airflow_provider_sky.planner.data import RegionGrid

# HiGHS settings: quiet and single-threaded (planning runs next to transfers). The MIP gap lets
# HiGHS stop once its incumbent is proven within 0.05% of the optimum: many relays tie on price,
# and proving the last hundredths of a percent among them can take 50x longer (bench: 0.4 s ->
# 0.007 s on gcp:us-west1-a -> azure:australiaeast) while changing no plan's cost measurably.
HIGHS_OPTIONS = {"mip_rel_gap": 5e-4, "threads": 1, "output_flag": False}


def _swallow_highs_banner() -> None:
    """HiGHS prints a copyright banner to fd 1 the first time a solver object is made, before any
    option can turn output off; it would corrupt ``airflow-sky plan --json``. Make that first
    object here with fd 1 pointed at /dev/null."""
    import highspy

    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


_swallow_highs_banner()


@dataclass(frozen=True, eq=False)
class Overlay:
    """Nodes (grid indices) and directed candidate edges between them."""

    grid: RegionGrid
    nodes: tuple[int, ...]  # grid indices
    edges: tuple[tuple[int, int], ...]  # positions into ``nodes``
    out_inc: sp.csr_matrix  # (k, m): 1 where edge e leaves node v
    in_inc: sp.csr_matrix  # (k, m): 1 where edge e enters node v

    @classmethod
    def build(
        cls,
        grid: RegionGrid,
        nodes: Sequence[int],
        no_in: Sequence[int] = (),
        no_out: Sequence[int] = (),
    ) -> Overlay:
        """Candidate edges are measured links between ``nodes``; ``no_in``/``no_out`` (grid
        indices) drop edges that can only create useless cycles (into the source, out of a sink)."""
        nodes = tuple(dict.fromkeys(nodes))
        pos = {g: p for p, g in enumerate(nodes)}
        blocked_in = {pos[g] for g in no_in if g in pos}
        blocked_out = {pos[g] for g in no_out if g in pos}
        tput = grid.throughput_gbps
        edges = tuple(
            (a, b)
            for a, ga in enumerate(nodes)
            for b, gb in enumerate(nodes)
            if a != b and tput[ga, gb] > 0 and a not in blocked_out and b not in blocked_in
        )
        k, m = len(nodes), len(edges)
        rows_out = np.array([a for a, _ in edges], dtype=int)
        rows_in = np.array([b for _, b in edges], dtype=int)
        cols = np.arange(m)
        ones = np.ones(m)
        out_inc = sp.csr_matrix((ones, (rows_out, cols)), shape=(k, m))
        in_inc = sp.csr_matrix((ones, (rows_in, cols)), shape=(k, m))
        return cls(grid, nodes, edges, out_inc, in_inc)

    def restrict(self, keep: set[tuple[int, int]]) -> Overlay:
        """The same nodes with only the edges in ``keep`` (for solving on a sparse subgraph)."""
        edges = tuple(e for e in self.edges if e in keep)
        cols = [i for i, e in enumerate(self.edges) if e in keep]
        return Overlay(self.grid, self.nodes, edges, self.out_inc[:, cols], self.in_inc[:, cols])

    @property
    def regions(self) -> list[str]:
        return [self.grid.regions[g] for g in self.nodes]

    def pos(self, grid_index: int) -> int:
        return self.nodes.index(grid_index)

    def edge_array(self, matrix: np.ndarray) -> np.ndarray:
        """Per-edge values of a region x region matrix."""
        idx = np.array(self.nodes)
        a = np.array([idx[e[0]] for e in self.edges], dtype=int)
        b = np.array([idx[e[1]] for e in self.edges], dtype=int)
        picked: np.ndarray = matrix[a, b] if len(self.edges) else np.zeros(0)
        return picked

    def node_array(self, vector: np.ndarray) -> np.ndarray:
        picked: np.ndarray = vector[np.array(self.nodes)]
        return picked

    @property
    def tput(self) -> np.ndarray:
        return self.edge_array(self.grid.throughput_gbps)

    @property
    def egress_price(self) -> np.ndarray:
        return self.edge_array(self.grid.egress_usd_per_gb)

    @property
    def vm_price(self) -> np.ndarray:
        return self.node_array(self.grid.vm_usd_per_hour)

    @property
    def independent_links(self) -> bool:
        return self.grid.link_model == "independent"

    def gateway_constraints(self, flow: cp.Expression, vms: cp.Variable) -> list[cp.Constraint]:
        """Connection and NIC limits that tie edge flows (Gbps) to integer VM counts.

        Shared links (clouds): a VM's connections are split among all its edges. Independent
        links (testbeds): each edge may use all of its VMs' connections.
        """
        conn_load = 1.0 / self.tput  # VMs' worth of connections per Gbps on each edge
        if self.independent_links:
            links = [
                cp.multiply(conn_load, flow) <= self.out_inc.T @ vms,
                cp.multiply(conn_load, flow) <= self.in_inc.T @ vms,
            ]
        else:
            links = [
                self.out_inc @ cp.multiply(conn_load, flow) <= vms,
                self.in_inc @ cp.multiply(conn_load, flow) <= vms,
            ]
        return [
            *links,
            self.out_inc @ flow <= cp.multiply(self.node_array(self.grid.nic_egress_gbps), vms),
            self.in_inc @ flow <= cp.multiply(self.node_array(self.grid.nic_ingress_gbps), vms),
        ]

    def vm_variable(self) -> cp.Variable:
        """Integer VMs per node, bounded by the region limits."""
        limit = self.node_array(self.grid.vm_limit).astype(float)
        return cp.Variable(len(self.nodes), integer=True, bounds=[np.zeros(len(self.nodes)), limit])

    def cost_rate(self, flow: cp.Expression, vms: cp.Expression) -> cp.Expression:
        """Dollars per second: egress (Gbps / 8 = GB/s times $/GB) plus VM time ($/h / 3600)."""
        rate: cp.Expression = self.egress_price @ flow / 8.0 + self.vm_price @ vms / 3600.0
        return rate

    def min_vms(self, flow: np.ndarray) -> np.ndarray:
        """Fewest VMs per node that carry ``flow`` (used to clean up solver round-off)."""
        conn_load = flow / self.tput
        if self.independent_links:  # the busiest edge of a node sets its VMs
            out_need = self.out_inc.multiply(conn_load).max(axis=1).toarray().ravel()
            in_need = self.in_inc.multiply(conn_load).max(axis=1).toarray().ravel()
        else:
            out_need, in_need = self.out_inc @ conn_load, self.in_inc @ conn_load
        need = np.vstack(
            [
                out_need,
                in_need,
                (self.out_inc @ flow) / self.node_array(self.grid.nic_egress_gbps),
                (self.in_inc @ flow) / self.node_array(self.grid.nic_ingress_gbps),
            ]
        ).max(axis=0)
        counts: np.ndarray = np.ceil(need - 1e-6).astype(int)
        return counts
