"""The demo's receivers for every notification channel, and what it shows of what they received."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape

from keysentry.authority.clients import AwsClients
from keysentry.config.notify import EmailSettings, NotifySettings, WebhookTarget
from keysentry.emulator.receivers import HttpReceiver, SmtpServer
from keysentry.notify.webhook import SIGNATURE_HEADER, verify_signature
from keysentry.store.db import Store
from keysentry.store.queries import messages_on


@dataclass
class Receivers:
    http: HttpReceiver
    smtp: SmtpServer
    topic_arn: str

    def notify_settings(self) -> NotifySettings:
        """Every channel on: EventBridge, SNS, email, three webhooks and the case."""
        return NotifySettings(
            sns_topics=[self.topic_arn],
            email=EmailSettings(
                enabled=True,
                smtp_port=self.smtp.port,
                sender="keysentry@example.org",
                fallback_to="secops@example.org",  # for credentials that belong to no AWS account
            ),
            webhooks=[
                WebhookTarget(
                    name="soc",
                    url=f"{self.http.url}/signed/soc",
                    format="json",
                    secret=SecretStr(self.http.secret.decode()),
                ),
                WebhookTarget(name="slack", url=f"{self.http.url}/slack", format="slack"),
                WebhookTarget(
                    name="pagerduty",
                    url=f"{self.http.url}/pagerduty",
                    format="pagerduty",
                    routing_key=SecretStr("demo"),
                ),
            ],
        )


@contextlib.contextmanager
def receivers(clients: AwsClients, topic_arn: str) -> Iterator[Receivers]:
    """A local SMTP server and HTTP receiver, the latter subscribed to the SNS topic; stopped after."""
    http, smtp = HttpReceiver().start(), SmtpServer().start()
    try:
        clients.client("sns").subscribe(TopicArn=topic_arn, Protocol="http", Endpoint=f"{http.url}/sns")
        yield Receivers(http, smtp, topic_arn)
    finally:
        http.stop()
        smtp.stop()


def show_messages(console: Console, got: Receivers, store: Store, key_id: str, secret: str) -> bool:
    """Print what each channel's receiver got; True when each got one message about ``key_id``."""
    deadline = time.monotonic() + 5  # SNS delivers to HTTP subscribers on its own schedule
    while not got.http.at("/sns") and time.monotonic() < deadline:
        time.sleep(0.1)
    rows: list[tuple[str, int, str]] = []
    for to, mail in got.smtp.messages:
        rows.append(("email (SMTP)", len(got.smtp.messages), f"to {', '.join(to)}: {mail['Subject']}"))
    for path, label in (
        ("/signed/soc", "webhook (signed JSON)"),
        ("/slack", "Slack"),
        ("/pagerduty", "PagerDuty"),
    ):
        received = got.http.at(path)
        for r in received:
            rows.append((label, len(received), _describe(path, r.json(), r.headers, r.body, got.http.secret)))
    for r in got.http.at("/sns"):
        note = r.json()
        rows.append(
            ("SNS (HTTP subscriber)", len(got.http.at("/sns")), f"{note['Type']}: {note.get('Subject')}")
        )
    with store.session() as session:
        cases = messages_on(session, "case")
        for m in cases:
            rows.append(("case", len(cases), str(m.payload["title"])))
    for label, count, what in rows:
        console.print(f"              {label:<22} x{count}  {escape(what)}", emoji=False)
    everything = [m.as_string() for _, m in got.smtp.messages] + [r.body.decode() for r in got.http.received]
    labels = {label for label, _, _ in rows}
    return (
        len(labels) == 6
        and all(count == 1 for _, count, _ in rows)
        and all(key_id in text for text in everything)
        and not any(secret in text for text in everything)
    )


def _describe(path: str, body: dict[str, Any], headers: dict[str, str], raw: bytes, secret: bytes) -> str:
    if path == "/signed/soc":
        valid = verify_signature(secret, headers.get(SIGNATURE_HEADER), raw)
        return f"signature {'valid' if valid else 'INVALID'}, notificationId {body['notificationId']}"
    if path == "/pagerduty":
        return f"trigger, dedup_key {body['dedup_key']}, severity {body['payload']['severity']}"
    return str(body["text"]).splitlines()[0]
