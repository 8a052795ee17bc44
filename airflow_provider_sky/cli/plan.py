"""`airflow-sky plan SRC DST [DST...]`: plan a transfer offline and print it as a table.

Needs no cloud account: it plans over the packaged 2022 Skyplane grid (or ``--grid`` FILE, e.g.
a measured grid or a testbed profile). ``--gbps`` asks for the cheapest plan at a throughput,
``--budget`` for the fastest plan within a $/GB budget; ``--plot`` draws the route and, for a
pair, the cost/throughput curve.
"""

from __future__ import annotations

import argparse
import json
import os

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.params import parse_number


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="plan a transfer: relays, gateway VMs, connections, predicted cost",
        description="Plan an overlay transfer from measured region throughput and prices (no cloud calls).",
    )
    parser.add_argument("regions", nargs="*", metavar="REGION", help="SRC DST [DST...], e.g. aws:us-east-1")
    goal = parser.add_mutually_exclusive_group()
    goal.add_argument("--gbps", type=float, help="throughput goal (cheapest plan that reaches it)")
    goal.add_argument("--budget", type=float, metavar="USD_PER_GB", help="$/GB budget (fastest plan in it)")
    parser.add_argument("--grid", help="packaged grid name or sky-grid/1 JSON file (default skyplane-2022-01)")
    parser.add_argument("--max-instances", type=int, metavar="N", help="gateway VMs per region (default 8)")
    parser.add_argument("--deny", action="append", metavar="GLOB", help="regions data must never transit")
    parser.add_argument("--allow", action="append", metavar="GLOB", help="only these regions may relay")
    parser.add_argument("--volume", type=float, default=1000.0, metavar="GB", help="volume for totals")
    parser.add_argument("--pareto", action="store_true", help="also print the cost/throughput frontier")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON (as pushed to XCom)")
    parser.add_argument("--plot", metavar="FILE.png", help="draw the route (and the frontier for a pair)")
    parser.add_argument("--list-regions", action="store_true", help="list the grid's region ids and exit")
    parser.set_defaults(handler=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    from airflow_provider_sky.planner.api import Planner

    check_arguments(args)
    planner = Planner(args.grid, args.max_instances)
    if args.list_regions:
        for region in planner.grid.regions:
            print(region)
        return 0
    if len(args.regions) < 2:
        raise SkyUserError("plan needs a source and at least one destination", "run e.g. "
                           "'airflow-sky plan aws:us-east-1 gcp:europe-west4-a --gbps 5'")  # fmt: skip
    if args.gbps is None and args.budget is None:
        raise SkyUserError("plan needs a goal", "add --gbps N (cheapest at N) or --budget USD_PER_GB")
    source, dests = args.regions[0], args.regions[1:]
    rules = {"deny_regions": args.deny, "allow_regions": args.allow}
    plan = planner.plan_transfer(
        source,
        dests if len(dests) > 1 else dests[0],
        throughput_goal_gbps=args.gbps,
        budget_usd_per_gb=args.budget,
        **rules,
    )
    frontier = planner.pareto(source, dests[0], **rules) if (args.pareto or args.plot) and len(dests) == 1 else []
    if args.json:
        doc = plan.to_dict()
        doc["prediction"] = plan.predict(args.volume)
        if frontier:
            doc["pareto"] = [p.to_dict() for p in frontier]
        print(json.dumps(doc, indent=1))
    else:
        print(render_table(plan, args.volume))
        if args.pareto and frontier:
            print(render_frontier(frontier, plan.unit))
    if args.plot:
        from airflow_provider_sky.planner.plot import plot_plan

        plot_plan(plan, frontier, args.plot)
        if not args.json:
            print(f"plot written to {args.plot}")
    return 0


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse, by flag name, numbers the solver would choke on and a --plot it could not write.

    Checked before the grid loads or the solver runs, so a typo costs no planning time.
    """
    for flag, value in (("--gbps", args.gbps), ("--budget", args.budget), ("--volume", args.volume)):
        if value is not None:
            parse_number(flag, value, minimum=0, exclusive_minimum=True)
    if args.max_instances is not None:
        parse_number("--max-instances", args.max_instances, minimum=1, integer=True)
    if args.plot:
        check_plot_target(args.plot)


def check_plot_target(path: str) -> None:
    """The PNG can be written: its directory exists and is writable, and it is no directory itself."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise SkyUserError(f"--plot {path!r} is a directory", "name the PNG file to write, e.g. plan.png")
    if not os.path.isdir(folder):
        raise SkyUserError(
            f"--plot {path!r}: directory {folder!r} does not exist", f"create it first (mkdir -p {folder})"
        )
    if not os.access(folder, os.W_OK):
        raise SkyUserError(f"--plot {path!r}: directory {folder!r} is not writable", "choose a directory you own")


def render_table(plan, volume_gb: float) -> str:
    """Edges, VMs and the cost split, as fixed-width text."""
    u = plan.unit
    pred = plan.predict(volume_gb)
    rows = [
        f"{plan.kind} plan {plan.source} -> {', '.join(plan.destinations)}  (grid {plan.grid}, rates in {u})",
        "",
        f"{'from':28} {'to':28} {'rate':>9} {'conns':>6} {'$/GB':>7}",
    ]
    for e in plan.edges:
        rows.append(f"{e.src:28} {e.dst:28} {e.gbps:>9.3f} {e.connections:>6} {e.egress_usd_per_gb:>7.4f}")
    if len(plan.trees) > 1:  # a multicast split into several distribution trees
        rows.append("")
        for i, tree in enumerate(plan.trees, 1):
            rows.append(f"tree {i}: {tree.gbps:.3f} {u} via " + ", ".join(f"{a}->{b}" for a, b in tree.edges))
    rows += ["", f"{'region':28} {'VMs':>4}"]
    rows += [f"{r:28} {n:>4}" for r, n in plan.vms.items()]
    rows += [
        "",
        f"throughput      {plan.throughput_gbps:.3f} {u}",
        f"cost per GB     ${plan.cost_usd_per_gb:.5f}  (egress {plan.egress_usd_per_gb:.5f} + VMs "
        f"{plan.vm_usd_per_gb:.5f})",
        f"{volume_gb:g} GB        {pred['seconds']:.0f} s, ${pred['total_usd']:.2f}",
        f"solver          {plan.solver.get('method')} {plan.solver.get('status')} in "
        f"{plan.solver.get('solve_s', 0):.3f} s",
    ]
    return "\n".join(rows)


def render_frontier(points, unit: str) -> str:
    rows = ["", f"{'rate':>9} {'$/GB':>9} {'VMs':>4}  relays"]
    for p in points:
        mark = " (dominated)" if p.dominated else ""
        rows.append(f"{p.gbps:>9.3f} {p.cost_usd_per_gb:>9.5f} {p.vms:>4}  {', '.join(p.relays) or '-'}{mark}")
    rows[0] = f"cost/throughput frontier ({unit})"
    return "\n".join(rows)
