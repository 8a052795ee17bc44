"""One source, several destinations: each chunk is read once; each destination decides alone."""

import os

import pytest

from airflow_provider_sky.errors import IntegrityError
from tests.transfer.helpers import KiB, copy, flip_first_byte, tree, uri, write

CHUNK = 64 * KiB


def test_each_source_chunk_is_read_once_for_all_destinations(local, src, tmp_path):
    write(src / "big", os.urandom(5 * CHUNK + 3))
    for i in range(20):
        write(src / "small" / f"s{i:02d}", os.urandom(100 + i))
    outs = [tmp_path / f"out{i}" for i in range(3)]

    summary = copy(local, uri(src), [uri(o) for o in outs])

    assert len(local.reads) == 6 + 20
    assert len({(key, offset) for key, offset, _ in local.reads}) == len(local.reads)
    for out in outs:
        assert tree(out) == tree(src)
    assert [d.objects_copied for d in summary.destinations] == [21, 21, 21]


def test_each_destination_syncs_only_what_it_lacks(local, src, tmp_path):
    for name in ("a", "b", "c"):
        write(src / name, name.encode() * 10)
    full, empty = tmp_path / "full", tmp_path / "empty"
    copy(local, uri(src), uri(full))
    write(src / "d", b"new")
    local.reads.clear()

    summary = copy(local, uri(src), [uri(full), uri(empty)], mode="sync")

    assert {key.rsplit("/", 1)[-1] for key in local.read_keys} == {"a", "b", "c", "d"}
    assert len(local.reads) == 4  # "d" is read once although both destinations need it
    assert [(d.objects_copied, d.objects_skipped) for d in summary.destinations] == [(1, 3), (4, 0)]
    assert tree(full) == tree(empty) == tree(src)


def test_a_failure_at_one_destination_leaves_no_partial_object_anywhere(local, src, tmp_path):
    write(src / "big", os.urandom(4 * CHUNK))
    good, bad = tmp_path / "good", tmp_path / "bad"

    def corrupt_bad(key, part, data):
        return flip_first_byte(data) if "/bad/" in key and part == 3 else data

    local.on_write = corrupt_bad

    with pytest.raises(IntegrityError):
        copy(local, uri(src), [uri(good), uri(bad)], concurrency=1)

    assert tree(good) == {} and tree(bad) == {}
