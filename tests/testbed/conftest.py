"""Fixtures for the namespace testbed: a factory that builds testbeds and always tears them down,
and a session-wide check that no testbed namespace, veth or process outlives the tests.

Building needs root and iproute2. Without them the tests that need a testbed skip with the
reason; in CI (CI=true, which runs as root) they fail instead, so a broken runner is never a
green run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.testbed import Testbed, require_tools, sweep_stale
from airflow_provider_sky.testbed import sweep as sweep_module
from airflow_provider_sky.testbed.shaped import built_ids


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _shaped_unavailable() -> str | None:
    try:
        require_tools()
    except SkyUserError as exc:
        return str(exc)
    return None


def require_netns() -> None:
    """Skip (or, in CI, fail) the calling test when this machine cannot build a shaped testbed."""
    reason = _shaped_unavailable()
    if reason is None:
        return
    if _in_ci():
        pytest.fail(f"shaped testbed unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"shaped testbed unavailable: {reason}")


@pytest.fixture(scope="session", autouse=True)
def no_testbed_survives() -> Iterator[None]:
    """Clear what a killed earlier run left, then fail the session if a testbed built here leaks."""
    if _shaped_unavailable() is None:
        sweep_stale()
    yield
    if _shaped_unavailable() is None:
        left = sweep_module.objects(built_ids())
        assert not left, f"testbed objects survived the tests: {left}"


@pytest.fixture
def netns_ready() -> None:
    """For tests that build testbeds themselves: skip (fail in CI) where none can be built."""
    require_netns()


@pytest.fixture
def make_testbed(netns_ready: None) -> Iterator[Callable[..., Testbed]]:
    """``make_testbed("triangle")``: a built shaped testbed, torn down after the test however it ends."""
    made: list[Testbed] = []

    def make(profile: str | dict[str, Any], **kwargs: Any) -> Testbed:
        testbed = Testbed.build(profile, **kwargs)
        made.append(testbed)
        return testbed

    yield make
    for testbed in made:
        testbed.teardown()
