"""Local stand-ins for the places notifications go (the demo and the tests start them): an HTTP
receiver for webhooks and SNS HTTP subscriptions that checks keysentry's webhook signature, and an SMTP
server (aiosmtpd) that keeps what it is sent."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from keysentry.notify.webhook import SIGNATURE_HEADER, verify_signature


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """POSTs to ``/signed/...`` must carry a valid, fresh signature made with ``secret`` (else 401);
    ``/status/<code>`` answers that code; anything else answers 200.  Only accepted requests are kept."""

    secret: bytes = b"webhook-test-secret"
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    refused: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                got = Received(self.path, dict(self.headers.items()), body)
                status = 200
                if self.path.startswith("/signed") and not verify_signature(
                    receiver.secret, self.headers.get(SIGNATURE_HEADER), body
                ):
                    status = 401
                elif self.path.startswith("/status/"):
                    status = int(self.path.rsplit("/", 1)[1])
                with receiver._lock:
                    (receiver.received if status < 300 else receiver.refused).append(got)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status": "success"}')

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def at(self, prefix: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path.startswith(prefix)]


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (list(envelope.rcpt_tos), email.message_from_bytes(envelope.content, policy=email.policy.default))
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    """An SMTP server on 127.0.0.1 that keeps every message (recipients, parsed message)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._mailbox = _Mailbox()
        self._controller = Controller(self._mailbox, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[tuple[list[str], Message]]:
        return self._mailbox.messages

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
