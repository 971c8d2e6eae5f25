"""Helpers for tests that build git repositories and plant key pairs."""

from __future__ import annotations

import base64
import contextlib
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from keysentry.emulator.seed import SeededUser


def git(repo: Path, *args: str, author: str = "Dana Developer", when: str | None = None) -> str:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME=author,
        GIT_AUTHOR_EMAIL="dana@example.com",
        GIT_COMMITTER_NAME=author,
        GIT_COMMITTER_EMAIL="dana@example.com",
    )
    if when:
        env.update(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def commit_file(repo: Path, path: str, text: str, message: str = "change", **kw: str) -> str:
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q", "-b", "main")
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, **kw)
    return git(repo, "rev-parse", "HEAD")


def env_pair(user: SeededUser) -> str:
    return f"AWS_ACCESS_KEY_ID={user.access_key_id}\nAWS_SECRET_ACCESS_KEY={user.secret_access_key}\n"


# The console script installed next to the interpreter running the tests.
KEYSENTRY = str(Path(sys.executable).with_name("keysentry"))


def run_keysentry(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """The ``keysentry`` command as a user runs it: a clean environment (no KEYSENTRY_* variable of
    the test run's own), plus ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KEYSENTRY_")}
    return subprocess.run(
        [KEYSENTRY, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, "COLUMNS": "200", **(env or {})},
        check=False,
        timeout=timeout,
    )


SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"


def jsonl_records(stdout: str) -> tuple[list[dict], dict]:
    """``keysentry scan --format jsonl`` output: the findings reported (not the documentation examples
    it lists as ignored, after them, with ``suppressed``), and the summary record it ends with."""
    import json

    *records, summary = [json.loads(line) for line in stdout.splitlines()]
    assert summary["type"] == "summary" and all("type" not in f for f in records)
    findings = [f for f in records if not f.get("suppressed")]
    assert records[: len(findings)] == findings, "ignored examples come after the findings"
    assert len(records) - len(findings) == summary["examples_ignored"]
    return findings, summary


def key_for(account: str, rng: random.Random, prefix: str = "AKIA") -> str:
    """Build an ID the way current AWS IDs carry their account (DESIGN.md, credentials facts)."""
    z = (1 << 47) | (int(account) << 7) | rng.getrandbits(7)
    raw = z.to_bytes(6, "big") + rng.getrandbits(32).to_bytes(4, "big")
    return prefix + base64.b32encode(raw).decode()


def secret_for(rng: random.Random) -> str:
    while True:
        s = "".join(rng.choice(SECRET_ALPHABET) for _ in range(40))
        if any(c.isupper() for c in s) and any(c.islower() for c in s):
            return s


def planted_pair(seed: int, account: str = "123456789012") -> tuple[str, str]:
    """A key ID of ``account`` and a secret, the same for the same seed (not a key AWS knows)."""
    rng = random.Random(seed)
    return key_for(account, rng), secret_for(rng)


def respond(settings, *targets: Path):  # type: ignore[no-untyped-def]
    """Scan ``targets``, record what is found and respond to it; (responder, step results)."""
    from keysentry.app.wiring import build_responder
    from keysentry.scan.pipeline import scan_targets

    responder = build_responder(settings)
    results = responder.advance_all(responder.record_report(scan_targets([str(t) for t in targets])))
    return responder, results


def exposure_of(responder, key_id: str):  # type: ignore[no-untyped-def]
    """The stored exposure of ``key_id``, with its sightings and timeline loaded."""
    import sqlalchemy as sa

    from keysentry.store.models import Exposure

    with responder.store.session() as s:
        e = s.scalars(sa.select(Exposure).where(Exposure.key_id == key_id)).one()
        _ = e.sightings, e.timeline
        return e


def wait_for(condition, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


# --- GitHub's secret scanning partner protocol, signed with a test key ---------------------------
PARTNER_KEY_ID = "keysentry-test-key-1"


def meta_document(key):  # type: ignore[no-untyped-def]
    """GitHub's meta endpoint answer (``public_keys``) for ``key``'s public half."""
    from cryptography.hazmat.primitives import serialization

    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {"public_keys": [{"key_identifier": PARTNER_KEY_ID, "key": pem.decode(), "is_current": True}]}


def signed(key, body: bytes, identifier: str = PARTNER_KEY_ID) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The headers GitHub sends: ECDSA P-256 / SHA-256 over the raw body, base64 DER."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from keysentry.intake.github_partner import KEY_ID_HEADER, SIGNATURE_HEADER

    signature = base64.b64encode(key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()
    return {"Content-Type": "application/json", KEY_ID_HEADER: identifier, SIGNATURE_HEADER: signature}


def partner_body(
    user, url: str = "https://github.com/acme/payments/blob/" + "ab" * 20 + "/config/prod.env"
) -> bytes:  # type: ignore[no-untyped-def]
    """A partner batch with one token holding ``user``'s key pair, found in a commit."""
    import json

    text = f"AWS_ACCESS_KEY_ID={user.access_key_id}\nAWS_SECRET_ACCESS_KEY={user.secret_access_key}"
    return json.dumps([{"token": text, "type": "aws_credentials", "url": url, "source": "Commit"}]).encode()


# --- tokens of other issuers, valid as their detectors check them --------------------------------
def github_token(rng: random.Random, prefix: str = "ghp_") -> str:
    """A GitHub token with a body of 30 random base62 characters and its CRC32 checksum."""
    from keysentry.detect.validators import BASE62_ALPHABET, base62_crc32

    body = "".join(rng.choice(BASE62_ALPHABET) for _ in range(30))
    return prefix + body + base62_crc32(body)


def slack_bot_token(rng: random.Random) -> str:
    import string

    tail = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(24))
    workspace = "".join(rng.choice(string.digits[1:]) for _ in range(12))
    bot = "".join(rng.choice(string.digits[1:]) for _ in range(13))
    return f"xoxb-{workspace}-{bot}-{tail}"


def gitlab_token(rng: random.Random) -> str:
    import string

    return "glpat-" + "".join(rng.choice(string.ascii_letters + string.digits + "_-") for _ in range(20))


def answers(base: str) -> bool:
    """Whether a service at ``base`` answers its health check."""
    import httpx

    try:
        return httpx.get(base + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def served(app, log_level: str = "error"):  # type: ignore[no-untyped-def]
    """The application served by uvicorn on a port of its own, in a thread: its base URL."""
    import threading

    import uvicorn

    from keysentry.emulator.receivers import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: answers(base)), "the service did not start"
        yield base
    finally:
        server.should_exit = True
        thread.join(30)
