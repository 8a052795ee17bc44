"""Bad input fails once, naming the problem and the fix, before any byte is written."""

import pytest

from airflow_provider_sky.errors import SkyUserError
from airflow_provider_sky.stores.local import key_problem
from airflow_provider_sky.transfer import CopyRequest, run_copy
from tests.transfer.helpers import copy, tree, uri, write


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        ("not a uri", "file:///tmp/x/", "no scheme"),
        ("ftp://host/x", "file:///tmp/x/", "Unknown storage scheme 'ftp'"),
        ("s3:///key", "file:///tmp/x/", "names no bucket"),
        ("azure://acct", "file:///tmp/x/", "names no container"),
        ("file://relative/path", "file:///tmp/x/", "names host"),
        ("s3://Bad_Bucket/k", "file:///tmp/x/", "is not valid"),
    ],
)
def test_malformed_uris_raise_one_error_with_a_fix(source, destination, message):
    with pytest.raises(SkyUserError, match=message) as info:
        run_copy(CopyRequest.build(source, destination))
    assert "Fix:" in str(info.value)


def test_destination_inside_the_source_is_refused_before_writing(local, src):
    write(src / "a", b"a")

    with pytest.raises(SkyUserError, match="destination is inside the source") as info:
        copy(local, uri(src), uri(src / "backup"))

    assert "Fix:" in str(info.value)
    assert tree(src) == {"a": b"a"}


def test_source_inside_the_destination_is_refused_for_sync(local, src):
    write(src / "inner" / "a", b"a")

    with pytest.raises(SkyUserError, match="source is inside the destination"):
        copy(local, uri(src / "inner"), uri(src), mode="sync", delete=True)

    assert tree(src) == {"inner/a": b"a"}


def test_copying_an_object_onto_itself_is_refused(local, src):
    write(src / "a", b"a")

    with pytest.raises(SkyUserError, match="same object"):
        copy(local, uri(src / "a", slash=False), uri(src / "a", slash=False))


def test_a_missing_source_says_nothing_to_copy(local, src, dst):
    with pytest.raises(SkyUserError, match="Nothing to copy") as info:
        copy(local, uri(src / "nope", slash=False), uri(dst))

    assert "check the source path" in str(info.value)
    assert not dst.exists()


def test_a_destination_under_a_file_is_refused_before_writing(local, src, tmp_path):
    write(src / "a", b"a")
    write(tmp_path / "afile", b"x")

    with pytest.raises(SkyUserError, match="is a file, not a directory"):
        copy(local, uri(src), uri(tmp_path / "afile" / "sub"))


def test_delete_without_sync_is_refused():
    with pytest.raises(SkyUserError, match="only applies to sync"):
        CopyRequest.build("file:///a/", "file:///b/", delete=True)


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("a//b", "repeated '/'"),
        ("/lead", "leading '/'"),
        ("trail/", "trailing '/'"),
        ("a/../b", "'.' or '..'"),
        ("ok/key with space+%#?", None),
    ],
)
def test_keys_that_cannot_be_file_paths_are_named(key, why):
    problem = key_problem(key)
    assert (problem is None) if why is None else (why in problem)


def test_local_store_refuses_to_write_an_unmappable_key(local, tmp_path):
    with pytest.raises(SkyUserError, match="repeated '/'") as info:
        local.put("", str(tmp_path).lstrip("/") + "//x", b"", b"", {})
    assert "rename those objects at the source" in str(info.value)


def test_a_request_survives_a_round_trip_through_plain_json():
    import json

    request = CopyRequest.build("s3://bucket-a/x/", ["gs://bucket-b/y/", "file:///tmp/z/"], mode="sync", delete=True)

    assert CopyRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
