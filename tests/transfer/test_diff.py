"""The sync merge against a plain dictionary model, on random listings."""

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_sky.stores.base import METADATA_SIZE, METADATA_SOURCE_ETAG, ObjectInfo
from airflow_provider_sky.transfer.diff import compare, plan_actions
from airflow_provider_sky.transfer.listing import KeyMapping

KEY = st.text(alphabet="ab/-._ é", min_size=1, max_size=6)


def _info(key, size, etag, mtime, stamped_from=None):
    meta = {}
    if stamped_from is not None:
        meta = {METADATA_SOURCE_ETAG: stamped_from.etag, METADATA_SIZE: str(stamped_from.size)}
    return ObjectInfo(key, size, etag, mtime, {}, meta)


@st.composite
def listings(draw):
    src_keys = draw(st.lists(KEY, unique=True, max_size=12))
    dst_only = draw(st.lists(KEY, unique=True, max_size=6))
    sources, dests = {}, {}
    for key in src_keys:
        src = _info("in/" + key, draw(st.integers(0, 3)), f"e-{key}", 100.0)
        sources[key] = src
        state = draw(st.sampled_from(["missing", "stamped", "stale", "older", "newer"]))
        if state == "stamped":
            dests[key] = _info("out/" + key, src.size, "x", 50.0, stamped_from=src)
        elif state == "stale":
            dests[key] = _info("out/" + key, src.size + 1, "x", 200.0)
        elif state == "older":
            dests[key] = _info("out/" + key, src.size, "x", 50.0)
        elif state == "newer":
            dests[key] = _info("out/" + key, src.size, "x", 200.0)
    for key in dst_only:
        if key not in sources:
            dests[key] = _info("out/" + key, 1, "y", 1.0)
    return sources, dests


@settings(max_examples=200, deadline=None)
@given(listings(), st.sampled_from(["cp", "sync"]), st.booleans())
def test_merge_decides_every_key_once_like_a_dictionary_model(data, mode, delete):
    sources, dests = data
    src_iter = iter(sorted(sources.values(), key=lambda i: i.key))
    dst_iter = iter(sorted(dests.values(), key=lambda i: i.key))

    actions = list(plan_actions(src_iter, dst_iter, KeyMapping("in/", "out/", single=False), mode=mode,
                                delete=delete, same_store_type=False))

    expected = {}
    for key, src in sources.items():
        dst = dests.get(key)
        if dst is None:
            expected["out/" + key] = "copy"
        elif mode == "cp":
            stamped = dst.metadata.get(METADATA_SOURCE_ETAG) == src.etag
            expected["out/" + key] = "skip" if stamped else "copy"
        else:
            expected["out/" + key] = "skip" if compare(src, dst, False)[0] else "copy"
    if delete:
        expected.update({"out/" + k: "delete" for k in dests if k not in sources})
    assert {a.dst_key: a.kind for a in actions} == expected
    assert [a.dst_key for a in actions] == sorted(a.dst_key for a in actions)


def test_sync_compares_size_then_stamps_then_checksums_then_age():
    src = ObjectInfo("k", 5, "v1", 100.0, {"crc32c": "0000abcd"})

    assert compare(src, ObjectInfo("k", 6, None, 999.0), False) == (False, "size differs")
    stamped = ObjectInfo("k", 5, None, 1.0, {}, {METADATA_SOURCE_ETAG: "v1", METADATA_SIZE: "5"})
    assert compare(src, stamped, False)[0]
    assert compare(src, ObjectInfo("k", 5, None, 999.0, {"crc32c": "ffff0000"}), False) == (False, "crc32c differs")
    assert compare(src, ObjectInfo("k", 5, None, 1.0, {"crc32c": "0000ABCD"}), False)[0]
    plain = ObjectInfo("k", 5, "v1", 100.0)
    assert compare(plain, ObjectInfo("k", 5, "v1", 1.0), True) == (True, "etag matches")
    assert compare(plain, ObjectInfo("k", 5, "zz", 50.0), True) == (False, "source is newer")
