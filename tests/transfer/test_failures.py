"""Failure paths: corrupt chunks, failures mid-copy, kills and resumes, cancellation, memory bound."""

import os
import threading
import time

import pytest

from airflow_provider_sky.errors import IntegrityError, StoreError
from airflow_provider_sky.stores.base import METADATA_CRC32C
from airflow_provider_sky.stores.local import TEMP_PREFIX
from airflow_provider_sky.transfer import CopyCancelled
from tests.transfer.helpers import KiB, copy, flip_first_byte, tree, uri, write

CHUNK = 64 * KiB


def test_a_chunk_corrupted_on_its_way_to_the_destination_fails_and_leaves_no_object(local, src, dst):
    write(src / "big", os.urandom(5 * CHUNK))
    write(src / "small", b"hello")
    local.on_write = lambda key, part, data: flip_first_byte(data) if (key.endswith("big") and part == 3) else data

    with pytest.raises(IntegrityError, match="Part 3"):
        copy(local, uri(src), uri(dst), concurrency=2)

    assert "big" not in tree(dst)


def test_a_small_object_corrupted_on_write_fails_and_leaves_no_object(local, src, dst):
    write(src / "small", b"hello")
    local.on_write = lambda key, part, data: flip_first_byte(data)

    with pytest.raises(IntegrityError):
        copy(local, uri(src), uri(dst))

    assert tree(dst) == {}


@pytest.mark.parametrize("size", [1000, 5 * CHUNK], ids=["small", "multipart"])
def test_bytes_that_disagree_with_the_source_checksum_fail_and_leave_no_object(local, tmp_path, size):
    # A first copy stamps `sky-crc32c`; reading that copy back corrupted must be caught.
    first, second = tmp_path / "first", tmp_path / "second"
    write(tmp_path / "orig" / "obj", os.urandom(size))
    copy(local, uri(tmp_path / "orig"), uri(first), multipart_threshold=10 * CHUNK)
    assert METADATA_CRC32C in local.stat("", str(first / "obj").lstrip("/")).metadata
    local.on_read = lambda key, offset, data: flip_first_byte(data) if offset == 0 else data

    with pytest.raises(IntegrityError, match="CRC32C"):
        copy(local, uri(first), uri(second))

    assert tree(second) == {}


def test_a_failure_mid_copy_aborts_multipart_uploads_and_keeps_no_partial_object(local, src, dst):
    for name in ("a", "b", "c"):
        write(src / name, os.urandom(6 * CHUNK))

    def fail_late_chunk(key, offset, data):
        if key.endswith("/b") and offset == 4 * CHUNK:
            raise StoreError("connection reset")
        return data

    local.on_read = fail_late_chunk

    with pytest.raises(StoreError, match="connection reset"):
        copy(local, uri(src), uri(dst), concurrency=2)

    copied = tree(dst)  # also asserts no temp part file is left anywhere
    assert "b" not in copied
    assert all(data == (src / name).read_bytes() for name, data in copied.items())


def test_a_rerun_after_a_kill_skips_verified_objects_and_rereads_only_the_rest(local, src, dst):
    names = [f"obj{i:02d}" for i in range(10)]
    for name in names:
        write(src / name, os.urandom(2 * CHUNK))
    killed_at = "obj06"

    def die(key, offset, data):
        if key.endswith(killed_at):
            raise KeyboardInterrupt  # what a killed worker looks like from inside
        return data

    local.on_read = die
    with pytest.raises(KeyboardInterrupt):
        copy(local, uri(src), uri(dst), concurrency=1)
    survivors = set(tree(dst))
    # A hard kill also leaves unfinished parts; plant one as the kill would have.
    (dst / (TEMP_PREFIX + "deadbeef")).write_bytes(b"partial")

    local.on_read = None
    local.reads.clear()
    summary = copy(local, uri(src), uri(dst), concurrency=1)

    reread = {key.rsplit("/", 1)[-1] for key in local.read_keys}
    assert survivors == {f"obj{i:02d}" for i in range(6)}
    assert reread == set(names) - survivors
    assert summary.skipped == len(survivors)
    assert summary.destinations[0].stale_uploads_aborted == 1
    assert tree(dst) == {name: (src / name).read_bytes() for name in names}


