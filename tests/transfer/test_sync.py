"""sync: skip what matches, copy what differs, delete only when asked; dry runs write nothing."""

import os
import time

from tests.transfer.helpers import KiB, copy, tree, uri, write


def _seed(src, dst, local):
    write(src / "same", b"same")
    write(src / "grows", b"v1")
    write(src / "edited", b"aaaa")
    copy(local, uri(src), uri(dst), mode="sync")
    local.reads.clear()


def test_sync_skips_identical_objects_and_reads_none_of_them(local, src, dst):
    _seed(src, dst, local)

    summary = copy(local, uri(src), uri(dst), mode="sync")

    assert summary.objects == 0 and summary.skipped == 3
    assert local.reads == []


def test_sync_copies_new_and_changed_objects_only(local, src, dst):
    _seed(src, dst, local)
    time.sleep(0.02)
    write(src / "grows", b"v2 is longer")
    write(src / "edited", b"bbbb")  # same size, new content: a new source version
    write(src / "new", b"new")

    summary = copy(local, uri(src), uri(dst), mode="sync")

    assert {k.rsplit("/", 1)[-1] for k in local.read_keys} == {"grows", "edited", "new"}
    assert summary.objects == 3 and summary.skipped == 1
    assert tree(dst) == tree(src)


def test_sync_skips_same_size_older_source_without_stamps(local, src, dst):
    # A destination made by another tool: no stamps, so size and mtime decide, as in `aws s3 sync`.
    write(src / "a", b"12345")
    write(dst / "a", b"abcde")
    os.utime(src / "a", (1_000_000, 1_000_000))

    summary = copy(local, uri(src), uri(dst), mode="sync")

    assert summary.skipped == 1 and (dst / "a").read_bytes() == b"abcde"


def test_sync_without_delete_deletes_nothing(local, src, dst):
    _seed(src, dst, local)
    write(dst / "extra", b"keep me")

    summary = copy(local, uri(src), uri(dst), mode="sync")

    assert summary.deleted == 0 and (dst / "extra").exists()


def test_sync_with_delete_removes_objects_missing_at_the_source(local, src, dst):
    _seed(src, dst, local)
    write(dst / "extra", b"x")
    write(dst / "sub" / "extra2", b"y")

    summary = copy(local, uri(src), uri(dst), mode="sync", delete=True)

    assert summary.deleted == 2
    assert tree(dst) == tree(src)


def test_dry_run_lists_actions_and_writes_nothing(local, src, dst):
    write(src / "a", b"a" * 10)
    write(src / "big", os.urandom(200 * KiB))
    write(dst / "extra", b"x")
    before = tree(dst)
    seen = []

    class Sink:
        def on_progress(self, snapshot):
            pass

        def on_action(self, action):
            seen.append((action.kind, action.destination.rsplit("/", 1)[-1]))

    summary = copy(local, uri(src), uri(dst), mode="sync", delete=True, dry_run=True, progress=Sink())

    assert tree(dst) == before
    assert local.reads == []
    assert sorted(seen) == [("copy", "a"), ("copy", "big"), ("delete", "extra")]
    assert summary.dry_run and summary.objects == 2 and summary.deleted == 1


def test_dry_run_into_a_missing_directory_creates_nothing(local, src, dst):
    write(src / "a", b"a")

    copy(local, uri(src), uri(dst), dry_run=True)

    assert not dst.exists()


def test_an_empty_source_is_allowed_only_when_asked_and_then_sync_delete_empties(local, src, dst):
    write(dst / "old", b"x")

    summary = copy(local, uri(src), uri(dst), mode="sync", delete=True, allow_empty_source=True)

    assert summary.deleted == 1 and tree(dst) == {}
