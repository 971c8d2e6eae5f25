"""The engine: decoded content, session tokens, canaries, and the same answer however it is run."""

from __future__ import annotations

import base64
import json
import random

import pytest

from helpers import key_for, secret_for
from keysentry.detect import scan_bytes
from keysentry.detect.aws_keys import canary, fingerprint

RNG = random.Random(21)
KID = key_for("123456789012", RNG)
SECRET = secret_for(RNG)
while "/" not in SECRET:  # make sure escapes and URL encoding really break the raw secret
    SECRET = secret_for(RNG)
CREDS = f"[default]\naws_access_key_id = {KID}\naws_secret_access_key = {SECRET}\n".encode()


def live(data: bytes) -> list[tuple[str, str, str | None]]:
    return [
        (m.key_id, m.secret_fingerprint, m.decoding)
        for m in scan_bytes(data)
        if m.secret_fingerprint and not m.suppressed
    ]


PAIR = (KID, fingerprint(SECRET))

CASES = {
    "plain": (CREDS, None),
    "crlf line endings": (CREDS.replace(b"\n", b"\r\n"), None),
    "a wrapped base64 credentials file": (base64.encodebytes(CREDS), "base64"),
    "a Kubernetes secret": (
        b"apiVersion: v1\nkind: Secret\ndata:\n  credentials: " + base64.b64encode(CREDS) + b"\n",
        "base64",
    ),
    "a base64 value in JSON": (
        json.dumps({"profile": "ci", "blob": base64.b64encode(CREDS).decode()}).encode(),
        "base64",
    ),
    "base64url": (b"token=" + base64.urlsafe_b64encode(b"xx" + CREDS) + b"\n", "base64"),
    "base64 inside base64": (
        b"outer: " + base64.b64encode(b"inner: " + base64.b64encode(CREDS)),
        "base64>base64",
    ),
    "URL-encoded query": (
        f"https://ci.example/hook?aws_access_key_id={KID}&aws_secret_access_key="
        f"{SECRET.replace('/', '%2F').replace('+', '%2B')}".encode(),
        "url",
    ),
    "JSON with escaped slashes": (
        json.dumps({"AccessKeyId": KID, "SecretAccessKey": SECRET}).replace("/", "\\/").encode(),
        "json-escape",
    ),
    "UTF-16 with a BOM": (CREDS.decode().encode("utf-16"), "utf-16"),
    "UTF-16-LE without a BOM": (CREDS.decode().encode("utf-16-le"), "utf-16"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_credential_is_found_however_it_is_encoded_and_says_how(case: str) -> None:
    data, decoding = CASES[case]
    assert live(data) == [(*PAIR, decoding)]


def test_a_decoded_finding_points_at_the_line_of_the_encoded_text() -> None:
    data = b"# notes\n\n\nvalue: " + base64.b64encode(CREDS) + b"\n"
    [m] = scan_bytes(data)
    assert (m.line, m.decoding) == (4, "base64")


def test_base64_that_decodes_to_binary_or_hashes_is_left_alone() -> None:
    noise = b"\n".join(base64.b64encode(bytes(RNG.getrandbits(8) for _ in range(60))) for _ in range(50))
    hexes = b"\n".join(f"{RNG.getrandbits(256):064x}".encode() for _ in range(50))
    assert scan_bytes(noise + b"\n" + hexes) == []


def test_a_session_token_is_paired_with_its_temporary_key() -> None:
    kid = key_for("210987654321", RNG, "ASIA")
    token = "IQoJb3JpZ2luX2VjE" + "".join(
        RNG.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(600)
    )
    text = (
        f"export AWS_ACCESS_KEY_ID={kid}\nexport AWS_SECRET_ACCESS_KEY={SECRET}\n"
        f"export AWS_SESSION_TOKEN={token}\n"
    ).encode()
    [m] = scan_bytes(text)
    assert (m.key_id, m.secret_fingerprint, m.token_fingerprint) == (
        kid,
        fingerprint(SECRET),
        fingerprint(token),
    )


def test_canary_accounts_are_recognised_offline() -> None:
    kid = key_for("052310077262", RNG)
    assert canary("052310077262") == "canary token generated at canarytokens.org (Thinkst)"
    assert canary("123456789012") is None
    from keysentry.content import Blob, Provenance
    from keysentry.detect import scan_blobs

    report = scan_blobs(
        [
            Blob(
                f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={SECRET}\n".encode(),
                Provenance("file", path="x"),
            )
        ]
    )
    assert report.findings[0].canary is not None


def test_placeholders_and_example_ids_are_suppressed() -> None:
    text = (
        b"aws_access_key_id = AKIAXXXXXXXXXXXXXXXX\naws_secret_access_key = " + SECRET.encode() + b"\n"
        b"aws_access_key_id = AKIAEXAMPLEPBUMBC3GA\n"
    )
    assert all(m.suppressed for m in scan_bytes(text))


def test_a_huge_single_line_blob_is_scanned_without_trouble() -> None:
    filler = b"x" * (8 * 1024 * 1024)
    data = filler + b" " + CREDS.replace(b"\n", b" ") + b" " + filler
    assert live(data) == [(*PAIR, None)]
