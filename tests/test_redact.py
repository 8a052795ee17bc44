"""The redaction every log line passes through: credential shapes and registered values."""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_sky import redact

SAS = "sv=2023-11-03&ss=b&srt=sco&sp=rwdlac&se=2031-01-01T00%3A00%3A00Z&spr=https&sig=Zm9vYmFy%2Bc2lnbmF0dXJl%3D"


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        (f'DEBUG urllib3: "PUT /c/blob?comp=block&{SAS} HTTP/1.1" 201 0', "Zm9vYmFy%2Bc2lnbmF0dXJl%3D"),
        (f"{SAS}", "Zm9vYmFy"),
        ("GET https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE1%2F2026"
         "&X-Amz-Signature=deadbeefcafe0123&X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLE", "deadbeefcafe0123"),
        ("X-Amz-Credential=AKIAEXAMPLE1%2F20260101%2Fus-east-1", "AKIAEXAMPLE1"),
        ("&X-Amz-Security-Token=FQoGZXIvYXdzEXAMPLE&x=1", "FQoGZXIvYXdzEXAMPLE"),
        ("headers={'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE2/2026, Signature=0a1b2c3d4e'}",
         "0a1b2c3d4e"),
        ("DEBUG botocore.auth: Signature:\n9a5a7ed6d1312a45a9f317d5b6d86d90df82a6aca815e851d2680624dffeecc5",
         "9a5a7ed6d1312a45"),
        ("Authorization: SharedKey devstoreaccount1:c2VjcmV0c2lnbmF0dXJl", "c2VjcmV0c2lnbmF0dXJl"),
        ("sent header authorization: Bearer ya29.a0AfH6SMBexampletoken", "ya29.a0AfH6SMBexampletoken"),
        ("token Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig in a message", "eyJhbGciOiJIUzI1NiJ9"),
        ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=S2V5S2V5S2V5==;EndpointSuffix=core.windows.net",
         "S2V5S2V5S2V5=="),
        ("BlobEndpoint=https://a.blob;SharedAccessSignature=sv=2023&sig=abcdefgh", "abcdefgh"),
        (json.dumps({"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----"}),
         "MIIEvQIBADANBgkq"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
         "b3BlbnNzaC1rZXktdjEAAAAA"),
        ("cut short: -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAtruncated", "MIIEowIBAAKCAQEAtruncated"),
    ],
)  # fmt: skip
def test_credential_shapes_are_masked_without_being_registered(line: str, secret: str) -> None:
    out = redact.redact(line)
    assert secret not in out
    assert redact.MASK in out


def test_ordinary_lines_are_left_alone() -> None:
    line = 'DEBUG urllib3: "GET /bucket/key?prefix=data%2F&max-keys=1000 HTTP/1.1" 200 512 signed=false'
    assert redact.redact(line) == line


def test_a_registered_value_is_masked_in_every_form_it_takes() -> None:
    secret = "kT9+w/Registered=Value&1"
    redact.register(secret)
    text = f"raw {secret} quoted {secret.replace('+', '%2B').replace('/', '%2F')} json {json.dumps([secret])}"
    assert "Registered" not in redact.redact(text)


def test_short_values_are_not_registered_so_words_stay_readable() -> None:
    redact.register("true", "", None, {"k": "1234"})
    assert redact.redact("true 1234") == "true 1234"


def test_listeners_receive_past_and_future_values() -> None:
    seen: list[str] = []
    redact.register("earlier-secret-value")
    redact.add_listener(seen.append)
    redact.register("later-secret-value")
    assert {"earlier-secret-value", "later-secret-value"} <= set(seen)
    redact._listeners.remove(seen.append)


def test_installed_redaction_covers_arguments_tracebacks_and_handlers_added_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redact.install()
    redact.register("Hunter2-Installed-Secret")
    with caplog.at_level(logging.DEBUG):
        log = logging.getLogger("some.sdk")
        log.debug("connecting with %s", "Hunter2-Installed-Secret")
        try:
            raise ValueError("bad AccountKey=Hunter2-Installed-Secret;")
        except ValueError:
            log.exception("failed")
    text = caplog.text
    assert "connecting with ***" in text and "ValueError: bad AccountKey=***" in text
    assert "Hunter2" not in text
