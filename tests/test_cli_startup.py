"""`airflow-sky` imports what a command needs when it needs it: listing the commands, or planning a
launch, must not load the solver stack (cvxpy) or Airflow, each seconds of start-up."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from airflow_provider_sky.cli.main import COMMANDS, build_parser

HEAVY = ("cvxpy", "airflow", "google", "azure", "boto3", "paramiko", "aiohttp")
# Runs the CLI's main in a fresh interpreter, then names the heavy packages it imported.
_PROBE = (
    "import json, sys\n"
    "from airflow_provider_sky.cli.main import main\n"
    "try:\n    rc = main(sys.argv[1:])\nexcept SystemExit as exc:\n    rc = exc.code\n"
    f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
    "print('IMPORTED', json.dumps(heavy), file=sys.stderr)\n"
    "sys.exit(rc or 0)\n"
)


def _imports_of(*argv: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120, check=False, env=env
    )
    line = next(line for line in result.stderr.splitlines() if line.startswith("IMPORTED"))
    return result, json.loads(line.removeprefix("IMPORTED "))


def test_top_level_help_lists_every_command_and_imports_no_heavy_package():
    result, imported = _imports_of("--help")

    assert result.returncode == 0
    assert all(name in result.stdout for name in COMMANDS)
    assert imported == []


def test_launch_dry_run_plans_without_cvxpy_or_airflow(tmp_path):
    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  cpus: 4+\nrun: echo hi\n")

    result, imported = _imports_of("launch", str(task), "--dry-run", "--cloud", "gcp")

    assert result.returncode == 0, result.stderr
    assert "gcp:" in result.stdout  # a ranked plan was printed
    assert "cvxpy" not in imported and "airflow" not in imported


def test_a_mistyped_command_names_the_real_ones_without_importing_them():
    result, imported = _imports_of("lauch")

    assert result.returncode == 2
    assert "invalid choice: 'lauch'" in result.stderr and "'launch'" in result.stderr
    assert imported == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_help_line_listed_for_a_command_is_the_one_its_module_registers(name):
    full = build_parser()
    subcommands = next(a for a in full._actions if a.dest == "command")

    registered = {action.dest: action.help for action in subcommands._choices_actions}

    assert registered[name] == COMMANDS[name].help


@pytest.mark.emulators
def test_a_copy_to_azure_does_not_import_the_azure_sdks_aiohttp_transport(fresh_bucket, tmp_path):
    """azure.storage.blob imports aiohttp whenever it is installed; a synchronous cp has no use for it."""
    import os

    from airflow_provider_sky.devtools.emulators import azurite_connection_string

    bucket = fresh_bucket("azure")
    assert bucket.emulator is not None
    source = tmp_path / "one.bin"
    source.write_bytes(b"x" * 1000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env["AZURE_STORAGE_CONNECTION_STRING"] = azurite_connection_string(bucket.emulator.endpoint)

    result, imported = _imports_of("cp", "--no-progress", f"file://{source}", bucket.url + "one.bin", env=env)

    assert result.returncode == 0, result.stderr
    assert "azure" in imported and "aiohttp" not in imported
    assert [o.size for o in bucket.store.list(bucket.bucket, "")] == [1000]
