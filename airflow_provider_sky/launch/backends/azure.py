"""Azure VMs as a cloud module (azure-mgmt-compute).

Options (none secret; credentials come from ``DefaultAzureCredential``): ``subscription_id``
and ``resource_group`` (required), ``subnet_id`` (required: an existing subnet the NICs join),
``ssh_user`` (default ``sky``), ``image`` (default Ubuntu 22.04 gen2), ``host_key_timeout`` (seconds
to wait for the host keys in the boot diagnostics serial log, default 300).

The NIC, public IP and OS disk are declared inside the VM (``networkInterfaceConfigurations``,
``deleteOption: Delete``) so one PUT creates them and one DELETE removes them: nothing to leak
separately, and no network SDK needed. Azure places VMs per region (zones are optional), so
most errors block the region, as in SkyPilot's Azure handler.

Custom data carries only the login public key. Boot diagnostics (managed storage) keep the
serial console log, where cloud-init prints the VM's own host keys; ``launch`` reads it through
``retrieveBootDiagnosticsData`` (a short-lived SAS URL to the log blob) and pins the key
(launch/console_keys.py).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
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
)

CLOUD = "azure"
DEFAULT_IMAGE = {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2",
                 "version": "latest"}
NETWORK_API_VERSION = "2022-11-01"
SERIAL_LOG_SAS_MINUTES = 5  # the log's SAS URL is fetched at once; it need not outlive the poll
CAPACITY_CODES = frozenset({
    "SkuNotAvailable", "AllocationFailed", "ZonalAllocationFailed", "OverconstrainedAllocationRequest",
    "OverconstrainedZonalAllocationRequest",
})
CLOUD_CODES = frozenset({
    "AuthorizationFailed", "InvalidAuthenticationToken", "ReadOnlyDisabledSubscription",
    "SubscriptionNotRegistered",
})


def _client(options: Mapping[str, Any]) -> Any:
    """The ARM compute client (tests replace this to replay recorded HTTP exchanges)."""
    from azure.identity import DefaultAzureCredential
    from azure.mgmt.compute import ComputeManagementClient

    return ComputeManagementClient(DefaultAzureCredential(), _required(options, "subscription_id"))


def _required(options: Mapping[str, Any], key: str) -> str:
    if not options.get(key):
        raise SkyUserError(f"Azure option {key!r} is not set", f'set backend_options {{"azure": {{"{key}": ...}}}}')
    return str(options[key])


def vm_body(request: ProvisionRequest, name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The VirtualMachine resource for one node, NIC and public IP included."""
    from airflow_provider_sky.launch.backends.aws import user_data

    user = options.get("ssh_user", "sky")
    properties: dict[str, Any] = {
        "hardwareProfile": {"vmSize": request.instance_type},
        "storageProfile": {
            "imageReference": dict(options.get("image") or DEFAULT_IMAGE),
            "osDisk": {"createOption": "FromImage", "deleteOption": "Delete",
                       "managedDisk": {"storageAccountType": "StandardSSD_LRS"}},
        },
        "osProfile": {
            "computerName": name,
            "adminUsername": user,
            "customData": base64.b64encode(user_data(request).encode()).decode(),
            "linuxConfiguration": {
                "disablePasswordAuthentication": True,
                "ssh": {"publicKeys": [{"path": f"/home/{user}/.ssh/authorized_keys",
                                        "keyData": request.ssh_public_key}]},
            },
        },
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},  # managed storage: the serial log
        "networkProfile": {
            "networkApiVersion": NETWORK_API_VERSION,
            "networkInterfaceConfigurations": [{
                "name": f"{name}-nic",
                "properties": {
                    "primary": True,
                    "deleteOption": "Delete",
                    "ipConfigurations": [{
                        "name": "ipconfig1",
                        "properties": {
                            "subnet": {"id": _required(options, "subnet_id")},
                            "publicIPAddressConfiguration": {
                                "name": f"{name}-ip",
                                "sku": {"name": "Standard"},
                                "properties": {"deleteOption": "Delete"},
                            },
                        },
                    }],
                },
            }],
        },
    }
    if request.use_spot:
        properties |= {"priority": "Spot", "evictionPolicy": "Delete", "billingProfile": {"maxPrice": -1}}
    body: dict[str, Any] = {"location": request.region, "tags": dict(request.tags), "properties": properties}
    if request.zone:
        body["zones"] = [request.zone.rsplit("-", 1)[-1]]
    return body


def _error(exc: Exception, request: ProvisionRequest) -> Exception:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    message = getattr(error, "message", None) or str(exc)
    if not code:
        code = next((c for c in (*CAPACITY_CODES, *CLOUD_CODES, "OperationNotAllowed") if c in str(exc)), "")
    where: dict[str, Any] = {"cloud": CLOUD, "region": request.region, "zone": request.zone, "code": code}
    text = f"{code}: {message}"
    if code == "OperationNotAllowed" and "quota" in message.lower():
        return QuotaError(text, **where)
    if code in CAPACITY_CODES:
        # Azure launches per region; without a zone there is nothing narrower to block.
        return CapacityError(text, scope="zone" if request.zone else "region", **where)
    if code in CLOUD_CODES:
        return ProvisionError(text, scope="cloud", **where)
    return exc


