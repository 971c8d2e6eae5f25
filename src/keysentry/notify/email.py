"""Email to the account's SECURITY alternate contact (Account API ``GetAlternateContact``), else to a
configured address; plain text and HTML, through an SMTP relay or SES.

``Message-ID`` is derived from the notification ID, the same on every retry, so that a mail system
that deduplicates on it drops a repeat; SMTP has no other idempotency (docs/architecture.md).
"""

from __future__ import annotations

import logging
import smtplib
import threading
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from keysentry.authority.ports import Mail
from keysentry.config.notify import EmailSettings
from keysentry.errors import AuthorityError
from keysentry.notify.channel import Sent
from keysentry.notify.health_event import ExposureFacts
from keysentry.notify.message import context, render, subject

log = logging.getLogger(__name__)


class EmailChannel:
    name = "email"
    batch_size = 20  # messages sent over one SMTP connection

    def __init__(self, mail: Mail, settings: EmailSettings) -> None:
        self.mail = mail
        self.settings = settings
        self._contacts: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def render(self, facts: ExposureFacts, now: datetime) -> dict[str, Any]:
        ctx = context(facts, now)
        return {
            "account_id": facts.account_id,
            "subject": subject(facts),
            "text": render("email.txt.j2", ctx),
            "html": render("email.html.j2", ctx),
            "message_id": f"<{facts.notification_id}@keysentry>",
            "key_id": facts.key_id,
            "exposure_id": facts.exposure_id,
        }

    # --- who receives it --------------------------------------------------------------------
    def security_contact(self, account_id: str) -> str | None:
        """The account's SECURITY alternate contact's address (asked once per account), or None."""
        with self._lock:
            if account_id in self._contacts:
                return self._contacts[account_id]
        address = None
        try:
            address = self.mail.security_contact(account_id)
        except AuthorityError as exc:  # the role may not be assumable either: fall back to the configured one
            log.info("no SECURITY contact readable for %s: %s", account_id, exc)
        with self._lock:
            self._contacts[account_id] = address
        return address

    def recipient(self, account_id: str) -> str | None:
        contact = (
            self.security_contact(account_id) if self.settings.use_security_contact and account_id else None
        )
        return contact or self.settings.fallback_to

    # --- sending ----------------------------------------------------------------------------
    def message(self, payload: dict[str, Any], to: str, now: datetime) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = to
        msg["Subject"] = payload["subject"]
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = payload["message_id"]
        msg["X-Keysentry-Key-Id"] = payload["key_id"]
        msg["X-Keysentry-Exposure"] = str(payload["exposure_id"])
        msg.set_content(payload["text"])
        msg.add_alternative(payload["html"], subtype="html")
        return msg

    def send(self, payloads: list[dict[str, Any]], now: datetime) -> list[Sent]:
        addressed: list[tuple[dict[str, Any], str | None]] = [
            (p, self.recipient(p["account_id"])) for p in payloads
        ]
        if self.settings.transport == "ses":
            return [self._ses(p, to, now) if to else _nobody(p) for p, to in addressed]
        try:
            smtp = self._smtp()
        except (OSError, smtplib.SMTPException) as exc:
            error = f"SMTP {self.settings.smtp_host}:{self.settings.smtp_port} unreachable: {exc}"
            return [Sent(False, error=error) for _ in payloads]
        results = []
        with smtp:
            for payload, to in addressed:
                if to is None:
                    results.append(_nobody(payload))
                    continue
                try:
                    refused = smtp.send_message(self.message(payload, to, now))
                except smtplib.SMTPRecipientsRefused as exc:
                    results.append(Sent(False, error=f"SMTP refused {to}: {exc.recipients}", permanent=True))
                except (OSError, smtplib.SMTPException) as exc:
                    results.append(Sent(False, error=f"SMTP failed for {to}: {exc}"))
                else:
                    results.append(
                        Sent(False, error=f"SMTP refused {refused}", permanent=True)
                        if refused
                        else Sent(True, receipt=f"{payload['message_id']} to {to}")
                    )
        return results

    def _smtp(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port, timeout=15)
        if self.settings.smtp_starttls:
            smtp.starttls()
        if self.settings.smtp_username and self.settings.smtp_password:
            smtp.login(self.settings.smtp_username, self.settings.smtp_password.get_secret_value())
        return smtp

    def _ses(self, payload: dict[str, Any], to: str, now: datetime) -> Sent:
        raw = self.message(payload, to, now).as_bytes()
        try:
            return Sent(True, receipt=self.mail.send_raw_email(self.settings.sender, raw, to))
        except AuthorityError as exc:
            return Sent(False, error=str(exc))


def _nobody(payload: dict[str, Any]) -> Sent:
    if not payload["account_id"]:  # a credential of another issuer: no AWS account to ask for a contact
        why = "the credential belongs to no AWS account: only fallback_to can receive it, and it is not set"
    else:
        why = f"account {payload['account_id']} has no SECURITY alternate contact and no fallback_to is set"
    return Sent(False, error=why, permanent=True)