def test_cp_rerun_overwrites_an_object_changed_at_the_destination(local, src, dst):
    write(src / "a", b"source")
    copy(local, uri(src), uri(dst))
    time.sleep(0.02)  # file timestamps tick coarsely; a real edit comes later than this
    (dst / "a").write_bytes(b"edited")  # same size, stamps now stale: cp cannot prove it is a copy

    summary = copy(local, uri(src), uri(dst))

    assert summary.objects == 1 and (dst / "a").read_bytes() == b"source"


def test_cancelling_stops_the_copy_and_keeps_only_whole_objects(local, src, dst):
    for i in range(20):
        write(src / f"o{i:02d}", os.urandom(3 * CHUNK))
    cancel = threading.Event()

    def cancel_midway(key, offset, data):
        if key.endswith("o05"):
            cancel.set()
        return data

    local.on_read = cancel_midway

    with pytest.raises(CopyCancelled, match="rerun skips them"):
        copy(local, uri(src), uri(dst), concurrency=2, cancel=cancel)

    copied = tree(dst)
    assert len(copied) < 20
    assert all(data == (src / name).read_bytes() for name, data in copied.items())


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_bytes_in_flight_never_exceed_concurrency_times_chunk_size(local, src, dst, concurrency):
    for i in range(4):
        write(src / f"big{i}", os.urandom(10 * CHUNK + 7))
    for i in range(300):
        write(src / f"small{i:03d}", os.urandom(5 * KiB))

    copy(local, uri(src), uri(dst), concurrency=concurrency, chunk_size=CHUNK, multipart_threshold=CHUNK)

    assert local.in_flight == 0
    assert 0 < local.peak_in_flight <= concurrency * CHUNK
    assert len(tree(dst)) == 304


def test_a_rerun_of_a_killed_single_object_copy_clears_its_leftovers_only_in_that_directory(local, src, dst):
    write(src / "one.bin", os.urandom(3 * CHUNK))
    write(dst / "elsewhere" / (TEMP_PREFIX + "keep"), b"another directory's business")
    write(dst / (TEMP_PREFIX + "stale"), b"left by a kill")

    summary = copy(local, uri(src / "one.bin", slash=False), uri(dst))

    assert summary.destinations[0].stale_uploads_aborted == 1
    assert (dst / "elsewhere" / (TEMP_PREFIX + "keep")).exists()
    assert (dst / "one.bin").read_bytes() == (src / "one.bin").read_bytes()


def test_a_transient_store_error_is_retried_and_the_copy_completes(local, src, dst):
    write(src / "big", os.urandom(4 * CHUNK))
    write(src / "small", b"tiny")
    failed = set()

    def flaky(key, offset, data):
        name = key.rsplit("/", 1)[-1]
        if (name, offset) in {("big", 2 * CHUNK), ("small", 0)} and (name, offset) not in failed:
            failed.add((name, offset))
            raise StoreError("503 Slow Down")
        return data

    local.on_read = flaky

    summary = copy(local, uri(src), uri(dst))

    assert failed == {("big", 2 * CHUNK), ("small", 0)}
    assert summary.objects == 2 and tree(dst) == tree(src)
    assert sum(1 for key, offset, _ in local.reads if key.endswith("big") and offset == 2 * CHUNK) == 2


def test_a_persistent_store_error_gives_up_after_the_configured_retries(local, src, dst):
    write(src / "small", b"tiny")

    def always(key, offset, data):
        raise StoreError("connection refused")

    local.on_read = always

    with pytest.raises(StoreError, match="connection refused"):
        copy(local, uri(src), uri(dst), retries=2)

    assert len(local.reads) == 3 and tree(dst) == {}
