"""LocalStore: keys as paths, true key order, hidden temp files, metadata in an xattr."""

import hashlib

import pytest

from airflow_provider_sky.errors import IntegrityError
from airflow_provider_sky.stores.local import TEMP_PREFIX, LocalStore
from tests.transfer.helpers import write


def _md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


@pytest.fixture
def store():
    return LocalStore()


def test_listing_is_in_lexicographic_key_order_across_directories(store, tmp_path):
    for name in ("a/b", "a-c", "a0", "b", "a/a/z"):
        write(tmp_path / name, b"x")
    prefix = str(tmp_path).lstrip("/") + "/"

    keys = [info.key[len(prefix):] for info in store.list("", prefix)]

    assert keys == sorted(keys) == ["a-c", "a/a/z", "a/b", "a0", "b"]


def test_listing_with_a_partial_name_prefix_matches_files_and_directories(store, tmp_path):
    for name in ("data/x", "data-2/y", "dat", "other"):
        write(tmp_path / name, b"x")
    prefix = str(tmp_path).lstrip("/") + "/dat"

    keys = [info.key.rsplit("/", 2)[-2:] for info in store.list("", prefix)]

    assert keys == [[tmp_path.name, "dat"], ["data-2", "y"], ["data", "x"]]


def test_unfinished_writes_are_invisible_until_complete(store, tmp_path):
    key = str(tmp_path / "big").lstrip("/")
    upload = store.start_multipart("", key, {"sky-size": "6"})
    upload.upload_part(2, 3, b"def", _md5(b"def"))
    upload.upload_part(1, 0, b"abc", _md5(b"abc"))

    assert list(store.list("", str(tmp_path).lstrip("/") + "/")) == []
    info = upload.complete()

    assert (tmp_path / "big").read_bytes() == b"abcdef" and info.size == 6
    assert [p.name for p in tmp_path.iterdir()] == ["big"]


def test_abort_removes_the_temp_file(store, tmp_path):
    upload = store.start_multipart("", str(tmp_path / "x").lstrip("/"), {})
    upload.upload_part(1, 0, b"abc", _md5(b"abc"))

    upload.abort()
    upload.abort()

    assert list(tmp_path.iterdir()) == []


def test_a_part_that_does_not_match_its_md5_is_refused(store, tmp_path):
    upload = store.start_multipart("", str(tmp_path / "x").lstrip("/"), {})

    with pytest.raises(IntegrityError):
        upload.upload_part(1, 0, b"abc", _md5(b"abd"))
    upload.abort()


def test_metadata_round_trips_through_the_xattr_and_stat(store, tmp_path):
    key = str(tmp_path / "m").lstrip("/")

    store.put("", key, b"hi", _md5(b"hi"), {"owner": "team-a", "sky-size": "2"})

    assert store.stat("", key).metadata == {"owner": "team-a", "sky-size": "2"}


def test_stamps_are_dropped_when_the_file_is_rewritten_in_place(store, tmp_path):
    key = str(tmp_path / "m").lstrip("/")
    store.put("", key, b"hi", _md5(b"hi"), {"owner": "team-a", "sky-size": "2"})

    with open(tmp_path / "m", "ab") as f:
        f.write(b"!")

    assert store.stat("", key).metadata == {"owner": "team-a"}


def test_temp_files_are_hidden_from_listing_and_removed_as_stale(store, tmp_path):
    write(tmp_path / "sub" / (TEMP_PREFIX + "x"), b"partial")
    write(tmp_path / "sub" / "real", b"r")
    prefix = str(tmp_path).lstrip("/") + "/"

    assert [i.key.rsplit("/", 1)[-1] for i in store.list("", prefix)] == ["real"]
    assert store.abort_stale_uploads("", prefix) == 1
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["real"]


def test_a_directory_is_not_an_object(store, tmp_path):
    (tmp_path / "d").mkdir()

    assert store.stat("", str(tmp_path / "d").lstrip("/")) is None


def test_reading_a_file_that_vanished_is_a_store_error_naming_it(store, tmp_path):
    from airflow_provider_sky.errors import StoreError

    with pytest.raises(StoreError, match="disappeared after it was listed"):
        store.read_range("", str(tmp_path / "gone").lstrip("/"), 0, 10)


def test_file_symlinks_are_followed_and_directory_symlinks_are_not(store, tmp_path):
    write(tmp_path / "real" / "f", b"data")
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "link-to-file").symlink_to(tmp_path / "real" / "f")
    (tmp_path / "tree" / "link-to-dir").symlink_to(tmp_path / "real")
    prefix = str(tmp_path / "tree").lstrip("/") + "/"

    listed = {info.key[len(prefix):]: info.size for info in store.list("", prefix)}

    assert listed == {"link-to-file": 4}
