"""Limits at the door ([service]): a token over its report rate gets 429 with Retry-After and nothing of
its body is read or recorded, other tokens go on; a body that trickles in slower than body_timeout
gets 408 while everyone else is answered; GitHub's partner endpoint is not rate limited."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from helpers import key_for, secret_for, served, signed
from keysentry.config.service import ServiceSettings
from keysentry.config.settings import Settings
from keysentry.service.app import PARTNER_PATH, create_app
from keysentry.service.limits import TokenBuckets
from keysentry.store import open_store
from keysentry.store.tokens import create_token

# (nothing here depends on the database)
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_a_bucket_lets_a_burst_through_then_the_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=6, burst=2, clock=lambda: now[0])  # one every 10 s
    assert [buckets.wait("a"), buckets.wait("a")] == [0.0, 0.0]
    assert buckets.wait("a") == pytest.approx(10.0)
    assert buckets.wait("b") == 0.0  # each token its own
    now[0] = 5.0
    assert buckets.wait("a") == pytest.approx(5.0)
    now[0] = 10.0
    assert buckets.wait("a") == 0.0
    assert TokenBuckets(rate=0, burst=1).wait("a") == 0.0  # 0: no limit


@pytest.fixture
def limited(partner_settings: Settings) -> Iterator[tuple[str, dict[str, str]]]:
    settings = partner_settings.model_copy(
        update={
            "service": ServiceSettings(
                report_rate=6, report_burst=2, body_timeout="1s", max_report_bytes=1024, max_bodies_bytes=1500
            )
        }
    )
    store = open_store(settings.resolved_database_url())
    tokens = {name: create_token(store, name, "responder") for name in ("busy", "calm")}
    store.dispose()
    with served(create_app(settings, background=False)) as base:
        yield base, tokens


@SQLITE_ONLY
def test_a_token_over_its_rate_gets_429_with_retry_after_and_nothing_is_recorded(
    limited, signing_key
) -> None:  # type: ignore[no-untyped-def]
    base, tokens = limited
    rng = random.Random(429)

    def report(token: str) -> httpx.Response:
        body = {"key_id": key_for("123456789012", rng), "secret": secret_for(rng), "path": "x.env"}
        return httpx.post(base + "/v1/reports", json=body, headers={"Authorization": f"Bearer {token}"})

    assert [report(tokens["busy"]).status_code for _ in range(2)] == [202, 202]  # the burst
    over = report(tokens["busy"])
    assert over.status_code == 429 and 1 <= int(over.headers["Retry-After"]) <= 10
    assert "more than 6 reports a minute" in over.json()["error"]
    assert report(tokens["calm"]).status_code == 202  # another token is not held back
    listed = httpx.get(base + "/v1/exposures", headers={"Authorization": f"Bearer {tokens['calm']}"})
    assert len(listed.json()["items"]) == 3  # the refused report recorded nothing
    # GitHub's endpoint has no rate: it sends what it finds.
    for _ in range(4):
        body = json.dumps([{"token": "nothing", "type": "aws_credentials"}]).encode()
        assert (
            httpx.post(base + PARTNER_PATH, content=body, headers=signed(signing_key, body)).status_code
            == 200
        )


@SQLITE_ONLY
def test_a_body_slower_than_body_timeout_gets_408_while_others_are_answered(limited) -> None:  # type: ignore[no-untyped-def]
    base, tokens = limited
    host, port = base.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)))
    slow.sendall(
        b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {tokens['busy']}\r\nContent-Length: 100\r\n\r\n".encode()
        + b'{"te'
    )
    started = time.monotonic()
    answers = []
    while time.monotonic() - started < 0.8:  # others meanwhile
        answers.append(httpx.get(base + "/healthz", timeout=2).status_code)
    slow.settimeout(10)
    with contextlib.suppress(OSError):
        slow.sendall(b"x")  # a byte more, too late to matter
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = slow.recv(4096)
        if not chunk:
            break
        reply += chunk
    slow.close()
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert set(answers) == {200} and len(answers) >= 5


def test_keysentry_serve_disconnects_a_client_whose_headers_trickle_in(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """uvicorn alone waits for headers for ever; `keysentry serve` closes the connection after
    [service] header_timeout, and answers a client that sends its headers in time."""
    import os
    import subprocess

    from helpers import KEYSENTRY, answers, wait_for
    from keysentry.emulator.receivers import free_port

    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KEYSENTRY_")},
        "KEYSENTRY_DATA_DIR": str(tmp_path),
        "KEYSENTRY_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
        "KEYSENTRY_AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "KEYSENTRY_SERVICE": json.dumps({"header_timeout": "1s"}),
    }
    service = subprocess.Popen(
        [KEYSENTRY, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: answers(base)), "the service did not start"
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # and no more
        slow.settimeout(5)
        started = time.monotonic()
        assert slow.recv(1024) == b""  # closed by the service, without an answer
        assert 0.5 < time.monotonic() - started < 4
        slow.close()
        # A client on time, and one that keeps its connection between requests, are answered.
        with httpx.Client(base_url=base) as client:
            assert client.get("/healthz").status_code == 200
            time.sleep(0.3)
            assert client.get("/healthz").status_code == 200
    finally:
        service.terminate()
        service.wait(30)


@SQLITE_ONLY
def test_bodies_too_large_or_too_many_at_once_are_refused_before_they_are_read(limited) -> None:  # type: ignore[no-untyped-def]
    """max_report_bytes (1,024 here) for any body, by its Content-Length before a byte is read or as
    chunks arrive; max_bodies_bytes (1,500 here) for all of them at once: 503 with Retry-After."""
    base, tokens = limited
    host, port = base.removeprefix("http://").split(":")
    bearer = {"Authorization": f"Bearer {tokens['busy']}", "Content-Type": "application/json"}

    huge = socket.create_connection((host, int(port)))
    huge.sendall(b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
    huge.settimeout(5)
    assert huge.recv(4096).startswith(b"HTTP/1.1 413")  # answered with nothing of the body sent
    huge.close()

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b" " * 100

    chunked = httpx.post(base + "/v1/reports", content=chunks(), headers=bearer)
    assert chunked.status_code == 413 and "1024 bytes at most" in chunked.json()["error"]

    # One body of 1,000 bytes trickling in holds 1,000 of the 1,500: another of 1,000 must wait.
    held = socket.create_connection((host, int(port)))
    held.sendall(
        b"POST /v1/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {tokens['busy']}\r\nContent-Length: 1000\r\n\r\n".encode()
        + b'{"te'
    )
    time.sleep(0.2)
    body = json.dumps({"text": "x" * 970}).encode()
    assert len(body) <= 1000
    busy = httpx.post(
        base + "/v1/reports", content=body, headers={**bearer, "Authorization": f"Bearer {tokens['calm']}"}
    )
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1", busy.text
    held.settimeout(5)
    assert held.recv(4096).startswith(b"HTTP/1.1 408")  # the trickle ends at body_timeout...
    held.close()
    again = httpx.post(
        base + "/v1/reports", content=body, headers={**bearer, "Authorization": f"Bearer {tokens['calm']}"}
    )
    assert again.status_code == 202, again.text  # ...and its bytes are free again