def launch(request: ProvisionRequest, options: Mapping[str, Any]) -> list[Instance]:
    from azure.core.exceptions import HttpResponseError

    timeout = console_keys.timeout_option(CLOUD, options)
    client = _client(options)
    group = _required(options, "resource_group")
    for rank in range(request.num_nodes):
        name = f"{request.cluster_name}-{rank}"
        try:
            client.virtual_machines.begin_create_or_update(group, name, vm_body(request, name, options)).result()
        except HttpResponseError as exc:
            raise _error(exc, request) from exc
    found = describe(request.cluster_name, request.region, options, client=client)
    return console_keys.pin_host_keys(found, lambda i: serial_log(client, group, i.instance_id), request, timeout,
                                      lambda: terminate(request.cluster_name, request.region, options))


def serial_log(client: Any, group: str, vm_name: str) -> str:
    """The VM's boot diagnostics serial console log ("" until Azure has written one)."""
    from azure.core.exceptions import HttpResponseError

    data = client.virtual_machines.retrieve_boot_diagnostics_data(
        group, vm_name, sas_uri_expiration_time_in_minutes=SERIAL_LOG_SAS_MINUTES)
    if not data.serial_console_log_blob_uri:
        return ""
    response = _blob_session().get(data.serial_console_log_blob_uri, timeout=30)
    if response.status_code == 404:  # the log blob appears once the VM has written to its console
        return ""
    if response.status_code != 200:
        raise HttpResponseError(f"reading the serial log of {vm_name}: HTTP {response.status_code}")
    return response.content.decode("utf-8", "replace")


def _blob_session() -> Any:
    """A plain HTTP session for the log blob: its SAS URL authorises, no ARM token may go along."""
    import requests

    return requests.Session()


def _public_ip(client: Any, options: Mapping[str, Any], vm_name: str) -> str | None:
    from azure.core.rest import HttpRequest

    path = (f"/subscriptions/{_required(options, 'subscription_id')}/resourceGroups/"
            f"{_required(options, 'resource_group')}/providers/Microsoft.Network/publicIPAddresses/{vm_name}-ip")
    response = client.send_request(HttpRequest("GET", f"{path}?api-version={NETWORK_API_VERSION}"))
    if response.status_code != 200:
        return None
    return response.json().get("properties", {}).get("ipAddress")


def _to_instance(vm: Any, client: Any, options: Mapping[str, Any], with_ip: bool) -> Instance:
    provisioning = (vm.properties.provisioning_state if vm.properties else "") or ""
    state = {"Succeeded": "running", "Deleting": "shutting-down", "Failed": "failed"}.get(provisioning, "pending")
    zones = list(vm.zones or [])
    return Instance(
        instance_id=vm.name, cloud=CLOUD, region=vm.location,
        zone=f"{vm.location}-{zones[0]}" if zones else None,
        instance_type=vm.properties.hardware_profile.vm_size if vm.properties else "", state=state,
        ssh_host=_public_ip(client, options, vm.name) if with_ip and state == "running" else None,
        ssh_user=options.get("ssh_user", "sky"), remote_root=".", tags=dict(vm.tags or {}),
    )


def _vms(client: Any, options: Mapping[str, Any], tag: str, value: str) -> list[Any]:
    group = _required(options, "resource_group")
    return [vm for vm in client.virtual_machines.list(group) if (vm.tags or {}).get(tag) == value]


def describe(cluster_name: str, region: str, options: Mapping[str, Any], *, client: Any = None) -> list[Instance]:
    client = client or _client(options)
    found = [_to_instance(vm, client, options, with_ip=True) for vm in _vms(client, options, TAG_CLUSTER, cluster_name)]
    return sorted((i for i in found if i.region == region), key=lambda i: i.instance_id)


def terminate(cluster_name: str, region: str, options: Mapping[str, Any]) -> None:
    client = _client(options)
    group = _required(options, "resource_group")
    for vm in _vms(client, options, TAG_CLUSTER, cluster_name):
        if vm.location == region:
            client.virtual_machines.begin_delete(group, vm.name).result()


def set_tags(cluster_name: str, region: str, options: Mapping[str, Any], tags: Mapping[str, str]) -> None:
    """Merge ``tags`` into the cluster's VMs (the heartbeat's path).

    A VM PATCH with only ``tags`` replaces the tag set and changes nothing else, so the VM's
    current tags (read by the listing) are merged first.
    """
    client = _client(options)
    group = _required(options, "resource_group")
    for vm in _vms(client, options, TAG_CLUSTER, cluster_name):
        if vm.location == region:
            client.virtual_machines.begin_update(group, vm.name, {"tags": {**(vm.tags or {}), **tags}}).result()


def list_tagged(options: Mapping[str, Any]) -> list[Instance]:
    client = _client(options)
    return [_to_instance(vm, client, options, with_ip=False) for vm in _vms(client, options, TAG_MANAGED, "true")]
