"""`airflow-sky launch TASK.yaml`: plan (and with no --dry-run, run) a task on the cheapest cloud."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
from collections.abc import Iterator, Sequence

from airflow_provider_sky.errors import SkyError, SkyUserError
from airflow_provider_sky.params import parse_number


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "launch",
        help="run a SkyPilot-style task on the cheapest feasible cloud, region and instance",
        description="Plan a task from price catalogs; --dry-run prints the ranked plan and exits.",
    )
    parser.add_argument("task", metavar="TASK.yaml", help="task file (SkyPilot task YAML keys)")
    parser.add_argument("--dry-run", action="store_true", help="print the ranked plan, launch nothing")
    parser.add_argument(
        "--cloud",
        action="append",
        choices=("aws", "gcp", "azure", "local"),
        help="search only this cloud (repeat)",
    )
    parser.add_argument("--deny-region", action="append", default=[], metavar="GLOB", help="e.g. 'aws:us-*'")
    parser.add_argument("--allow-region", action="append", default=None, metavar="GLOB", help="e.g. 'gcp:europe-*'")
    parser.add_argument("--catalog-dir", metavar="DIR", help="SkyPilot v8 catalog dir, e.g. ~/.sky/catalogs/v8")
    parser.add_argument("--top", type=int, default=10, help="rows of the plan table to print (default 10)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME[=VALUE]",
                        help="set or override a task env (repeat); NAME alone takes it from this shell")
    parser.add_argument("--secret", action="append", default=[], metavar="NAME[=VALUE]",
                        help="give a task secret, e.g. one the task declares as NAME: null (repeat); "
                             "NAME alone takes it from this shell, keeping it out of the shell history")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here so `airflow-sky --help` and `launch --help` do not load numpy and the catalogs.
    from airflow_provider_sky.launch.optimizer import optimize
    from airflow_provider_sky.launch.task import TaskSpec

    parse_number("--top", args.top, minimum=1, integer=True)
    envs = parse_assignments("--env", args.env)
    secrets = parse_assignments("--secret", args.secret)
    task = TaskSpec.from_yaml(args.task, secrets, envs)
    plan = optimize(
        task,
        clouds=args.cloud,
        deny_regions=args.deny_region,
        allow_regions=args.allow_region,
        catalog_dir=args.catalog_dir,
    )
    print(plan.table(limit=args.top))
    print()
    print(plan.explain())
    if args.dry_run:
        return 0
    try:
        runner = importlib.import_module("airflow_provider_sky.launch.runner")
        launch_task = runner.launch_task
    except (ModuleNotFoundError, AttributeError):
        print("airflow-sky: the launch runner is not available in this build; use --dry-run to plan only.")
        return 1
    try:
        with sigterm_as_interrupt():
            result = launch_task(task, plan, failover=True, log=print)
    except SkyUserError:
        raise
    except SkyError as exc:  # every candidate failed, or the job exited non-zero: already logged
        print(f"airflow-sky: launch failed: {exc}")
        return 1
    return 0 if result is None or getattr(result, "ok", True) else 1


def parse_assignments(flag: str, items: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` (or ``NAME``, read from this environment) pairs, as SkyPilot's flags take them."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise SkyUserError(f"{flag} {item!r} does not start with a variable name",
                               f"write {flag} NAME=VALUE, e.g. {flag} HF_TOKEN=hf_...")
        if not sep:
            if name not in os.environ:
                raise SkyUserError(f"{flag} {name} takes its value from the environment, where {name} is not set",
                                   f"export {name} first, or write {flag} {name}=VALUE")
            value = os.environ[name]
        out[name] = value
    return out


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Stop on SIGTERM as on Ctrl-C: the launch's cleanup tears the cluster down either way.

    A second SIGTERM during that teardown is ignored, so ``kill`` twice cannot leak the VMs.
    """

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
