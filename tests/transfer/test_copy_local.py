"""cp between file:// trees: sizes at chunk boundaries, awkward keys, single objects, many objects."""

import os
import time

import pytest

from tests.transfer.helpers import KiB, copy, tree, uri, write

CHUNK = 64 * KiB


@pytest.mark.parametrize(
    "size",
    [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 1],
    ids=["empty", "1B", "chunk-1", "chunk", "chunk+1", "3chunks", "3chunks+1"],
)
def test_cp_copies_objects_byte_for_byte_at_chunk_boundaries(local, src, dst, size):
    data = os.urandom(size)
    write(src / "obj", data)

    summary = copy(local, uri(src), uri(dst), chunk_size=CHUNK, multipart_threshold=CHUNK)

    assert tree(dst) == {"obj": data}
    assert summary.objects == 1 and summary.bytes == size
    assert summary.destinations[0].multipart_objects == (1 if size > CHUNK else 0)
    expected_reads = max(1, -(-size // CHUNK)) if size else 0
    assert len(local.reads) == expected_reads


AWKWARD_KEYS = [
    "with space.txt",
    "ünïcødé/日本語.bin",
    "a+b=c.txt",
    "100%25 and %2F.txt",
    "hash#tag.txt",
    "query?x=1&y=2.txt",
    "deep/" + "/".join(f"level{i}" for i in range(20)) + "/leaf",
    "emoji-🚀.txt",
]


def test_cp_keeps_awkward_keys_exactly(local, src, dst):
    expected = {key: key.encode() * 3 for key in AWKWARD_KEYS}
    for key, data in expected.items():
        write(src / key, data)

    copy(local, uri(src), uri(dst))

    assert tree(dst) == expected


def test_cp_of_one_object_into_a_directory_destination_keeps_its_name(local, src, dst):
    write(src / "a" / "report.csv", b"x,y\n")

    copy(local, uri(src / "a" / "report.csv", slash=False), uri(dst))

    assert tree(dst) == {"report.csv": b"x,y\n"}


def test_cp_of_one_object_to_an_existing_directory_without_slash_lands_inside(local, src, dst):
    write(src / "report.csv", b"1")
    dst.mkdir()

    copy(local, uri(src / "report.csv", slash=False), uri(dst, slash=False))

    assert tree(dst) == {"report.csv": b"1"}


def test_cp_of_one_object_to_a_new_name_renames_it(local, src, dst):
    write(src / "report.csv", b"1")

    copy(local, uri(src / "report.csv", slash=False), uri(dst / "renamed.csv", slash=False))

    assert tree(dst) == {"renamed.csv": b"1"}


def test_cp_of_a_prefix_without_slash_copies_its_contents_not_its_siblings(local, src, dst):
    write(src / "data" / "x", b"x")
    write(src / "data-other" / "y", b"y")

    copy(local, uri(src / "data", slash=False), uri(dst))

    assert tree(dst) == {"x": b"x"}


def test_cp_into_a_deep_destination_prefix(local, src, dst):
    write(src / "k", b"k")

    copy(local, uri(src), uri(dst / "a" / "b" / "c"))

    assert tree(dst) == {"a/b/c/k": b"k"}


def test_cp_of_ten_thousand_small_objects_is_fast_and_complete(local, src, dst):
    for i in range(10_000):
        write(src / f"d{i % 50:02d}" / f"obj{i:05d}", b"%05d" % i)
    started = time.monotonic()

    summary = copy(local, uri(src), uri(dst), concurrency=8)

    elapsed = time.monotonic() - started
    copied = tree(dst)
    assert summary.objects == 10_000 and len(copied) == 10_000
    assert copied["d07/obj00007"] == b"00007"
    assert elapsed < 20, f"10,000 small objects took {elapsed:.1f}s"


def test_cp_to_two_destinations_writes_both(local, src, tmp_path):
    write(src / "a", b"a")

    summary = copy(local, uri(src), [uri(tmp_path / "one"), uri(tmp_path / "two")])

    assert tree(tmp_path / "one") == tree(tmp_path / "two") == {"a": b"a"}
    assert [d.objects_copied for d in summary.destinations] == [1, 1]


def test_summary_is_json_serialisable(local, src, dst):
    import json

    write(src / "a", b"abc")

    data = json.loads(json.dumps(copy(local, uri(src), uri(dst)).to_dict()))

    assert data["objects"] == 1 and data["bytes"] == 3 and data["checksums_verified"] == 1
