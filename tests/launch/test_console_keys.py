"""Reading a VM's host keys from cloud-init's console output, and the bounded wait for them."""

from __future__ import annotations

import time

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch import console_keys
from tests.launch.conftest import cloud_init_console

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJx4T0Qp1Zc8lq4q1b3n0m8b6b1Q2f5c8y3m1Xz2q0aZ"
ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDq1"
RSA = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQC7"


def test_the_key_block_of_a_cloud_init_console_gives_the_host_keys() -> None:
    assert console_keys.host_keys(cloud_init_console([RSA, ECDSA, ED25519])) == [RSA, ECDSA, ED25519]


def test_the_last_boot_wins_and_prefixed_lines_are_read() -> None:
    first_boot = cloud_init_console([RSA])
    reboot = f"ec2: {console_keys.BEGIN}\r\nec2: {ECDSA} root@vm\r\nec2: {console_keys.END}\r\n"
    assert console_keys.host_keys(first_boot + reboot) == [ECDSA]


def test_a_block_cut_off_before_its_end_marker_is_not_trusted() -> None:
    assert console_keys.host_keys(cloud_init_console([ED25519]).split("-----END")[0]) == []


def test_ed25519_is_pinned_before_ecdsa_and_rsa() -> None:
    assert console_keys.preferred([RSA, ECDSA, ED25519]) == ED25519
    assert console_keys.preferred([RSA, ECDSA]) == ECDSA
    assert console_keys.preferred([]) is None


def test_the_wait_polls_until_the_keys_appear() -> None:
    consoles = iter(["", "[    1.0] booting", cloud_init_console([ED25519])])
    naps: list[float] = []
    key = console_keys.wait_for_host_key(
        lambda: next(consoles), vm="vm-1", cloud="aws", region="us-east-1", zone=None,
        deadline=time.monotonic() + 60, timeout=60, sleep=naps.append,
    )  # fmt: skip
    assert key == ED25519 and naps == [console_keys.POLL_INTERVAL] * 2


def test_the_wait_is_bounded_and_its_error_names_the_vm_and_the_fix() -> None:
    with pytest.raises(console_keys.HostKeyUnavailable) as info:
        console_keys.wait_for_host_key(lambda: "no keys here", vm="vm-7", cloud="gcp", region="us-central1",
                                       zone="us-central1-b", deadline=time.monotonic(), timeout=0)  # fmt: skip
    message = str(info.value)
    assert message.startswith("VM vm-7 (gcp us-central1-b) printed no SSH host keys") and "within 0 s" in message
    assert ". Fix: use an image whose cloud-init runs the keys_to_console module" in message


@pytest.mark.parametrize("value", ["soon", -1, float("nan"), True, None])
def test_a_bad_host_key_timeout_names_the_option(value: object) -> None:
    with pytest.raises(SkyUserError, match=r"backend option azure\.host_key_timeout=.* is not a number of seconds"):
        console_keys.timeout_option("azure", {"host_key_timeout": value})
