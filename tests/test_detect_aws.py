"""The first AWS detector: pairing, account decoding, examples, and the shared benchmark corpus."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from helpers import key_for, secret_for
from keysentry.content import Blob, Provenance
from keysentry.detect import scan_blobs, scan_bytes
from keysentry.detect.aws_keys import decode_account, fingerprint

SHARED = Path(__file__).resolve().parents[2] / "shared"
MAKE_CORPUS = SHARED / "bench" / "make_corpus.py"


@pytest.mark.parametrize("account", ["000000000001", "123456789012", "999999999999", "444455556666"])
def test_account_is_decoded_offline_from_current_key_ids(account: str) -> None:
    rng = random.Random(account)
    for prefix in ("AKIA", "ASIA", "ABIA", "ACCA"):
        assert decode_account(key_for(account, rng, prefix)) == account


def test_old_key_ids_do_not_claim_an_account() -> None:
    assert decode_account("AKIAIOSFODNN7EXAMPLE") is None  # 5th character I: pre-2019 format
    assert decode_account("AKIAJ2345678ABCDEFGH") is None


def test_a_made_up_id_whose_bits_exceed_twelve_digits_claims_no_account(database_url: str) -> None:
    """A random AKIA… ID can decode to a 13-digit number: no account has it, and a store on PostgreSQL
    (12-character column) must still record the finding (it raised a DataError, and the scan failed)."""
    from keysentry.store import open_store
    from keysentry.store.exposures import record_finding

    kid = "AKIA7IXJYUCXLOB5F4NC"  # decodes to 1049536012462
    assert decode_account(kid) is None
    secret = secret_for(random.Random(4))
    [finding] = scan_blobs(
        [Blob(f"id={kid}\nsecret={secret}\n".encode(), Provenance("file", path="a.env"))]
    ).findings
    assert finding.key_id == kid and finding.account_id is None
    store = open_store(database_url)
    with store.transaction() as db:
        assert record_finding(db, finding).exposure_id
    store.dispose()


def test_two_profiles_in_one_file_pair_each_id_with_its_own_secret() -> None:
    rng = random.Random(1)
    (a, sa), (b, sb) = [(key_for("111122223333", rng), secret_for(rng)) for _ in range(2)]
    text = (
        f"[default]\naws_access_key_id = {a}\naws_secret_access_key = {sa}\n\n"
        f"[prod]\naws_access_key_id = {b}\naws_secret_access_key = {sb}\n"
    )
    pairs = {m.key_id: m.secret_fingerprint for m in scan_bytes(text.encode())}
    assert pairs == {a: fingerprint(sa), b: fingerprint(sb)}


def test_secret_before_the_id_and_across_lines_is_paired() -> None:
    rng = random.Random(2)
    kid, sec = key_for("210987654321", rng), secret_for(rng)
    text = f'secret_key: "{sec}"\nregion: eu-west-1\naccess_key: "{kid}"\n'
    [m] = scan_bytes(text.encode())
    assert (m.key_id, m.secret_fingerprint, m.line) == (kid, fingerprint(sec), 3)


def test_a_hex_digest_next_to_an_id_is_not_taken_for_its_secret() -> None:
    rng = random.Random(3)
    kid = key_for("210987654321", rng)
    [m] = scan_bytes(f"id={kid}\nsha1=da39a3ee5e6b4b0d3255bfef95601890afd80709\n".encode())
    assert m.secret_fingerprint == ""


def test_one_finding_per_credential_with_every_location() -> None:
    rng = random.Random(4)
    kid, sec = key_for("123456789012", rng), secret_for(rng)
    text = f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={sec}\n".encode()
    blobs = [Blob(text, Provenance("file", path=p)) for p in ("a.env", "b/c.env", "a.env")]
    report = scan_blobs(blobs)
    [finding] = report.findings
    assert finding.account_id == "123456789012"
    assert [loc.provenance.path for loc in finding.locations] == ["a.env", "b/c.env"]
    assert finding.fingerprint == scan_blobs(blobs[:1]).findings[0].fingerprint


def test_documentation_examples_are_suppressed_not_reported() -> None:
    text = (
        b"aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        b"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        b"AWS_ACCESS_KEY_ID=AKIAI44QH8DHBEXAMPLE\nAWS_SECRET_ACCESS_KEY=je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\n"
    )
    report = scan_blobs([Blob(text, Provenance("file", path="README.md"))])
    assert report.findings == []
    # The other ID has an 8 (not an ID), so its example secret stands alone: an example too.
    assert [(f.key_id, f.kind) for f in report.suppressed] == [
        ("AKIAIOSFODNN7EXAMPLE", "pair"),
        ("…e21b597b", "secret"),  # no character of a secret is shown
    ]


@pytest.mark.skipif(not MAKE_CORPUS.exists(), reason="shared/bench/make_corpus.py is not next to the project")
def test_every_planted_pair_is_found_and_no_decoy_is_reported(tmp_path: Path) -> None:
    """Recall on the shared corpus generator: all ten templates, all decoy kinds."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    out = tmp_path / "corpus"
    sources = [arg for name in ("email", "json", "http", "logging") for arg in ("--src", str(stdlib / name))]
    subprocess.run(
        [
            sys.executable,
            str(MAKE_CORPUS),
            "--out",
            str(out),
            *sources,
            "--mb",
            "2",
            "--keys",
            "120",
            "--decoys",
            "80",
            "--seed",
            "11",
        ],
        check=True,
        capture_output=True,
    )
    truth = [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]
    from keysentry.scan.pipeline import scan_targets

    report = scan_targets([str(out / "tree")])
    pairs = [f for f in report.credentials if f.kind == "pair"]
    found = {(f.key_id, f.secret_fingerprint) for f in pairs}
    planted = {(t["key_id"], fingerprint(t["secret"])) for t in truth}
    missed = [t for t in truth if (t["key_id"], fingerprint(t["secret"])) not in found]
    assert missed == [], (
        f"missed {len(missed)} of {len(truth)}: formats {sorted({t['format'] for t in missed})}"
    )
    assert found - planted == set(), "reported pairs that were never planted"
    accounts = {f.key_id: f.account_id for f in pairs}
    assert all(accounts[t["key_id"]] == t["account"] for t in truth)
    # Decoys: nothing live beyond the planted pairs, and the documentation examples are ignored.
    assert all(f.key_id.endswith("EXAMPLE") for f in report.suppressed if f.kind == "pair")
    assert [f.key_id for f in report.findings if f.kind != "pair"] == []


