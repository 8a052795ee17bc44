"""`airflow-sky`: the provider's powers outside Airflow (cp, sync, plan, launch, janitor, catalog).

Each subcommand lives in its own module exposing `register(subparsers)`; this file only wires
them together and turns SkyUserError into a one-line message and exit code 2.

Start-up is part of the interface: `airflow-sky --help` must answer in a blink and `cp` must not
pay for the solver stack (cvxpy, ~3 s) or Airflow (~5 s). So the command table below names each
command's module and one-line help, and only the invoked command's module is imported; the
top-level help and a mistyped command import none of them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from typing import NamedTuple

from airflow_provider_sky import redact
from airflow_provider_sky.errors import SkyError, SkyUserError


class Command(NamedTuple):
    """Where a subcommand is defined, and the line the top-level `--help` shows for it."""

    module: str
    help: str


# In the order `--help` lists them. The help lines repeat the modules' own (a test keeps them
# equal) so listing the commands imports no command module.
COMMANDS = {
    "cp": Command("airflow_provider_sky.cli.copy", "copy objects between s3://, gs://, azure:// and file://"),
    "sync": Command("airflow_provider_sky.cli.copy", "copy only objects missing or different at the destination"),
    "plan": Command(
        "airflow_provider_sky.cli.plan", "plan a transfer: relays, gateway VMs, connections, predicted cost"
    ),
    "launch": Command(
        "airflow_provider_sky.cli.launch",
        "run a SkyPilot-style task on the cheapest feasible cloud, region and instance",
    ),
    "catalog": Command("airflow_provider_sky.cli.catalog", "refresh or inspect the VM price catalogs"),
    "janitor": Command(
        "airflow_provider_sky.cli.janitor", "delete tagged VMs whose DAG run is over or whose TTL passed"
    ),
    "gateway": Command("airflow_provider_sky.gateway.serve", "run a transfer gateway (used by the overlay runner)"),
}
# Every module that defines commands, for callers that want the full parser (docs, tests).
SUBCOMMAND_MODULES = tuple(dict.fromkeys(command.module for command in COMMANDS.values()))


def invoked_command(argv: list[str]) -> str | None:
    """The subcommand `argv` names (its first word that is not an option), if it is one of ours."""
    word = next((arg for arg in argv if not arg.startswith("-")), None)
    return word if word in COMMANDS else None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: the invoked command in full, the others as help lines only.

    With `argv=None` every command module is imported and registered in full.
    """
    parser = argparse.ArgumentParser(
        prog="airflow-sky",
        description="Move data between clouds and run batch tasks on the cheapest cloud.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = None if argv is None else invoked_command(argv)
    if argv is None or command:
        for name in SUBCOMMAND_MODULES if command is None else (COMMANDS[command].module,):
            importlib.import_module(name).register(sub)
    else:  # the list for --help and "invalid choice": help lines only, nothing imported
        for name, entry in COMMANDS.items():
            sub.add_parser(name, help=entry.help, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    redact.install()  # no credential in any log line, at any verbosity
    try:
        return int(args.handler(args) or 0)
    except SkyUserError as exc:
        print(f"airflow-sky: error: {redact.redact(str(exc))}", file=sys.stderr)
        return 2
    except SkyError as exc:  # a failed job, exhausted candidates, a checksum mismatch: no traceback
        print(f"airflow-sky: failed: {redact.redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("airflow-sky: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a full disk, an unreachable endpoint: one line; a bug keeps its traceback
        from airflow_provider_sky.cli.failures import explain

        problem = explain(exc)
        if problem is None:
            raise
        if args.verbose:
            print(redact.redact(traceback.format_exc()), file=sys.stderr)
        print(f"airflow-sky: error: {redact.redact(str(problem))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
