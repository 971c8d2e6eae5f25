"""GitHub's secret scanning partner endpoint: real signatures (GitHub's own documented sample, and
requests signed here with a test P-256 key pair), refusals without side effects, durable intake with
the protocol's feedback, and a partner report carried through to containment by the running service."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from conftest import member_credentials
from helpers import KEYSENTRY, exposure_of, meta_document, partner_body, signed, wait_for
from keysentry.authority.clients import AwsClients
from keysentry.config.settings import Settings
from keysentry.emulator.receivers import free_port
from keysentry.emulator.server import Emulator
from keysentry.intake.github_partner import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    load_public_keys,
    signature_is_valid,
    token_hash,
)
from keysentry.service.app import PARTNER_PATH, create_app
from keysentry.store.models import Exposure, Report

# GitHub's documented sample and key, vendored (public data; the original is in ../shared/data).
GITHUB_SAMPLE = Path(__file__).parent / "data/github_secret_scanning_partner.json"
V3 = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"


@pytest.fixture
def client(partner_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(partner_settings, background=False)) as c:
        yield c


def rows(settings: Settings) -> tuple[int, int]:
    from keysentry.store import open_store

    store = open_store(settings.resolved_database_url())
    with store.session() as s:
        counts = (s.query(Report).count(), s.query(Exposure).count())
    store.dispose()
    return counts


def test_githubs_own_documented_signature_verifies() -> None:
    doc = json.loads(GITHUB_SAMPLE.read_text())
    sample, key = doc["sample_http_post"], doc["documented_sample_public_key"]
    keys = load_public_keys({"public_keys": [key]})
    body = sample["raw_body"].encode()
    headers = sample["headers"]
    assert signature_is_valid(keys, headers[KEY_ID_HEADER], headers[SIGNATURE_HEADER], body)
    assert not signature_is_valid(keys, headers[KEY_ID_HEADER], headers[SIGNATURE_HEADER], body + b" ")
    assert not signature_is_valid(keys, "another-key", headers[SIGNATURE_HEADER], body)


def test_unsigned_forged_or_malformed_requests_are_refused_with_no_side_effect(
    client: TestClient, partner_settings: Settings, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    body = json.dumps(
        [{"token": "AKIA" + "Q" * 16, "type": "aws", "url": None, "source": "content"}]
    ).encode()
    assert client.post(PARTNER_PATH, content=body).status_code == 401
    forger = ec.generate_private_key(ec.SECP256R1())
    assert client.post(PARTNER_PATH, content=body, headers=signed(forger, body)).status_code == 401
    tampered = body.replace(b"content", b"commit!")
    assert client.post(PARTNER_PATH, content=tampered, headers=signed(signing_key, body)).status_code == 401
    for bad in (
        b"not json",
        b"[]",
        b'{"token": "x"}',
        b'[{"type": "t"}]',
        json.dumps([{"token": "x" * 5000, "type": "t"}]).encode(),
    ):
        answer = client.post(PARTNER_PATH, content=bad, headers=signed(signing_key, bad))
        assert answer.status_code == 400, bad
        assert answer.json()["error"]
    assert rows(partner_settings) == (0, 0)


def test_a_report_is_durable_before_it_is_answered_and_the_feedback_labels_each_token(
    client: TestClient, partner_settings: Settings, signing_key: ec.EllipticCurvePrivateKey, new_user
) -> None:
    user = new_user("workloads-prod")
    url = "https://github.com/octocat/Hello-World/blob/12345600b9cbe38a219f39a9941c9319b600c002/deploy/.env"
    batch = [  # the ID and its secret as two tokens at one URL, and a token that is not a credential
        {"token": user.access_key_id, "type": "aws_access_key_id", "url": url, "source": "Content"},
        {"token": user.secret_access_key, "type": "aws_secret_access_key", "url": url, "source": "Content"},
        {"token": "NMIfyYncKcRALEXAMPLE", "type": "mycompany_api_token", "url": url, "source": "Content"},
    ]
    body = json.dumps(batch).encode()
    answer = client.post(PARTNER_PATH, content=body, headers=signed(signing_key, body))
    assert answer.status_code == 200
    feedback = {f["token_hash"]: f["label"] for f in answer.json()}
    assert feedback == {
        token_hash(user.access_key_id): "true_positive",
        token_hash(user.secret_access_key): "true_positive",
        token_hash("NMIfyYncKcRALEXAMPLE"): "false_positive",
    }
    assert rows(partner_settings) == (3, 1)  # committed before the answer
    e = exposure_of(client.app.state.responder, user.access_key_id)
    assert e.state == "new" and e.sightings[0].commit == "12345600b9cbe38a219f39a9941c9319b600c002"
    assert e.sightings[0].path == "deploy/.env" and e.sightings[0].repository.endswith("octocat/Hello-World")
    database = Path(partner_settings.resolved_database_url().removeprefix("sqlite:///"))
    if database.exists():
        assert user.secret_access_key.encode() not in database.read_bytes()


def test_the_running_service_takes_a_partner_report_to_containment_and_notification(
    partner_settings: Settings, signing_key: ec.EllipticCurvePrivateKey, new_user, admin_clients: AwsClients
) -> None:
    user = new_user("workloads-dev")
    body = partner_body(user)
    with TestClient(create_app(partner_settings, background=True)) as client:
        accepted = time.monotonic()
        answer = client.post(PARTNER_PATH, content=body, headers=signed(signing_key, body))
        assert answer.status_code == 200 and answer.json()[0]["label"] == "true_positive"
        responder = client.app.state.responder
        assert wait_for(lambda: exposure_of(responder, user.access_key_id).state == "notified")
        took = time.monotonic() - accepted
    e = exposure_of(responder, user.access_key_id)
    assert e.containment["policy_arn"] == V3 and e.sightings[0].path == "config/prod.env"
    iam = admin_clients.client("iam", credentials=member_credentials(admin_clients, user.account_id))
    attached = [
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user.user_name)["AttachedPolicies"]
    ]
    assert attached.count(V3) == 1
    assert took < 30  # woken by intake, not by a polling interval measured in minutes


def test_keysentry_serve_answers_and_stops_cleanly_on_sigterm(
    partner_settings: Settings,
    signing_key: ec.EllipticCurvePrivateKey,
    new_user,
    emulator: Emulator,
    tmp_path: Path,
) -> None:
    user = new_user("workloads-dev")
    port = free_port()
    env = dict(
        os.environ,
        KEYSENTRY_DATABASE_URL=partner_settings.resolved_database_url(),
        KEYSENTRY_AWS_ENDPOINT_URL=emulator.endpoint,
        KEYSENTRY_AWS_SERVICE_ENDPOINTS=json.dumps(emulator.service_endpoints),
        KEYSENTRY_EVENT_BUS_NAME=partner_settings.event_bus_name,
        KEYSENTRY_GITHUB_PARTNER_KEYS_FILE=str(partner_settings.github_partner_keys_file),
        KEYSENTRY_LOG_FILE=str(tmp_path / "serve.log"),
    )
    server = subprocess.Popen(
        [KEYSENTRY, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _healthy(base)), "the service did not come up"
        body = partner_body(user)
        answer = httpx.post(base + PARTNER_PATH, content=body, headers=signed(signing_key, body))
        assert answer.status_code == 200
        assert httpx.get(base + "/openapi.json").json()["paths"][PARTNER_PATH]
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=60)[0].decode()
    assert server.returncode == 0, output
    assert rows(partner_settings)[0] == 1  # the accepted report outlived the service
    assert user.secret_access_key not in output + (tmp_path / "serve.log").read_text()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=1).json()["status"] == "ok"
    except httpx.HTTPError:
        return False


def test_without_a_key_file_the_keys_are_fetched_from_githubs_meta_endpoint(
    settings: Settings, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    meta = json.dumps(meta_document(signing_key)).encode()

    class Meta(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(meta)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Meta)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/meta/public_keys/secret_scanning"
    fetched = settings.model_copy(update={"github_partner_keys_url": url})
    body = json.dumps(
        [{"token": "NMIfyYncKcRALEXAMPLE", "type": "t", "url": None, "source": "Content"}]
    ).encode()
    try:
        with TestClient(create_app(fetched, background=False)) as client:
            answer = client.post(PARTNER_PATH, content=body, headers=signed(signing_key, body))
    finally:
        server.shutdown()
    assert answer.status_code == 200 and answer.json()[0]["label"] == "false_positive"
