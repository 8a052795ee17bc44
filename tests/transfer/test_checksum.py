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
