"""``python -m airflow_provider_sky.testbed``: the link check passes on a good testbed and catches a bad one."""

from __future__ import annotations

import pytest

from airflow_provider_sky.testbed import Testbed, shaping
from airflow_provider_sky.testbed.__main__ import blast_bytes, check, main


def test_blasts_are_bounded_in_bytes() -> None:
    assert blast_bytes(0.02, 0.5) == 1_250_000
    assert blast_bytes(0.0001, 0.5) == 1_000_000
    assert blast_bytes(10.0, 10.0) == 20_000_000


@pytest.mark.netns
def test_check_flags_only_the_link_shaped_off_profile(make_testbed, capsys) -> None:
    testbed: Testbed = make_testbed("triangle")
    src, dst = "local:tb-src", "local:tb-dst"
    link = testbed._link(src, dst)
    shaping.reshape(testbed.namespaces[src], link.dev_i, 0.05)  # behind the profile's back: it still says 0.02
    assert not check(testbed, seconds=0.2, tolerance=0.3)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": shaped")[0] for line in lines if line.startswith("BAD")] == [f"BAD {src} -> {dst}"]
    assert len([line for line in lines if line.startswith("ok ")]) == 5 + 3  # other links, management links


def test_main_reports_a_missing_profile_with_exit_code_2(capsys) -> None:
    assert main(["no-such-profile"]) == 2
    assert "No packaged testbed profile" in capsys.readouterr().err
