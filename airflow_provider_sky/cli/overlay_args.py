"""The overlay flags of `airflow-sky cp/sync`, and running a copy through gateways from the shell.

The flags mirror SkyTransferOperator's arguments. The planner (and cvxpy) is imported only
when gateways are asked for: ``--source-region`` given and ``--overlay`` not ``never``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import threading
from typing import Any

from airflow_provider_sky.credentials import StoreCredentials
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.params import parse_backend_options, parse_list, parse_number
from airflow_provider_sky.transfer.request import CopyRequest
from airflow_provider_sky.transfer.summary import CopySummary
from airflow_provider_sky.uri import parse_uri


def add_overlay_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("gateway overlay (planned route through relays; needs --source-region)")
    group.add_argument("--overlay", choices=("auto", "always", "never"), default="auto",
                       help="auto: gateways when the plan says they pay (default)")
    group.add_argument("--source-region", default=None, help="grid region of SRC, e.g. aws:us-east-1")
    group.add_argument("--destination-region", action="append", default=None,
                       help="grid region of each DST, in order (repeat for several)")
    group.add_argument("--objective", choices=("cost", "throughput"), default="cost")
    group.add_argument("--gbps", default=None, help="throughput goal in Gbit/s (objective cost; default 1)")
    group.add_argument("--budget", default=None, help="$/GB budget (objective throughput)")
    group.add_argument("--grid", default=None, help="packaged grid, testbed profile (triangle) or sky-grid/1 file")
    group.add_argument("--max-instances-per-region", default=None, help="gateway VMs a region may run")
    group.add_argument("--deny", action="append", default=None, help="region glob the data must not transit")
    group.add_argument("--allow", action="append", default=None, help="only regions matching these globs")
    group.add_argument("--gateway-cloud", choices=("vm", "local", "testbed", "process"), default=None,
                       help="where gateways run: VMs in each region's cloud (local:* regions: sshd VMs), "
                            "testbed namespaces or plain processes (default: a live testbed holding the "
                            "regions, else vm)")
    group.add_argument("--backend-options", default=None, metavar="JSON",
                       help='per-cloud VM options, e.g. \'{"aws": {"image_id": "ami-...", '
                            '"security_group_ids": ["sg-..."]}}\' (docs/overlay.md)')
    group.add_argument("--compression", choices=("auto", "zstd", "off"), default="auto")
    group.add_argument("--gateway-memory", default="256", help="MiB of chunks in flight per gateway (256)")  # fmt: skip


def wants_overlay(args: argparse.Namespace) -> bool:
    if args.overlay == "always" and not args.source_region:
        raise SkyUserError("--overlay always needs to know where the stores are",
                           "pass --source-region and one --destination-region per destination")  # fmt: skip
    return bool(args.source_region) and args.overlay != "never" and not args.dry_run


def run_with_overlay(args: argparse.Namespace, request: CopyRequest, credentials: StoreCredentials) -> tuple[
    CopySummary | None, dict[str, Any]
]:  # fmt: skip
    """Plan and copy through gateways; (None, reason) when the direct path should run instead."""
    from airflow_provider_sky.overlay import runner
    from airflow_provider_sky.overlay.session import OverlaySettings, check_regions, start_overlay
    from airflow_provider_sky.overlay.watch import watch
    from airflow_provider_sky.planner.api import Planner

    regions = list(args.destination_region or [])
    check_regions(request, regions)
    goal = parse_number("--gbps", args.gbps, minimum=0, exclusive_minimum=True) if args.gbps else None
    budget = parse_number("--budget", args.budget, minimum=0, exclusive_minimum=True) if args.budget else None
    if args.objective == "throughput" and budget is None:
        raise SkyUserError("--objective throughput needs a cost budget", "pass --budget (US dollars per GB)")
    if args.objective == "cost":
        goal, budget = goal or 1.0, None
    else:
        goal = None
    limit = args.max_instances_per_region
    planner = Planner(args.grid, int(parse_number("--max-instances-per-region", limit, minimum=1, integer=True))
                      if limit else None)  # fmt: skip
    backend_options = parse_backend_options("--backend-options", args.backend_options)
    settings = OverlaySettings(
        args.source_region, {str(parse_uri(d)): r for d, r in zip(request.destinations, regions, strict=True)},
        args.overlay, goal, budget, parse_list("--deny", args.deny), parse_list("--allow", args.allow),
        args.gateway_cloud, args.compression,
        int(parse_number("--gateway-memory", args.gateway_memory, minimum=16, maximum=65536, integer=True)), 5.0,
        backend_options=backend_options,
    )  # fmt: skip
    say = (lambda line: None) if args.no_progress else (lambda line: print(line, file=sys.stderr))
    started = start_overlay(request, settings, planner, credentials, say)
    if started.handle is None:
        return None, {"used": False, "reason": started.decision.reason}
    handle = started.handle
    cancel = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    try:
        outcome = asyncio.run(watch(handle, log_line=say, cancel=cancel.is_set))
    except BaseException:  # Ctrl-C included: no gateway outlives the command
        runner.teardown(handle, credentials=credentials)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary = runner.finish(handle, outcome, credentials)
    route = ", ".join(f"{e}: {v['bytes'] / 1e6:.1f} MB" for e, v in outcome.edges.items())
    return summary, {"used": True, "reason": started.decision.reason, "job_id": handle.job_id, "route": route,
                     "edges": outcome.edges, "seconds": outcome.seconds, "switches": outcome.switches}  # fmt: skip
