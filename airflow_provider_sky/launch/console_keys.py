"""Learn a cloud VM's SSH host key from its serial console, so no private key travels to it.

Why: a host key we generate and ship in user data is readable by every process on the VM
(the metadata service serves user data to anyone who asks). Instead the VM generates its own
host keys at first boot, and cloud-init's ``keys_to_console`` module prints the public halves
to the serial console between ``-----BEGIN SSH HOST KEY KEYS-----`` and ``-----END SSH HOST
KEY KEYS-----``. Only the cloud's API (with our credentials) can read that console, so a key
found there is the VM's own, and the runner pins it. The cloud modules supply one function
that reads the console text (EC2 ``GetConsoleOutput``, GCE ``getSerialPortOutput``, Azure
boot diagnostics); polling, parsing and the error live here, once.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch.backends.base import Instance, ProvisionError, ProvisionRequest

BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
END = "-----END SSH HOST KEY KEYS-----"
# The key types we pin, most preferred first (paramiko then negotiates the pinned type).
PREFERENCE = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
_KEY = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, PREFERENCE)) + r") (AAAA[0-9A-Za-z+/]+={0,3})")
DEFAULT_TIMEOUT = 300.0  # cloud-init prints the keys near the end of first boot (30-120 s typically)
POLL_INTERVAL = 5.0

# cloud-config that makes the VM generate its own host keys and print their public halves.
CLOUD_CONFIG = {
    "ssh_deletekeys": True,  # never keep keys baked into the image: every VM of it would share them
    "ssh_genkeytypes": ["ed25519", "ecdsa", "rsa"],
    "ssh": {"emit_keys_to_console": True},
    "ssh_key_console_blacklist": [],
}


class HostKeyUnavailable(ProvisionError):
    """The VM never printed its host keys, so it cannot be reached safely; the VM is deleted."""

    default_scope = "cloud"  # an image or option problem: the same in every zone of this cloud


def host_keys(console: str) -> list[str]:
    """The ``TYPE BASE64`` host keys in the console's last complete key block (the latest boot).

    Console lines may carry prefixes (``ec2:``, ``[  12.3] cloud-init[812]:``) and ``\\r``.
    """
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in console.splitlines():
        if BEGIN in line:
            current = []
        elif END in line:
            if current is not None:
                blocks.append(current)
            current = None
        elif current is not None:
            match = _KEY.search(line)
            if match:
                current.append(f"{match[1]} {match[2]}")
    return blocks[-1] if blocks else []


def preferred(keys: list[str]) -> str | None:
    """The key to pin: the first by ``PREFERENCE``."""
    return min(keys, key=lambda k: PREFERENCE.index(k.split()[0]), default=None)


def timeout_option(cloud: str, options: Mapping[str, Any]) -> float:
    """``host_key_timeout`` from the cloud's backend options, parsed strictly (seconds, >= 0)."""
    value = options.get("host_key_timeout", DEFAULT_TIMEOUT)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds < 0:
        raise SkyUserError(
            f"backend option {cloud}.host_key_timeout={value!r} is not a number of seconds",
            f'give seconds >= 0, e.g. backend_options {{"{cloud}": {{"host_key_timeout": 300}}}}',
        )
    return seconds


def wait_for_host_key(
    read_console: Callable[[], str],
    *,
    vm: str,
    cloud: str,
    region: str,
    zone: str | None,
    deadline: float,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Poll ``read_console`` until it shows host keys; the preferred key, or HostKeyUnavailable.

    ``deadline`` is a ``time.monotonic()`` value shared by a cluster's nodes, so the whole wait
    is bounded by ``timeout`` (named in the error) however many nodes there are. The console is
    read at least once.
    """
    while True:
        key = preferred(host_keys(read_console() or ""))
        if key:
            return key
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sleep(min(POLL_INTERVAL, left))
    problem = (
        f"VM {vm} ({cloud} {zone or region}) printed no SSH host keys to its serial console (between "
        f"{BEGIN} and {END}) within {timeout:g} s, so its host key cannot be pinned; the VM was deleted"
    )
    fix = (
        "use an image whose cloud-init runs the keys_to_console module (stock Ubuntu, Debian and Amazon "
        f"Linux images do), or give a slow-booting image more time with backend_options "
        f'{{"{cloud}": {{"host_key_timeout": SECONDS}}}}'
    )
    raise HostKeyUnavailable(f"{problem}. Fix: {fix}.", cloud=cloud, region=region, zone=zone,
                             code="HostKeyNotFound")  # fmt: skip


def pin_host_keys(
    instances: list[Instance],
    read_console: Callable[[Instance], str],
    request: ProvisionRequest,
    timeout: float,
    delete_cluster: Callable[[], None],
) -> list[Instance]:
    """Set each instance's ``host_key`` from its console; on failure delete the cluster, then raise."""
    deadline = time.monotonic() + timeout
    try:
        for instance in instances:
            instance.host_key = wait_for_host_key(
                functools.partial(read_console, instance), vm=instance.instance_id, cloud=request.cloud,
                region=request.region, zone=instance.zone or request.zone, deadline=deadline, timeout=timeout,
            )  # fmt: skip
    except HostKeyUnavailable:
        delete_cluster()
        raise
    return instances
