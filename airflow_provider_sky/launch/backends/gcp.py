"""Google Compute Engine as a cloud module (google-cloud-compute, REST).

Options (none secret; credentials come from Application Default Credentials):
``project`` (default: the ADC project), ``image`` (default: Ubuntu 22.04 LTS family),
``network`` (default ``global/networks/default``), ``ssh_user`` (default ``sky``),
``disk_size_gb`` (default 50), ``host_key_timeout`` (seconds to wait for the host keys on the
serial console, default 300).

GCE reports most capacity errors asynchronously, in the insert operation's ``error``: the
module waits on each operation and maps its codes the way SkyPilot's GCP failover handler does
(pool exhausted -> zone, regional quota -> region, all-regions GPU quota / IAM / VPC -> cloud).
Labels must be lowercase ``[a-z0-9_-]``, so tag values are sanitised on the way in. Metadata
carries only the login public key; the VM's own host key is read back from serial port 1
(``getSerialPortOutput``, where cloud-init prints it) and pinned (launch/console_keys.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.launch import console_keys
from airflow_provider_sky.launch.backends.base import (
    TAG_CLUSTER,
    TAG_MANAGED,
    CapacityError,
    Instance,
    ProvisionError,
    ProvisionRequest,
    QuotaError,
    sanitize_label,
)

CLOUD = "gcp"
DEFAULT_IMAGE = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"
ZONE_CODES = frozenset({
    "ZONE_RESOURCE_POOL_EXHAUSTED", "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS", "UNSUPPORTED_OPERATION",
    "insufficientCapacity", "RESOURCE_NOT_READY", "RESOURCE_OPERATION_RATE_EXCEEDED", "RESOURCE_NOT_FOUND",
})
CLOUD_CODES = frozenset({"VPC_NOT_FOUND", "IAM_PERMISSION_DENIED"})
REGION_CODES = frozenset({"SUBNET_NOT_FOUND_FOR_VPC"})
OPERATION_TIMEOUT = 600.0


@dataclass
class Clients:
    instances: Any
    zone_operations: Any
    project: str


def _clients(options: Mapping[str, Any]) -> Clients:
    """Build the API clients (tests replace this to replay recorded HTTP exchanges)."""
    import google.auth
    from google.cloud import compute_v1

    credentials, default_project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    project = options.get("project") or default_project
    if not project:
        raise SkyUserError("no GCP project configured", 'set backend_options {"gcp": {"project": "..."}}')
    return Clients(
        compute_v1.InstancesClient(credentials=credentials),
        compute_v1.ZoneOperationsClient(credentials=credentials),
        project,
    )


def instance_body(request: ProvisionRequest, name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The Instance resource for one node."""
    from airflow_provider_sky.launch.backends.aws import user_data

    user = options.get("ssh_user", "sky")
    body: dict[str, Any] = {
        "name": name,
        "machine_type": f"zones/{request.zone}/machineTypes/{request.instance_type}",
        "labels": {k: sanitize_label(v) for k, v in request.tags.items()},
        "disks": [{
            "boot": True,
            "auto_delete": True,
            "initialize_params": {
                "source_image": options.get("image", DEFAULT_IMAGE),
                "disk_size_gb": int(options.get("disk_size_gb", 50)),
                "labels": {k: sanitize_label(v) for k, v in request.tags.items()},
            },
        }],
        "network_interfaces": [{
            "network": options.get("network", "global/networks/default"),
            "access_configs": [{"name": "External NAT", "type_": "ONE_TO_ONE_NAT"}],
        }],
        "metadata": {"items": [
            {"key": "ssh-keys", "value": f"{user}:{request.ssh_public_key}"},
            {"key": "user-data", "value": user_data(request)},
        ]},
    }
    if request.use_spot:
        body["scheduling"] = {"provisioning_model": "SPOT", "instance_termination_action": "DELETE"}
    return body


def _classify(code: str, message: str, request: ProvisionRequest) -> ProvisionError | None:
    where: dict[str, Any] = {"cloud": CLOUD, "region": request.region, "zone": request.zone, "code": code}
    text = f"{code}: {message}"
    if code in ("QUOTA_EXCEEDED", "quotaExceeded"):
        if "GPUS_ALL_REGIONS" in message:
            return QuotaError(text, scope="cloud", **where)
        return QuotaError(text, **where)
    if code in ZONE_CODES:
        return CapacityError(text, **where)
    if code in REGION_CODES:
        return ProvisionError(text, scope="region", **where)
    if code in CLOUD_CODES:
        return ProvisionError(text, scope="cloud", **where)
    return None


def _api_error(exc: Exception, request: ProvisionRequest) -> Exception:
    """An HTTP error from insert (quota checks happen there): classify by the error reason."""
    for detail in getattr(exc, "errors", None) or []:
        reason = detail.get("reason", "") if isinstance(detail, Mapping) else ""
        mapped = _classify(reason, str(getattr(exc, "message", exc)), request)
        if mapped:
            return mapped
    return exc


def _enum_name(value: Any) -> str:
    """proto-plus enums are IntEnums (str() gives the number); compare by name."""
    return str(getattr(value, "name", value))


