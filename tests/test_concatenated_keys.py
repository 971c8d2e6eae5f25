"""A private key pasted into code as concatenated string literals is read whole and reported once."""

from __future__ import annotations

import pytest

from keysentry.detect import load_rules, scan_bytes

PEM = next(r for r in load_rules() if r.id == "private-key-rsa").examples.true[0].text.strip()
LINES = PEM.splitlines()


@pytest.mark.parametrize(
    ("layout", "text"),
    [
        ("javascript +", "const key = " + " +\n  ".join(f'"{line}\\n"' for line in LINES) + ";\n"),
        ("python implicit", "KEY = (\n" + "".join(f'    "{line}\\n"\n' for line in LINES) + ")\n"),
        ("php .", "$key = " + " .\n".join(f"'{line}\\n'" for line in LINES) + ";\n"),
        (
            "java + at line start",
            'String k = "' + LINES[0] + '\\n"\n' + "".join(f'  + "{x}\\n"\n' for x in LINES[1:]),
        ),
    ],
)
def test_concatenated_literals_are_joined_and_the_key_checked(layout: str, text: str) -> None:
    [m] = [m for m in scan_bytes(text.encode()) if not m.suppressed]
    assert (m.rule_id, m.decoding, m.confidence, m.line) == (
        "private-key-rsa",
        "string-concatenation",
        "high",
        1 if layout != "python implicit" else 2,
    ), layout


def test_a_key_in_one_piece_is_not_read_twice() -> None:
    [m] = scan_bytes((PEM + "\n").encode())
    assert m.decoding is None


def test_a_concatenated_body_that_is_not_a_key_is_low_confidence_not_dropped() -> None:
    body = ["MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu"] * 3
    text = " +\n".join(
        f'"{x}\\n"' for x in ["-----BEGIN RSA PRIVATE KEY-----", *body, "-----END RSA PRIVATE KEY-----"]
    )
    [m] = scan_bytes(text.encode())
    assert (m.decoding, m.confidence) == ("string-concatenation", "low")


def _service_account_layouts() -> dict[str, str]:
    import json

    text = next(r for r in load_rules() if r.id == "gcp-service-account-key").examples.true[0].text
    document = json.loads(text)
    return {
        "pretty": text,
        "minified": json.dumps(document, separators=(",", ":")),
        "escaped in a string": json.dumps({"GOOGLE_CREDENTIALS": json.dumps(document)}),
        "one env line": "GOOGLE_APPLICATION_CREDENTIALS_JSON='" + json.dumps(document) + "'",
        "yaml block": "creds: |\n  " + text.strip().replace("\n", "\n  "),
    }


@pytest.mark.parametrize(("layout", "text"), list(_service_account_layouts().items()))
def test_a_service_account_key_is_found_in_every_layout(layout: str, text: str) -> None:
    found = [m for m in scan_bytes(text.encode()) if not m.suppressed]
    assert [(m.rule_id, m.confidence) for m in found] == [("gcp-service-account-key", "high")], layout
