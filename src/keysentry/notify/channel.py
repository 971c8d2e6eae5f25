"""What every notification channel offers the dispatcher: render a message once, send a batch of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from keysentry.notify.health_event import ExposureFacts


@dataclass(frozen=True)
class Sent:
    """What the receiver answered for one message."""

    ok: bool
    receipt: str | None = None  # the receiver's ID for it (EventBridge event ID, SES message ID …)
    error: str | None = None
    permanent: bool = False  # retrying cannot help (a 404, a refused address): dead-letter it now


class Channel(Protocol):
    """A way to reach the owner.  ``render`` runs when the message is queued, in the transaction of the
    state change that caused it; ``send`` runs later, in the dispatcher, with up to ``batch_size``
    payloads, and answers one :class:`Sent` per payload, in order."""

    name: str
    batch_size: int

    def render(self, facts: ExposureFacts, now: datetime) -> dict[str, Any]: ...

    def send(self, payloads: list[dict[str, Any]], now: datetime) -> list[Sent]: ...
