"""`airflow-sky`: the provider's powers outside Airflow (cp, sync, plan, launch, janitor, catalog).

Each subcommand lives in its own module exposing `register(subparsers)`; this file only wires
them together and turns SkyUserError into a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from airflow_provider_sky.errors import SkyError, SkyUserError

# Modules whose `register(subparsers)` adds subcommands, in the order `--help` lists them.
SUBCOMMAND_MODULES = (
    "airflow_provider_sky.cli.copy",
    "airflow_provider_sky.cli.plan",
    "airflow_provider_sky.cli.launch",
    "airflow_provider_sky.cli.catalog",
    "airflow_provider_sky.cli.janitor",
    "airflow_provider_sky.gateway.serve",
)
# Which module defines each command: `airflow-sky cp` must not pay for importing the solver
# (cvxpy) or the cloud compute SDKs, so only the invoked command's module is imported.
COMMAND_MODULE = {
    "cp": "airflow_provider_sky.cli.copy",
    "sync": "airflow_provider_sky.cli.copy",
    "plan": "airflow_provider_sky.cli.plan",
    "launch": "airflow_provider_sky.cli.launch",
    "catalog": "airflow_provider_sky.cli.catalog",
    "janitor": "airflow_provider_sky.cli.janitor",
    "gateway": "airflow_provider_sky.gateway.serve",
}


def _modules_for(argv: list[str]) -> tuple[str, ...]:
    """The one module that defines the invoked command, or all of them (for --help or typos)."""
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    module = COMMAND_MODULE.get(command or "")
    return (module,) if module else SUBCOMMAND_MODULES


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airflow-sky",
        description="Move data between clouds and run batch tasks on the cheapest cloud.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES if argv is None else _modules_for(argv):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # a subcommand module not built yet
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args) or 0)
    except SkyUserError as exc:
        print(f"airflow-sky: error: {exc}", file=sys.stderr)
        return 2
    except SkyError as exc:  # a failed job, exhausted candidates, a checksum mismatch: no traceback
        print(f"airflow-sky: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("airflow-sky: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
