"""The demo's last act: keysentry as a service.  GitHub's secret scanning reports a second leaked key to
the partner endpoint (signed with a key pair that stands in for GitHub's, whose public half is the
service's key file); the service answers with the protocol's feedback, contains the key in the
background, and the dashboard's page of that exposure shows what happened."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import httpx
import uvicorn
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console
from rich.markup import escape

from keysentry.config.settings import Settings
from keysentry.emulator.seed import SeededUser
from keysentry.intake.github_partner import KEY_ID_HEADER, SIGNATURE_HEADER
from keysentry.respond.responder import Responder
from keysentry.service.app import PARTNER_PATH, create_app
from keysentry.service.routes.dashboard import COOKIE
from keysentry.store.tokens import create_token

KEY_ID = "demo-github-secret-scanning-key"


class _Text(HTMLParser):
    """The words a browser shows, a line per block."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = [""]
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style", "head"):
            self._hidden += 1
        elif tag in ("p", "div", "tr", "li", "h1", "h2", "h3", "section", "br", "dt", "table"):
            self.lines.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.lines[-1] = f"{self.lines[-1]} {' '.join(data.split())}".strip()


def page_text(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return [line for line in parser.lines if line]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _delivered(base: str, bearer: dict[str, str], exposure: dict[str, object]) -> bool:
    """Whether every message about the exposure has been sent (so the page shows their receipts)."""
    detail = httpx.get(f"{base}/v1/exposures/{exposure['id']}", headers=bearer).json()
    return all(d["state"] == "sent" for d in detail.get("deliveries") or [])


def show_service(console: Console, settings: Settings, responder: Responder, leaked: SeededUser) -> bool:
    """Run the service, report ``leaked`` as GitHub would, and show the exposure's dashboard page."""
    github_key = ec.generate_private_key(ec.SECP256R1())
    public = github_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    keys_file = Path(settings.data_dir) / "github-secret-scanning-keys.json"
    meta = {"public_keys": [{"key_identifier": KEY_ID, "key": public.decode(), "is_current": True}]}
    keys_file.write_text(json.dumps(meta))
    port = _free_port()
    settings = settings.model_copy(
        update={"github_partner_keys_file": keys_file, "dashboard_url": f"http://127.0.0.1:{port}"}
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, responder), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="demo-service", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        while not server.started:
            time.sleep(0.02)
        token = create_token(responder.store, "demo-viewer", "viewer")
        body = json.dumps(
            [
                {
                    "token": f"AWS_ACCESS_KEY_ID={leaked.access_key_id}\n"
                    f"AWS_SECRET_ACCESS_KEY={leaked.secret_access_key}",
                    "type": "aws_credentials",
                    "url": "https://github.com/acme/data-jobs/blob/" + "5e" * 20 + "/jobs/.env",
                    "source": "content",
                }
            ]
        ).encode()
        signature = base64.b64encode(github_key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()
        headers = {"Content-Type": "application/json", KEY_ID_HEADER: KEY_ID, SIGNATURE_HEADER: signature}
        posted = time.monotonic()
        answer = httpx.post(base + PARTNER_PATH, content=body, headers=headers, timeout=30)
        console.print(
            f"              POST {PARTNER_PATH} (signed as GitHub) → {answer.status_code} "
            f"{escape(json.dumps(answer.json()))}"
        )
        bearer = {"Authorization": f"Bearer {token}"}
        exposure: dict[str, object] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            listed = httpx.get(f"{base}/v1/exposures", params={"limit": 50}, headers=bearer).json()
            exposure = next((e for e in listed["items"] if e["key_id"] == leaked.access_key_id), {})
            if exposure.get("state") == "notified" and _delivered(base, bearer, exposure):
                break
            time.sleep(0.05)
        console.print(
            f"              exposure #{exposure.get('id')} {exposure.get('state')}: detected "
            f"{exposure.get('detected_at')}, contained {exposure.get('contained_at')}, notified "
            f"{exposure.get('notified_at')} (wall clock from the POST: {time.monotonic() - posted:.2f} s)"
        )
        page = httpx.get(f"{base}/exposures/{exposure.get('id')}", cookies={COOKIE: token}, timeout=30)
        console.print(f"              GET /exposures/{exposure.get('id')} (the dashboard, logged in) →")
        for line in page_text(page.text)[:40]:
            console.print(f"                │ {escape(line)}")
        return (
            answer.status_code == 200
            and exposure.get("state") == "notified"
            and leaked.access_key_id in page.text
            and leaked.secret_access_key not in page.text + answer.text
        )
    finally:
        server.should_exit = True
        thread.join(30)
