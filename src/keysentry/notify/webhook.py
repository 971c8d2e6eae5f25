"""Webhooks: a generic JSON body signed with HMAC-SHA256, Slack's incoming-webhook format, and
PagerDuty Events v2 with a stable ``dedup_key``.

Signature (json format): ``X-Keysentry-Signature: t=<unix seconds>,v1=<hex>`` where
``v1 = HMAC-SHA256(secret, "<t>." + body)``.  A receiver recomputes it over the raw body, compares in
constant time, and refuses a ``t`` more than five minutes from its clock (the replay window):
:func:`verify_signature` does exactly that.  ``X-Keysentry-Delivery`` is the notification ID, the
same on every retry, for receivers that deduplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Any

import httpx

from keysentry.config.notify import WebhookTarget
from keysentry.escaping import map_strings, printable
from keysentry.notify.channel import Sent
from keysentry.notify.health_event import ExposureFacts, health_event_detail
from keysentry.notify.message import context, render, subject

SIGNATURE_HEADER = "X-Keysentry-Signature"
DELIVERY_HEADER = "X-Keysentry-Delivery"
REPLAY_WINDOW_SECONDS = 300
RETRYABLE_STATUS = frozenset({408, 425, 429})
PAGERDUTY_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: bytes,
    header: str | None,
    body: bytes,
    now: float | None = None,
    tolerance: int = REPLAY_WINDOW_SECONDS,
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is fresh (for receivers and tests)."""
    if not header:
        return False
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


class WebhookChannel:
    batch_size = 1  # one request per message

    def __init__(self, target: WebhookTarget, timeout: float = 10.0) -> None:
        self.target = target
        self.name = f"webhook:{target.name}"
        self._http = httpx.Client(timeout=timeout, follow_redirects=False)

    def render(self, facts: ExposureFacts, now: datetime) -> dict[str, Any]:
        ctx = context(facts, now)
        if self.target.format == "slack":
            body: dict[str, Any] = {"text": render("chat.slack.j2", ctx), "mrkdwn": True}
        elif self.target.format == "pagerduty":
            body = {
                "event_action": "trigger",
                "dedup_key": facts.notification_id,  # PagerDuty folds repeats into one incident
                "payload": {
                    "summary": printable(subject(facts))[:1024],
                    "source": "keysentry",
                    "severity": PAGERDUTY_SEVERITY.get(facts.severity, "error"),
                    "component": facts.account_id,
                    "group": facts.principal_arn or facts.account_id,
                    "class": "exposed-credential",
                    "custom_details": map_strings(
                        {
                            "key_id": facts.key_id,
                            "account": ctx["account"],
                            "principal": ctx["principal"],
                            "exposed_at": ctx["source"],
                            "first_seen": ctx["first_seen"],
                            "detected": ctx["detected"],
                            "contained": ctx["contained"],
                            "containment": ctx["containment"]["what"],
                            "remediation": facts.remediation,
                        },
                        printable,  # PagerDuty shows custom details as text
                    ),
                },
                "links": [{"href": facts.exposure_url, "text": "The exposure in keysentry"}],
            }
        else:
            body = {
                "type": "exposure",
                "notificationId": facts.notification_id,
                "summary": ctx["summary"],
                "exposure": {k: v for k, v in ctx.items() if k not in ("summary", "notification_id")},
                "healthEvent": health_event_detail(facts, now),
            }
        return {"notification_id": facts.notification_id, "body": body}

    def send(self, payloads: list[dict[str, Any]], now: datetime) -> list[Sent]:
        return [self._post(p) for p in payloads]

    def _post(self, payload: dict[str, Any]) -> Sent:
        body = payload["body"]
        if self.target.format == "pagerduty":
            key = self.target.routing_key.get_secret_value() if self.target.routing_key else ""
            body = {**body, "routing_key": key}
        raw = json.dumps(body, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: payload["notification_id"]}
        if self.target.format == "json" and self.target.secret is not None:
            headers[SIGNATURE_HEADER] = sign(
                self.target.secret.get_secret_value().encode(), raw, int(time.time())
            )
        try:
            answer = self._http.post(self.target.url, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            return Sent(False, error=f"POST {self.target.url} failed: {type(exc).__name__}: {exc}")
        if answer.is_success:
            receipt = answer.headers.get("X-Request-Id") or f"HTTP {answer.status_code}"
            if self.target.format == "pagerduty":
                receipt = _json(answer).get("dedup_key") or receipt
            return Sent(True, receipt=receipt)
        error = f"POST {self.target.url} answered {answer.status_code}: {answer.text[:200]}"
        permanent = 400 <= answer.status_code < 500 and answer.status_code not in RETRYABLE_STATUS
        return Sent(False, error=error, permanent=permanent)


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        data = answer.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
