import google_crc32c
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_sky.transfer.checksum import combine_chunks, crc32c_combine, digest


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=3000), max_size=6))
def test_combined_chunk_crcs_equal_the_whole_object_crc(chunks):
    assert combine_chunks([digest(c) for c in chunks]) == google_crc32c.value(b"".join(chunks))


def test_combining_with_an_empty_chunk_changes_nothing():
    crc = google_crc32c.value(b"abc")
    assert crc32c_combine(crc, google_crc32c.value(b""), 0) == crc


def test_digest_md5_is_the_standard_one():
    assert digest(b"hello").md5.hex() == "5d41402abc4b2a76b9719d911017c592"


def test_a_matching_multipart_etag_counts_and_a_foreign_one_is_no_error():
    import hashlib

    from airflow_provider_sky.stores.base import ObjectInfo
    from airflow_provider_sky.transfer.jobs import ObjectJob
    from airflow_provider_sky.transfer.stages import check_written, multipart_etag

    parts = [hashlib.md5(b"part one").digest(), hashlib.md5(b"part two").digest()]
    job = ObjectJob(ObjectInfo("k", 16), "k", part_size=8)
    ours = ObjectInfo("k", 16, etag=multipart_etag(parts))
    kms = ObjectInfo("k", 16, etag="0123456789abcdef0123456789abcdef-2")  # not MD5-based

    assert multipart_etag(parts) == hashlib.md5(parts[0] + parts[1]).hexdigest() + "-2"
    assert check_written(ours, job, 0, None, parts) is True
    assert check_written(kms, job, 0, None, parts) is False
