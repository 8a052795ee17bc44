"""AWS EC2 as a cloud module (boto3).

Options (all optional, none secret; credentials come from boto3's usual chain):
``endpoint_url`` (moto in tests), ``image_id`` (default: the region's Ubuntu 22.04 AMI from
SSM), ``ssh_user`` (default ``ubuntu``), ``subnet_id``, ``security_group_ids``, ``regions``
(for ``list_tagged``; default: every enabled region), ``host_key_timeout`` (seconds to wait for
the host keys on the console, default 300).

User data carries only the cluster's public key: the VM generates its own host keys, cloud-init
prints them to the serial console, and :func:`launch` reads them back with ``GetConsoleOutput``
(see launch/console_keys.py), so the runner pins the VM's real key and no private key ever
passes through the instance metadata service.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import yaml

from airflow_provider_sky.launch import console_keys
from airflow_provider_sky.launch.backends.base import (
    TAG_CLUSTER,
    TAG_MANAGED,
    CapacityError,
    Instance,
    ProvisionError,
    ProvisionRequest,
    QuotaError,
)

CLOUD = "aws"
UBUNTU_SSM = "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id"
CAPACITY_CODES = frozenset({
    "InsufficientInstanceCapacity", "InsufficientHostCapacity", "InsufficientReservedInstanceCapacity",
    "InsufficientCapacity", "Unsupported", "SpotMaxPriceTooLow", "InsufficientFreeAddressesInSubnet",
})
QUOTA_CODES = frozenset({"VcpuLimitExceeded", "InstanceLimitExceeded", "MaxSpotInstanceCountExceeded"})
REGION_CODES = frozenset({"OptInRequired"})
CLOUD_CODES = frozenset({"AuthFailure", "UnauthorizedOperation", "ExpiredToken", "InvalidClientTokenId"})
LIVE_STATES = ["pending", "running", "stopping", "stopped"]
ZONE_ID = re.compile(r"[a-z]{2,5}[0-9](-[a-z]+[0-9]+)?-az[0-9]+")


def _client(service: str, region: str, options: Mapping[str, Any]) -> Any:
    import boto3

    return boto3.client(service, region_name=region, endpoint_url=options.get("endpoint_url"))


def user_data(request: ProvisionRequest) -> str:
    """cloud-init config: the login user's authorized key; host keys made on the VM, printed to the console.

    Never a private key: user data is readable by any process on the VM.
    """
    config: dict[str, Any] = {"ssh_authorized_keys": [request.ssh_public_key], **console_keys.CLOUD_CONFIG}
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=True)


def console_output(ec2: Any, instance_id: str) -> str:
    """The instance's serial console text (botocore decodes the base64); "" before the first output."""
    from botocore.exceptions import ClientError

    try:  # the latest output, not the buffered snapshot; only Nitro instances offer it
        return ec2.get_console_output(InstanceId=instance_id, Latest=True).get("Output") or ""
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "UnsupportedOperation":
            raise
    return ec2.get_console_output(InstanceId=instance_id).get("Output") or ""


def _error(exc: Exception, request: ProvisionRequest) -> Exception:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    message = getattr(exc, "response", {}).get("Error", {}).get("Message", str(exc))
    where = {"cloud": CLOUD, "region": request.region, "zone": request.zone, "code": code}
    text = f"{code}: {message}"
    if code in CAPACITY_CODES:
        return CapacityError(text, **where)
    if code in QUOTA_CODES:
        return QuotaError(text, **where)
    if code in REGION_CODES:
        return ProvisionError(text, scope="region", **where)
    if code in CLOUD_CODES:
        return ProvisionError(text, scope="cloud", **where)
    return exc


def placement(zone: str) -> dict[str, str]:
    """EC2 placement for a zone name (`us-east-1a`) or a zone ID (`use1-az1`).

    SkyPilot's AWS catalog lists zone IDs, which name the same physical zone in every account;
    zone names are shuffled per account, so an ID must be passed as `AvailabilityZoneId`.
    """
    key = "AvailabilityZoneId" if ZONE_ID.fullmatch(zone) else "AvailabilityZone"
    return {key: zone}


