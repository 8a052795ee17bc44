"""Round trip of a generated dataset: local disk -> S3 -> GCS -> Azure Blob -> local disk.

Every hop is one SkyTransferOperator; the last task proves that every byte came back. With
`make demo` the three clouds are real emulators (moto, fake-gcs-server, Azurite) reached through
the usual `aws_default`, `google_cloud_default` and `wasb_default` connections; point those
connections at real accounts and set the SKY_DEMO_* variables to run it against the clouds.
"""

from __future__ import annotations

import hashlib
import os
import random
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_provider_sky.operators.transfer import SkyTransferOperator

WORK_DIR = Path(os.environ.get("SKY_DEMO_DIR", "/tmp/airflow-sky-demo"))
S3_PREFIX = os.environ.get("SKY_DEMO_S3", "s3://sky-demo/dataset/")
GCS_PREFIX = os.environ.get("SKY_DEMO_GCS", "gs://sky-demo/dataset/")
AZURE_PREFIX = os.environ.get("SKY_DEMO_AZURE", "azure://devstoreaccount1/sky-demo/dataset/")
SOURCE_DIR = WORK_DIR / "source"
RETURN_DIR = WORK_DIR / "returned"
CHUNK_MB = 4  # small chunks, so the 10 MiB shard moves as parallel multipart chunks


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): _sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


with DAG(
    dag_id="example_sky_transfer",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["sky", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def make_dataset() -> dict[str, str]:
        """Write a small training set: one multi-chunk shard, many small files, awkward names."""
        rng = random.Random(42)
        (SOURCE_DIR / "shards").mkdir(parents=True, exist_ok=True)
        (SOURCE_DIR / "labels" / "2026 run #1").mkdir(parents=True, exist_ok=True)
        (SOURCE_DIR / "shards" / "shard-000.bin").write_bytes(rng.randbytes(10 * 1024 * 1024 + 7))
        for i in range(40):
            (SOURCE_DIR / "labels" / f"part-{i:03d}.csv").write_bytes(rng.randbytes(rng.randint(0, 4096)))
        (SOURCE_DIR / "labels" / "2026 run #1" / "métadonnées+notes.json").write_text('{"ok": true}\n')
        return _manifest(SOURCE_DIR)

    to_s3 = SkyTransferOperator(
        task_id="local_to_s3", source=f"file://{SOURCE_DIR}/", destination=S3_PREFIX, mode="sync",
        chunk_size_mb=CHUNK_MB, multipart_threshold_mb=CHUNK_MB,
    )
    to_gcs = SkyTransferOperator(
        task_id="s3_to_gcs", source=S3_PREFIX, destination=GCS_PREFIX, mode="sync",
        chunk_size_mb=CHUNK_MB, multipart_threshold_mb=CHUNK_MB,
    )
    to_azure = SkyTransferOperator(
        task_id="gcs_to_azure", source=GCS_PREFIX, destination=AZURE_PREFIX, mode="sync",
        chunk_size_mb=CHUNK_MB, multipart_threshold_mb=CHUNK_MB,
    )
    back_home = SkyTransferOperator(
        task_id="azure_to_local", source=AZURE_PREFIX, destination=f"file://{RETURN_DIR}/", mode="sync",
        chunk_size_mb=CHUNK_MB, multipart_threshold_mb=CHUNK_MB, delete=True,
    )

    @task
    def verify_round_trip(expected: dict[str, str]) -> dict[str, int]:
        """Fail unless the returned tree has exactly the same files with the same SHA-256."""
        returned = _manifest(RETURN_DIR)
        missing = sorted(set(expected) - set(returned))
        extra = sorted(set(returned) - set(expected))
        changed = sorted(k for k in set(expected) & set(returned) if expected[k] != returned[k])
        if missing or extra or changed:
            raise ValueError(f"round trip differs: missing={missing} extra={extra} changed={changed}")
        return {"files": len(returned), "bytes": sum(p.stat().st_size for p in RETURN_DIR.rglob("*") if p.is_file())}

    dataset = make_dataset()
    dataset >> to_s3 >> to_gcs >> to_azure >> back_home
    back_home >> verify_round_trip(dataset)
