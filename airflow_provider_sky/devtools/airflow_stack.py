"""Start a real Airflow (api-server, scheduler, triggerer, dag-processor) on loopback, and stop it.

Why this exists: `dag.test()` runs every task in one process, so it never shows what a user sees:
a task *deferred* in the triggerer, logs read back through the API, extra links in the UI. The
browser test (and a demo) need the four components running as they do in production, on a private
AIRFLOW_HOME with SQLite and the LocalExecutor, bound to 127.0.0.1 only, with a known admin login.

Each component runs in its own process group, so `stop()` kills it with every child it started
(task runners, log servers). The components get a clean environment: no AIRFLOW__* variable of
the calling process leaks in (a test run's unit-test mode would change Airflow's behaviour).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

from airflow_provider_sky.devtools.emulators import free_port
from airflow_provider_sky.errors import SkyError

COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server", "--workers", "1"],  # host and port come from the environment
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
}
HEALTH_PARTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
ADMIN_USER = "admin"
TERMINAL_RUN_STATES = frozenset({"success", "failed"})


class StackError(SkyError):
    """Airflow could not be started, or did not answer as expected; the message holds log tails."""


@dataclass
class AirflowStack:
    """A private Airflow installation: its home, its port, and (once started) its processes."""

    home: Path
    dags_folder: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: dict[str, IO[bytes]] = field(default_factory=dict, repr=False)
    _password: str = field(default_factory=lambda: secrets.token_urlsafe(16), repr=False)
    _token: str | None = field(default=None, repr=False)
    _migration: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def password(self) -> str:
        """The admin's password (written by us into the simple auth manager's password file)."""
        return self._password

    def env(self) -> dict[str, str]:
        """The environment every component runs with."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        settings = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self._password_file),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__SECRET_KEY": self._secret("secret_key"),
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret"),
            # Airflow 3.3 may fail a resumed deferred task with the stale "success" its deferring
            # process reported, when the scheduler reads that event after the task runs again
            # (apache/airflow#72716, open): one quick retry carries such a run through.
            "AIRFLOW__CORE__DEFAULT_TASK_RETRIES": "1",
            "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "1",
            "AIRFLOW__API__AUTO_REFRESH_INTERVAL": "1",  # the UI shows short states (deferred) while they last
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        return {**inherited, **settings, **self.extra_env}

    @property
    def _password_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json"

    def _secret(self, name: str) -> str:
        """One random secret per stack and name, shared by all components (they verify each other's tokens)."""
        path = self.home / f".{name}"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text()

    # ----------------------------------------------------------------------------------- lifecycle

    def begin(self) -> None:
        """Write the admin's password file and start migrating the DB, without waiting.

        Separate from `start` so a caller can start other services (the emulators) meanwhile;
        their connection variables may still be added to `extra_env` before `start`.
        """
        if self._migration is not None:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        self._password_file.write_text(json.dumps({ADMIN_USER: self._password}) + "\n")
        self._password_file.chmod(0o600)
        self._migration = self._airflow(["db", "migrate"], "db-migrate")

    def start(self, timeout: float = 120.0) -> None:
        """Migrate the DB, start the four components at once, and wait until the API calls all healthy."""
        deadline = time.monotonic() + timeout
        self.begin()
        assert self._migration is not None
        try:
            code = self._migration.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            code = None
        if code != 0:
            raise StackError(f"`airflow db migrate` failed ({code}): {self.log_tail('db-migrate')}")
        for name, args in COMPONENTS.items():
            self.processes[name] = self._airflow(args, name)
        self._wait_healthy(deadline)

    def leftovers(self) -> list[psutil.Process]:
        """Processes still running with this stack's AIRFLOW_HOME (none after `stop`)."""
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.environ().get("AIRFLOW_HOME") == str(self.home) and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.Error:
                continue
        return found

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM every component's group, SIGKILL what is left after `grace`; harmless twice."""
        everything = dict(self.processes)
        if self._migration is not None:
            everything["db-migrate"] = self._migration
        for proc in everything.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        end = time.monotonic() + grace
        for proc in everything.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, end - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the group may outlive its leader
            proc.wait()
        for log in self._logs.values():
            log.close()
        self._logs.clear()

    def _airflow(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.home / f"{name}.log").open("wb")
        self._logs[name] = log
        command = [sys.executable, "-m", "airflow", *args]
        return subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env(),
            cwd=self.home, start_new_session=True,
        )  # fmt: skip

    def log_tail(self, name: str, limit: int = 1500) -> str:
        path = self.home / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"[{name}] " + (text[-limit:].strip() or "(no output)")

    def _wait_healthy(self, deadline: float) -> None:
        last: Any = None
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise StackError(f"{name} exited with code {proc.returncode}: {self.log_tail(name)}")
            try:
                last = self.request("GET", "/api/v2/monitor/health", auth=False)
            except (urllib.error.URLError, OSError):
                last = None
            if isinstance(last, dict) and all(
                (last.get(part) or {}).get("status") == "healthy" for part in HEALTH_PARTS
            ):
                return
            time.sleep(0.5)
        tails = "\n".join(self.log_tail(name, 600) for name in self.processes)
        raise StackError(f"Airflow not healthy in time (last health answer: {last})\n{tails}")

    # ----------------------------------------------------------------------------------- REST API

    def token(self) -> str:
        """A JWT for the admin, from the simple auth manager's login endpoint."""
        if self._token is None:
            answer = self.request(
                "POST", "/auth/token", {"username": ADMIN_USER, "password": self._password}, auth=False
            )
            self._token = str(answer["access_token"])
        return self._token

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> Any:
        """One JSON call against the API server; an HTTP error raises with the answer's text."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise StackError(f"{method} {path} answered {exc.code}: {detail}") from exc
        return json.loads(raw) if raw else None

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 60.0) -> None:
        """Until the dag-processor has parsed every one of `dag_ids` (it parses the folder on start)."""
        deadline = time.monotonic() + timeout
        missing = set(dag_ids)
        while time.monotonic() < deadline:
            known = {d["dag_id"] for d in self.request("GET", "/api/v2/dags?limit=100")["dags"]}
            missing = set(dag_ids) - known
            if not missing:
                return
            time.sleep(0.5)
        errors = self.request("GET", "/api/v2/importErrors")
        raise StackError(f"DAGs never appeared: {sorted(missing)}; import errors: {errors}")

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Unpause `dag_id` and start a run now, as a user's "Trigger" does; returns the run id."""
        self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})})
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}")["state"])

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        answer = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances?limit=100")
        return {ti["task_id"]: ti["state"] for ti in answer["task_instances"]}

    def wait_for_task(self, dag_id: str, run_id: str, task_id: str, timeout: float = 60.0) -> str:
        """Until the scheduler has given the task instance a state (it exists from then on); returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.task_states(dag_id, run_id).get(task_id)
            if state is not None:
                return state
            time.sleep(0.2)
        raise StackError(f"{dag_id} {run_id}: {task_id} never scheduled: {self.task_states(dag_id, run_id)}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120.0) -> str:
        """Until the run is success or failed; returns that state (a timeout raises with the task states)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in TERMINAL_RUN_STATES:
                return state
            time.sleep(0.5)
        raise StackError(f"{dag_id} {run_id} not finished in time: {self.task_states(dag_id, run_id)}")

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The task's log as the UI shows it (the API's structured lines joined into text)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances/{task_id}/logs/{try_number}"
        answer = self.request("GET", path + "?full_content=true")
        content = answer.get("content", "")
        if isinstance(content, str):
            return content
        return "\n".join(str(line.get("event", line)) if isinstance(line, dict) else str(line) for line in content)


def _quote(run_id: str) -> str:
    return urllib.parse.quote(run_id, safe="")


@contextlib.contextmanager
def running_stack(
    home: Path, dags_folder: Path, extra_env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> Iterator[AirflowStack]:
    """Start an AirflowStack; stop it on exit, also when start-up fails half way."""
    stack = AirflowStack(home, dags_folder, dict(extra_env or {}))
    try:
        stack.start(timeout=timeout)
        yield stack
    finally:
        stack.stop()