def launch(request: ProvisionRequest, options: Mapping[str, Any]) -> list[Instance]:
    from botocore.exceptions import ClientError

    timeout = console_keys.timeout_option(CLOUD, options)
    ec2 = _client("ec2", request.region, options)
    image_id = options.get("image_id")
    if not image_id:
        image_id = _client("ssm", request.region, options).get_parameter(Name=UBUNTU_SSM)["Parameter"]["Value"]
    tags = [{"Key": k, "Value": v} for k, v in sorted(request.tags.items())]
    params: dict[str, Any] = {
        "ImageId": image_id,
        "InstanceType": request.instance_type,
        "MinCount": request.num_nodes,
        "MaxCount": request.num_nodes,
        "UserData": user_data(request),
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
        ],
        "MetadataOptions": {"HttpTokens": "required"},
        "InstanceInitiatedShutdownBehavior": "terminate",
    }
    if request.zone:
        params["Placement"] = placement(request.zone)
    if request.use_spot:
        params["InstanceMarketOptions"] = {
            "MarketType": "spot",
            "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"},
        }
    if options.get("subnet_id"):
        params["SubnetId"] = options["subnet_id"]
    if options.get("security_group_ids"):
        params["SecurityGroupIds"] = list(options["security_group_ids"])
    try:
        reservation = ec2.run_instances(**params)
    except ClientError as exc:
        raise _error(exc, request) from exc
    ids = [i["InstanceId"] for i in reservation["Instances"]]
    ec2.get_waiter("instance_running").wait(InstanceIds=ids, WaiterConfig={"Delay": 2, "MaxAttempts": 150})
    by_id = {i.instance_id: i for i in describe(request.cluster_name, request.region, options)}
    out = [by_id[i] for i in ids if i in by_id]
    return console_keys.pin_host_keys(out, lambda i: console_output(ec2, i.instance_id), request, timeout,
                                      lambda: terminate(request.cluster_name, request.region, options))


def _to_instance(raw: Mapping[str, Any], region: str, options: Mapping[str, Any]) -> Instance:
    tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
    launched = raw.get("LaunchTime")
    return Instance(
        instance_id=raw["InstanceId"], cloud=CLOUD, region=region,
        zone=raw.get("Placement", {}).get("AvailabilityZone"), instance_type=raw.get("InstanceType", ""),
        state=raw["State"]["Name"], ssh_host=raw.get("PublicIpAddress") or raw.get("PrivateIpAddress"),
        ssh_port=22, ssh_user=options.get("ssh_user", "ubuntu"), remote_root=".", tags=tags,
        launched_at=launched.timestamp() if launched is not None and hasattr(launched, "timestamp") else time.time(),
    )


def _describe(region: str, filters: list[dict[str, Any]], options: Mapping[str, Any]) -> list[Instance]:
    ec2 = _client("ec2", region, options)
    out = []
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page["Reservations"]:
            out += [_to_instance(raw, region, options) for raw in reservation["Instances"]]
    return sorted(out, key=lambda i: i.instance_id)


def describe(cluster_name: str, region: str, options: Mapping[str, Any]) -> list[Instance]:
    return _describe(region, [
        {"Name": f"tag:{TAG_CLUSTER}", "Values": [cluster_name]},
        {"Name": "instance-state-name", "Values": LIVE_STATES},
    ], options)


def terminate(cluster_name: str, region: str, options: Mapping[str, Any]) -> None:
    ids = [i.instance_id for i in describe(cluster_name, region, options)]
    if not ids:
        return
    ec2 = _client("ec2", region, options)
    ec2.terminate_instances(InstanceIds=ids)
    ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 2, "MaxAttempts": 150})


def set_tags(cluster_name: str, region: str, options: Mapping[str, Any], tags: Mapping[str, str]) -> None:
    """Overwrite ``tags`` on the cluster's live instances (the heartbeat's path)."""
    ids = [i.instance_id for i in describe(cluster_name, region, options)]
    if ids:
        _client("ec2", region, options).create_tags(
            Resources=ids, Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())]
        )


def list_tagged(options: Mapping[str, Any]) -> list[Instance]:
    regions = options.get("regions")
    if not regions:
        described = _client("ec2", "us-east-1", options).describe_regions()["Regions"]
        regions = [r["RegionName"] for r in described]
    out: list[Instance] = []
    for region in regions:
        out += _describe(region, [
            {"Name": f"tag:{TAG_MANAGED}", "Values": ["true"]},
            {"Name": "instance-state-name", "Values": LIVE_STATES},
        ], options)
    return out
