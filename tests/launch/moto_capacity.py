"""Run moto's server with EC2 ``RunInstances`` failing in chosen zones or regions.

Why: capacity and quota errors are what failover exists for, and moto never produces them.
The config file is re-read on every call, so one server serves many tests:
``{"capacity": ["us-east-1a"], "quota": ["us-west-2"]}`` makes RunInstances in zone
us-east-1a fail with ``InsufficientInstanceCapacity`` and in region us-west-2 with
``VcpuLimitExceeded``, as AWS does.

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


def main(argv: list[str]) -> None:
    port, config = argv[0], Path(argv[1])
    _install_patch(config)
    from moto.server import main as moto_main

    moto_main(["-H", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main(sys.argv[1:])
