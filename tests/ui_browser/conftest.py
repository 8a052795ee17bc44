"""A real Airflow with the example DAGs and the emulators, and a headless Chromium logged into it.

Everything here is started once per module and stopped after it, also when a test fails; the
teardown then checks that nothing is left: no Airflow process with this home, no local VM, no
emulator, no Chromium, and no listener on the API port. A missing Chromium, sshd or emulator
skips locally and fails in CI (CI=true), where bootstrap installs them; so does a machine where
the triangle testbed (network namespaces, root) cannot be built for the overlay example.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from airflow_provider_sky.devtools import emulators
from airflow_provider_sky.devtools.airflow_stack import ADMIN_USER, AirflowStack
from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch.backends import local

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO_ROOT / "example_dags"
DAG_FILES = ("example_sky_transfer.py", "example_sky_launch.py", "example_sky_overlay.py")
DAG_IDS = [name.removesuffix(".py") for name in DAG_FILES]
SCREENSHOTS = REPO_ROOT / "test-output" / "ui_browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    # the machine has no internet: without these Chromium keeps dialling Google and crawls
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
DEMO_BUCKET = "sky-demo"
OVERLAY_FILES = {"shard-0.bin": 3 * 1024 * 1024 + 5, "labels.csv": 40_000}  # small: the relay hop takes ~0.2 s


def require(available: bool, reason: str) -> None:
    """Skip with `reason` when something is missing, or fail in CI where it must be installed."""
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI must have it: scripts/bootstrap.sh installs it)", pytrace=False)
    pytest.skip(reason)


@dataclass
class Site:
    """The running stack as the tests see it."""

    stack: AirflowStack
    work: Path
    state_dir: Path
    emulator_pids: list[int]
    overlay_expected: dict[str, bytes]

    @property
    def overlay_destination(self) -> Path:
        return self.work / "overlay-train"

    @property
    def url(self) -> str:
        return self.stack.base_url


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    require(local.sshd_path() is not None, "OpenSSH sshd not found (the launch example's VMs are sshd servers)")
    require(Path(CHROMIUM).exists(), f"Debian's chromium not found at {CHROMIUM}")
    work = Path(tempfile.mkdtemp(prefix="sky-ui-browser-"))
    dags = work / "dags"
    dags.mkdir()
    for name in DAG_FILES:
        (dags / name).symlink_to(EXAMPLE_DAGS / name)
    state_dir = work / "sky-state"
    overlay_source = work / "overlay-raw"
    overlay_source.mkdir()
    rng = random.Random(5)
    expected = {name: rng.randbytes(size) for name, size in OVERLAY_FILES.items()}
    for name, data in expected.items():
        (overlay_source / name).write_bytes(data)
    stack = AirflowStack(work / "airflow-home", dags)
    stack.begin()  # the DB migrates while the emulators and the testbed start
    started: list[emulators.Emulator] = []
    testbed: Any = None
    try:
        try:
            from airflow_provider_sky.testbed import Testbed

            testbed = Testbed.build("triangle")  # the overlay example's gateways run in its namespaces
        except SkyUserError as exc:
            require(False, f"shaped testbed unavailable (needs root and iproute2): {exc}")
        try:
            for start in (emulators.start_moto, emulators.start_fake_gcs, emulators.start_azurite):
                started.append(start())
        except emulators.EmulatorError as exc:
            require(False, f"emulator unavailable: {exc}")
        for emulator in started:
            emulator.create_bucket(DEMO_BUCKET)
        stack.extra_env = {
            **emulators.Emulators(*started).airflow_env(),
            "SKY_DEMO_DIR": str(work / "demo-data"),
            "SKY_STATE_DIR": str(state_dir),
            "SKY_OVERLAY_SOURCE": f"file://{overlay_source}/",
            "SKY_OVERLAY_DESTINATION": f"file://{work / 'overlay-train'}/",
        }
        stack.start(timeout=150)
        stack.wait_for_dags(DAG_IDS)
        yield Site(stack, work, state_dir, [e.pid for e in started], expected)
    finally:
        stack.stop()
        for emulator in reversed(started):
            emulator.stop()
        namespaces = list(testbed.namespaces.values()) if testbed is not None else []
        if testbed is not None:
            testbed.teardown()
        _keep_logs(stack.home)
        _assert_nothing_left(stack, state_dir, [e.pid for e in started], namespaces)
        shutil.rmtree(work, ignore_errors=True)


def _keep_logs(home: Path) -> None:
    """Components' and tasks' logs beside the screenshots: a red run in CI is read from them."""
    target = SCREENSHOTS / "airflow-logs"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for log in home.glob("*.log"):
        shutil.copy2(log, target / log.name)
    if (home / "logs").is_dir():
        shutil.copytree(home / "logs", target / "tasks")


def _assert_nothing_left(stack: AirflowStack, state_dir: Path, emulator_pids: list[int], netns: list[str]) -> None:
    deadline = time.monotonic() + 5
    while True:
        airflow = stack.leftovers()
        vms = [p for p in psutil.process_iter() if _of_local_vm(p, state_dir)]
        alive = [pid for pid in emulator_pids if _alive(pid)]
        if not (airflow or vms or alive) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for proc in airflow + vms:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    assert not airflow, f"Airflow processes left: {[(p.pid, _cmd(p)) for p in airflow]}"
    assert not vms, f"local VM processes left: {[(p.pid, _cmd(p)) for p in vms]}"
    assert not alive, f"emulators left running: {alive}"
    assert not _listening(stack.port), f"something still listens on the API port {stack.port}"
    if netns:
        from airflow_provider_sky.testbed import iproute

        assert not set(netns) & set(iproute.namespaces()), f"testbed namespaces left: {netns}"


def _of_local_vm(proc: psutil.Process, state_dir: Path) -> bool:
    """A local VM's process: a job (it carries the VM marker) or its sshd (sshd re-executes itself
    with a clean environment, so only its config path under the state dir tells). A zombie runs
    nothing: it waits for a parent that may never reap it (a container's init), so it is no leak."""
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
    except psutil.Error:
        return False
    return _env(proc).get(local.ENV_ROOT, "").startswith(str(state_dir)) or str(state_dir) in _cmd_full(proc)


def _env(proc: psutil.Process) -> dict[str, str]:
    try:
        return proc.environ()
    except psutil.Error:
        return {}


def _cmd(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())[:120]
    except psutil.Error:
        return "?"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[Any]:
    """A headless Chromium context, logged in through Airflow's sign-in form as the admin."""
    from playwright.sync_api import expect, sync_playwright

    profile = Path(tempfile.mkdtemp(prefix="sky-ui-chromium-"))
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 900},
        )  # fmt: skip
        context.set_default_timeout(30_000)
        expect.set_options(timeout=30_000)  # two shared cores: a page may take seconds to render
        try:
            page = context.new_page()
            page.goto(site.url + "/")
            page.get_by_label("Username").fill(ADMIN_USER)
            page.get_by_label("Password").fill(site.stack.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(site.url + "/")
            page.close()
            yield context
        finally:
            context.close()
    leftover = [p for p in psutil.process_iter() if str(profile) in _cmd_full(p)]
    shutil.rmtree(profile, ignore_errors=True)
    assert not leftover, f"Chromium processes left: {[p.pid for p in leftover]}"


def _cmd_full(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh tab; its last picture is saved as test-output/ui_browser/<test>-final.png, pass or fail."""
    tab = browser.new_page()
    yield tab
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):  # a crashed tab must not hide the test's own failure
        tab.screenshot(path=str(SCREENSHOTS / f"{request.node.name}-final.png"), full_page=True)
    tab.close()


def screenshot(tab: Any, name: str) -> Path:
    """Save what the tab shows now under test-output/ui_browser/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path