def test_a_pair_far_apart_on_one_long_line_of_json_is_paired() -> None:
    """A dumped environment on one line: the secret its own key names, about 1,000 bytes from the ID."""
    import json

    from keysentry.detect.aws_keys import fingerprint

    kid, secret = "AKIAQ3EGTQRWZ7HLIZXK", "Zx9Kq2LmN4pR7sT1vW3yB5dF8hJ0kM6nQ2rS4tU7"
    env = {
        "AWS_ACCESS_KEY_ID": kid,
        "PATH": "/usr/local/bin:" + "/opt/x" * 170,
        "AWS_SECRET_ACCESS_KEY": secret,
    }
    [match] = scan_bytes(json.dumps(env).encode())
    assert match.key_id == kid and match.secret_fingerprint == fingerprint(secret.encode())


def test_on_a_long_line_each_id_takes_the_secret_of_its_own_object() -> None:
    """Two objects on one line, each an ID, 1,500 bytes of padding, then its secret: the second ID sits
    right after the first object's secret, but that secret is named after the first ID, with no other ID
    between them."""
    import json

    from keysentry.detect.aws_keys import fingerprint

    pairs = [
        ("AKIAQ3EGTQRWZ7HLIZXK", "Zx9Kq2LmN4pR7sT1vW3yB5dF8hJ0kM6nQ2rS4tU7"),
        ("AKIAQ3EGTQRWZ7HLIZXM", "Yx9Kq2LmN4pR7sT1vW3yB5dF8hJ0kM6nQ2rS4tU8"),
    ]
    line = json.dumps(
        [{"AWS_ACCESS_KEY_ID": k, "pad": "x" * 1500, "AWS_SECRET_ACCESS_KEY": s} for k, s in pairs]
    )
    found = {m.key_id: m.secret_fingerprint for m in scan_bytes(line.encode())}
    assert found == {k: fingerprint(s.encode()) for k, s in pairs}


def test_a_secret_alone_is_its_own_finding_and_a_pair_is_one_finding_not_two() -> None:
    """A named secret without its ID is reported as a lone secret (high, kind "secret"); with the ID
    near, the pair is reported (critical) and the lone-secret rule does not report its secret again; an
    ID alone is "id", of medium severity."""
    alone = scan_bytes(b"AWS_SECRET_ACCESS_KEY=Zp3v8Rk2LmQ9sT4uW6xY1aB5cD7eF0gH2iJ4kL6m\n")
    assert [(m.rule_id, m.kind, m.severity) for m in alone] == [("aws-secret-access-key", "secret", "high")]
    pair = scan_bytes(
        b"aws_access_key_id = AKIAWQ7672VSXKNGZL34\n"
        b"aws_secret_access_key = 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\n"
    )
    assert [(m.rule_id, m.kind, m.severity) for m in pair] == [("aws-access-key", "pair", "critical")]
    id_only = scan_bytes(b"https://bucket.s3.amazonaws.com/x?X-Amz-Credential=AKIAWQ7672VSXKNGZL34%2F2026\n")
    assert [(m.kind, m.severity) for m in id_only] == [("id", "medium")]
