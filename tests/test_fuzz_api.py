"""No request breaks the service: Schemathesis, pointed at the running service's own
``/openapi.json``, generates requests for every operation (examples, the coverage phase, fuzzing and
the stateful phase along the description's links) and runs every check it has: no server error, every
status code and content type documented, answers that match their schemas, schema-violating requests
refused and schema-valid ones accepted.  The partner endpoint gets bodies signed with a key the test
made a trusted partner key (``tests/fuzz_hooks.py``).  A fixed seed here; ``make fuzz`` runs with a
random one.  Bodies the service reads itself, and the regressions the fuzzer found, are below."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from helpers import PARTNER_KEY_ID, served, signed
from keysentry.config.settings import Settings
from keysentry.service.app import PARTNER_PATH, create_app
from keysentry.store import open_store
from keysentry.store.tokens import create_token

SCHEMATHESIS = str(Path(sys.executable).with_name("st"))
SEED = os.environ.get("KEYSENTRY_FUZZ_SEED", "20261207")
EXAMPLES = os.environ.get("KEYSENTRY_FUZZ_EXAMPLES", "25")


@pytest.fixture
def running(partner_settings: Settings) -> Iterator[tuple[str, str]]:
    """The service (its API and intake; the background response off, so that a seed gives one run)
    and an admin token."""
    store = open_store(partner_settings.resolved_database_url())
    token = create_token(store, "fuzzer", "admin")
    store.dispose()
    with served(create_app(partner_settings, background=False)) as base:
        yield base, token


def test_schemathesis_finds_nothing_in_any_operation(running, signing_key, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base, token = running
    pem = tmp_path / "partner-key.pem"
    pem.write_bytes(
        signing_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "fuzz_hooks",
        "PYTHONPATH": str(Path(__file__).parent),
        "KEYSENTRY_FUZZ_SIGNING_KEY": str(pem),
        "KEYSENTRY_FUZZ_KEY_ID": PARTNER_KEY_ID,
    }
    run = subprocess.run(
        [
            SCHEMATHESIS, "run", f"{base}/openapi.json",
            "--checks", "all",
            "--seed", SEED,
            "--max-examples", EXAMPLES,
            "--workers", "1",
            "--header", f"Authorization: Bearer {token}",
            "--suppress-health-check", "too_slow",
        ],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]
    assert "Authentication failed" not in run.stdout  # the partner endpoint was reached, signed


def test_a_deeply_nested_body_is_refused_naming_the_limit_and_records_nothing(
    running, signing_key, partner_settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    base, token = running
    nested = b"[" * 5000 + b"]" * 5000  # 10 KB; the decoder alone would recurse 5,000 deep
    objects = b'{"a":' * 5000 + b"1" + b"}" * 5000
    bearer = {"Authorization": f"Bearer {token}"}
    for body in (nested, objects):
        answer = httpx.post(base + "/v1/reports", content=body, headers=bearer)
        assert answer.status_code == 400 and "nests deeper than 64 levels" in answer.json()["error"]
        partner = httpx.post(base + PARTNER_PATH, content=body, headers=signed(signing_key, body))
        assert partner.status_code == 400 and "nests deeper than 64 levels" in partner.json()["error"]
        action = httpx.post(base + "/v1/exposures/1/comment", content=body, headers=bearer)
        assert action.status_code in (400, 422), action.text
    assert httpx.get(base + "/v1/exposures", headers=bearer).json()["items"] == []
    assert httpx.get(base + "/healthz").status_code == 200


def test_an_exposure_number_past_what_the_store_holds_is_refused_not_a_database_error(running) -> None:  # type: ignore[no-untyped-def]
    base, token = running
    bearer = {"Authorization": f"Bearer {token}"}
    huge = "543087765401528041472"
    for path in (f"/v1/exposures/{huge}", f"/v1/exposures/{2**63}", f"/v1/exposures/{2**53}"):
        assert httpx.get(base + path, headers=bearer).status_code == 422
    assert httpx.get(base + f"/v1/exposures/{2**53 - 1}", headers=bearer).status_code == 404
    answer = httpx.post(base + f"/v1/exposures/{huge}/acknowledge", json={}, headers=bearer)
    assert answer.status_code == 422
    many = httpx.post(base + "/v1/exposures/bulk/acknowledge", json={"ids": [int(huge)]}, headers=bearer)
    assert many.status_code == 422 and "less than or equal to 9007199254740991" in many.text
    assert (
        httpx.post(base + "/v1/exposures/bulk/acknowledge", json={"ids": [False]}, headers=bearer).status_code
        == 422
    )
    for query in ("cursor=9x", "until=0.5", "since=1e5", "state=false"):
        assert httpx.get(f"{base}/v1/exposures?{query}", headers=bearer).status_code == 422, query
    token_cookie = {"keysentry_token": token}
    page = httpx.get(f"{base}/exposures/{huge}", cookies=token_cookie)
    assert page.status_code == 404 and "No exposure" in page.text