def _wait(clients: Clients, zone: str, operation: Any, request: ProvisionRequest) -> None:
    deadline = time.monotonic() + OPERATION_TIMEOUT
    while _enum_name(getattr(operation, "status", "")) != "DONE":
        if time.monotonic() > deadline:
            raise ProvisionError(f"operation {operation.name} did not finish", cloud=CLOUD,
                                 region=request.region, zone=zone, code="Timeout")
        operation = clients.zone_operations.wait(project=clients.project, zone=zone, operation=operation.name)
    errors = list(operation.error.errors) if operation.error else []
    if errors:
        first = errors[0]
        mapped = _classify(first.code, first.message, request)
        if mapped:
            raise mapped
        mapped = CapacityError(f"{first.code}: {first.message}", cloud=CLOUD, region=request.region,
                               zone=zone, code=first.code)  # unparsed: block the zone (SkyPilot's rule)
        raise mapped


def launch(request: ProvisionRequest, options: Mapping[str, Any]) -> list[Instance]:
    from google.api_core import exceptions as gexc

    if not request.zone:
        raise SkyUserError("GCE launches need a zone", "use a plan whose GCP candidates name zones")
    timeout = console_keys.timeout_option(CLOUD, options)
    clients = _clients(options)
    for rank in range(request.num_nodes):
        name = f"{request.cluster_name}-{rank}"
        body = instance_body(request, name, options)
        try:
            operation = clients.instances.insert_unary(project=clients.project, zone=request.zone,
                                                       instance_resource=body)
        except gexc.GoogleAPICallError as exc:
            raise _api_error(exc, request) from exc
        _wait(clients, request.zone, operation, request)
    found = _list(clients, _cluster_filter(request.cluster_name), options)
    return console_keys.pin_host_keys(found, lambda i: serial_output(clients, i), request, timeout,
                                      lambda: terminate(request.cluster_name, request.region, options))


def serial_output(clients: Clients, instance: Instance) -> str:
    """Serial port 1 of the instance, where cloud-init prints the host keys ("" before any output)."""
    output = clients.instances.get_serial_port_output(
        request={"project": clients.project, "zone": instance.zone, "instance": instance.instance_id, "port": 1})
    return output.contents or ""


def _to_instance(raw: Any, options: Mapping[str, Any]) -> Instance:
    zone = raw.zone.rsplit("/", 1)[-1]
    nat = ""
    for nic in raw.network_interfaces:
        for access in nic.access_configs:
            nat = nat or access.nat_i_p
    state = {"RUNNING": "running", "TERMINATED": "terminated", "STOPPING": "shutting-down"}.get(
        _enum_name(raw.status), "pending")
    return Instance(
        instance_id=raw.name, cloud=CLOUD, region=zone.rsplit("-", 1)[0], zone=zone,
        instance_type=raw.machine_type.rsplit("/", 1)[-1], state=state,
        ssh_host=nat or (raw.network_interfaces[0].network_i_p if raw.network_interfaces else None),
        ssh_user=options.get("ssh_user", "sky"), remote_root=".", tags=dict(raw.labels),
    )


def _cluster_filter(cluster_name: str) -> str:
    return f'labels.{TAG_CLUSTER} = "{sanitize_label(cluster_name)}"'


def _raw_instances(clients: Clients, label_filter: str) -> Iterator[Any]:
    """Every instance the label filter matches, in every zone, as the API returns it."""
    pager = clients.instances.aggregated_list(request={"project": clients.project, "filter": label_filter})
    for _, scoped in pager:
        yield from scoped.instances


def _list(clients: Clients, label_filter: str, options: Mapping[str, Any]) -> list[Instance]:
    out = [_to_instance(raw, options) for raw in _raw_instances(clients, label_filter)]
    return sorted(out, key=lambda i: i.instance_id)


def describe(cluster_name: str, region: str, options: Mapping[str, Any]) -> list[Instance]:
    found = _list(_clients(options), _cluster_filter(cluster_name), options)
    return [i for i in found if i.region == region]


def terminate(cluster_name: str, region: str, options: Mapping[str, Any]) -> None:
    clients = _clients(options)
    found = _list(clients, _cluster_filter(cluster_name), options)
    for instance in found:
        if instance.region != region:
            continue
        operation = clients.instances.delete_unary(project=clients.project, zone=instance.zone,
                                                   instance=instance.instance_id)
        request = ProvisionRequest(cluster_name, CLOUD, region, instance.zone, "", False, 0, "")
        _wait(clients, instance.zone or "", operation, request)


def set_tags(cluster_name: str, region: str, options: Mapping[str, Any], tags: Mapping[str, str]) -> None:
    """Merge ``tags`` into the labels of the cluster's instances (the heartbeat's path).

    ``setLabels`` replaces the whole label set and is guarded by the fingerprint of the set it
    replaces, so each instance's current labels are read (with their fingerprint) and merged:
    a concurrent change makes the call fail instead of silently dropping the other writer's labels.
    """
    clients = _clients(options)
    for raw in _raw_instances(clients, _cluster_filter(cluster_name)):
        zone = raw.zone.rsplit("/", 1)[-1]
        if zone.rsplit("-", 1)[0] != region:
            continue
        labels = {**dict(raw.labels), **{k: sanitize_label(v) for k, v in tags.items()}}
        operation = clients.instances.set_labels_unary(
            project=clients.project, zone=zone, instance=raw.name,
            instances_set_labels_request_resource={"labels": labels, "label_fingerprint": raw.label_fingerprint})
        _wait(clients, zone, operation, ProvisionRequest(cluster_name, CLOUD, region, zone, "", False, 0, ""))


def list_tagged(options: Mapping[str, Any]) -> list[Instance]:
    return _list(_clients(options), f'labels.{TAG_MANAGED} = "true"', options)
