"""Overlay transfers through real gateway processes on loopback (TLS on, no shaping)."""

from __future__ import annotations

import json
from pathlib import Path

from airflow_provider_sky.overlay.fleet import LoopbackPlacement
from airflow_provider_sky.overlay.runner import OverlayOptions, run_overlay
from airflow_provider_sky.transfer.request import CopyRequest
from tests.overlay.conftest import read_tree, triangle_plan, write_tree

MiB = 1024 * 1024


def _copy(src: Path, dst: Path, mode: str = "cp", **options):
    request = CopyRequest.build(f"file://{src}/", f"file://{dst}/", mode=mode, chunk_size=1 * MiB,
                                multipart_threshold=5 * MiB)  # fmt: skip
    return run_overlay(
        request, triangle_plan(), {f"file://{dst}/": "local:tb-dst"}, LoopbackPlacement(),
        options=OverlayOptions(**options), timeout_s=120,
    )  # fmt: skip


def test_a_copy_through_a_relay_arrives_byte_identical(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    sent = write_tree(src, {"big.bin": 23 * MiB + 17, "nested/small.txt": 1000, "empty": 0, "a/b/c.bin": 70_000})
    summary, _, outcome = _copy(src, dst)
    assert read_tree(dst) == sent
    dest = summary.destinations[0]
    assert dest.objects_copied == 4 and dest.bytes_copied == sum(map(len, sent.values()))
    assert dest.multipart_objects == 1
    # Both partitions carried bytes: the relayed path and the direct link.
    relayed, relay_out, direct = (
        outcome.edges[e]["bytes"]
        for e in ("local:tb-src->local:tb-relay", "local:tb-relay->local:tb-dst", "local:tb-src->local:tb-dst")
    )
    assert relayed > 0 and direct > 0 and relay_out == relayed
    total_sent = relayed + direct
    assert total_sent == sum(map(len, sent.values()))  # incompressible data: compression stays off
    assert set(outcome.gateways) == {"local-tb-src-0", "local-tb-relay-0", "local-tb-dst-0"}


def test_a_rerun_skips_what_the_overlay_verified_and_sync_copies_only_changes(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, {f"f{i}.bin": 10_000 + i for i in range(12)})
    _copy(src, dst)
    again, _, _ = _copy(src, dst)
    assert again.destinations[0].objects_copied == 0 and again.destinations[0].objects_skipped == 12
    (src / "f3.bin").write_bytes(b"changed")
    synced, _, _ = _copy(src, dst, mode="sync")
    assert synced.destinations[0].objects_copied == 1
    assert (dst / "f3.bin").read_bytes() == b"changed"


def test_compressible_data_moves_compressed_and_arrives_identical(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    text = (b"timestamp,region,bytes\n" + b"2026-01-01T00:00:00,us-east-1,12345\n" * 400_000)
    (src).mkdir()
    (src / "log.csv").write_bytes(text)
    _, _, outcome = _copy(src, dst, compression="zstd")
    assert (dst / "log.csv").read_bytes() == text
    edges = outcome.edges
    on_wire = edges["local:tb-src->local:tb-relay"]["bytes"] + edges["local:tb-src->local:tb-dst"]["bytes"]
    assert on_wire < len(text) / 5


def test_the_gateway_logs_hold_no_token_or_key(tmp_path: Path, state_dir: Path, monkeypatch) -> None:
    import airflow_provider_sky.overlay.runner as runner

    seen: dict[str, str] = {}
    real_teardown = runner.teardown

    def keep_logs(handle, **kwargs):
        token = (handle.path / "token").read_text()
        key = (handle.path / "runner" / "key.pem").read_text()
        logs = "".join(p.read_text() for p in handle.path.glob("gateways/*/gateway.log"))
        seen.update(token=token, key=key, logs=logs, handle=json.dumps(handle.to_dict()))
        return real_teardown(handle, **kwargs)

    monkeypatch.setattr(runner, "teardown", keep_logs)
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, {"x.bin": 100_000})
    _copy(src, dst)
    assert seen["logs"] and "runs" in seen["logs"]  # the gateways did log
    key_body = seen["key"].splitlines()[1]
    for text in (seen["logs"], seen["handle"]):
        assert seen["token"] not in text and key_body not in text
