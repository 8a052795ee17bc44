"""Run moto's server with EC2 ``RunInstances`` failing in chosen zones or regions.

Why: capacity and quota errors are what failover exists for, and moto never produces them.
The config file is re-read on every call, so one server serves many tests:
``{"capacity": ["us-east-1a"], "quota": ["us-west-2"]}`` makes RunInstances in zone
us-east-1a fail with ``InsufficientInstanceCapacity`` and in region us-west-2 with
``VcpuLimitExceeded``, as AWS does. ``{"console": {"CLUSTER": TEXT, "*": TEXT}}`` makes
GetConsoleOutput of an instance tagged ``sky-cluster=CLUSTER`` (else any instance) return TEXT, in
EC2's shape (base64); without an entry moto's own answer stands: a fixed kernel log that has no
cloud-init host key block.

Usage: ``python moto_capacity.py PORT CONFIG_JSON_PATH``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _install_patch(config_path: Path) -> None:
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.instances import InstanceBackend

    original = InstanceBackend.run_instances

    def run_instances(self: Any, image_id: str, count: int, user_data: Any, security_group_names: Any,
                      **kwargs: Any) -> Any:
        config = json.loads(config_path.read_text()) if config_path.exists() else {}
        zone = kwargs.get("placement") or ""
        region = kwargs.get("region_name") or zone[:-1]
        if region in config.get("quota", []):
            raise EC2ClientError(
                "VcpuLimitExceeded",
                "You have requested more vCPU capacity than your current vCPU limit of 0 allows for the "
                "instance bucket that the specified instance type belongs to.",
            )
        if zone in config.get("capacity", []):
            raise EC2ClientError(
                "InsufficientInstanceCapacity",
                f"We currently do not have sufficient {kwargs.get('instance_type')} capacity in the "
                f"Availability Zone you requested ({zone}).",
            )
        return original(self, image_id, count, user_data, security_group_names, **kwargs)

    InstanceBackend.run_instances = run_instances
    _install_console(config_path)


def _install_console(config_path: Path) -> None:
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.ec2.responses.general import General
    from moto.ec2.utils import Base64EncodedString

    original = General.get_console_output

    def get_console_output(self: Any) -> Any:
        consoles = (json.loads(config_path.read_text()) if config_path.exists() else {}).get("console", {})
        instance = self.ec2_backend.get_instance(self._get_param("InstanceId"))  # unknown ids fail as on AWS
        cluster = next((t["value"] for t in instance.get_tags() if t["key"] == "sky-cluster"), None)
        text = consoles.get(cluster, consoles.get("*"))
        if text is None:
            return original(self)
        output = Base64EncodedString.from_raw_string(text)
        return ActionResult({"InstanceId": instance.id, "Timestamp": utcnow(), "Output": output})

    General.get_console_output = get_console_output


def main(argv: list[str]) -> None:
    port, config = argv[0], Path(argv[1])
    _install_patch(config)
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main(sys.argv[1:])
