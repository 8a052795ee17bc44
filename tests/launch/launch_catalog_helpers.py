"""Small hand-made v8 catalogs for launch tests (helpers, not tests)."""

from __future__ import annotations

from pathlib import Path

from airflow_provider_sky.launch.catalog import CloudCatalog, load_file

HEADER = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,SpotPrice,Region,AvailabilityZone"


def write_catalog(tmp_path: Path, cloud: str, lines: list[str], header: str = HEADER) -> Path:
    """Write ``<tmp>/<cloud>/vms.csv`` from CSV lines and return its path."""
    path = tmp_path / cloud / "vms.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def catalog(tmp_path: Path, cloud: str, lines: list[str], header: str = HEADER) -> CloudCatalog:
    return load_file(cloud, write_catalog(tmp_path, cloud, lines, header), "test")


AWS_ROWS = [
    "m6i.2xlarge,,,8,32,0.384,0.10,us-east-1,use1-az1",
    "m6i.2xlarge,,,8,32,0.384,0.07,us-east-1,use1-az2",
    "m6i.2xlarge,,,8,32,0.428,0.09,eu-west-1,euw1-az1",
    "m6i.4xlarge,,,16,64,0.768,0.20,us-east-1,use1-az1",
    "c6i.2xlarge,,,8,16,0.340,0.08,us-east-1,use1-az1",
    "g6.xlarge,L4,1,4,16,0.8048,0.30,us-east-1,use1-az1",
    "p4d.24xlarge,A100,8,96,1152,32.77,,us-east-1,use1-az1",
]
GCP_ROWS = [
    "n2-standard-8,,,8,32,0.3885,0.0939,us-central1,us-central1-a",
    "n2-standard-8,,,8,32,0.4500,0.1100,europe-west4,europe-west4-a",
    "a2-highgpu-1g,,,12,85,0.7390,0.2600,us-central1,us-central1-a",
    "a2-highgpu-1g,,,12,85,0.8100,0.2900,europe-west4,europe-west4-a",
    ",A100,1,,,2.9339,1.4341,us-central1,us-central1-a",
    ",A100,1,,,1.0000,0.5000,europe-west4,europe-west4-a",
    ",tpu-v6e-8,1,,,700.0,700.0,us-east5,us-east5-b",
    ",tpu-v6e-8,1,,,21.6,9.8,us-east1,us-east1-d",
]
AZURE_ROWS = [
    "Standard_D8s_v5,,,8,32,0.384,0.0768,eastus,",
    "Standard_D8s_v5,,,8,32,,,westus,",
    "Standard_NC40ads_H100_v5,H100,1,40,320,6.98,6.98,eastus,",
]
