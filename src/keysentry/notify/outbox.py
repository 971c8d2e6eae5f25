"""The outbox: notifications are rows, written with the state change that caused them, and a dispatcher
that sends them with retries.

* :func:`enqueue` runs inside the caller's transaction: the message exists exactly when the state
  change does.  Its ``dedup_key`` (exposure, round, kind, channel) makes it one message per exposure
  per event kind per channel, however many sightings or retries arrive.
* :class:`Dispatcher` claims due messages (a lease, so that a dispatcher that dies is replaced after
  ``delivery_lease``), sends each channel's batch, and records every attempt.  A failed message is
  retried after an exponential backoff with jitter and dead-lettered, with an alert, after
  ``delivery_max_attempts`` tries.  A message recorded as sent is never sent again; a crash between
  the send and its record sends it again, which each channel covers as it can (docs/architecture.md).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keysentry.clock import utcnow
from keysentry.config.settings import Settings
from keysentry.notify.channel import Channel, Sent
from keysentry.notify.health_event import ExposureFacts
from keysentry.retry import Backoff
from keysentry.store.db import Store
from keysentry.store.exposures import Db
from keysentry.store.outbox import DEAD, SENT, RoundWrites, claim_due, queue_messages
from keysentry.store.outbox import waiting as messages_waiting

log = logging.getLogger(__name__)


def enqueue(
    session: Db, facts: ExposureFacts, kind: str, channels: Mapping[str, Channel], now: datetime
) -> list[str]:
    """Queue one message per channel about ``facts`` in the caller's transaction; the channels queued."""
    payloads = {name: channel.render(facts, now) for name, channel in channels.items()}
    written = queue_messages(session, facts.exposure_id, facts.round, kind, payloads, now)
    return [name for name in channels if name in written]


@dataclass(frozen=True)
class Delivery:
    """What became of one message in one dispatch round."""

    message_id: int
    exposure_id: int
    channel: str
    kind: str
    round: int
    attempt: int
    sent: Sent
    dead: bool = False
    retry_at: datetime | None = None
    follow_up: Any = None  # what ``on_delivered`` answered (the responder's state change)


# Called once per round, in its transaction, with the messages delivered: a follow-up per message ID.
OnDelivered = Callable[[Db, list[Delivery], datetime], dict[int, Any]]


class Dispatcher:
    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        settings: Settings,
        on_delivered: OnDelivered | None = None,
        crash_point: Callable[[str], None] = lambda _name: None,
    ) -> None:
        self.store = store
        self.channels = dict(channels)
        self.settings = settings
        self.on_delivered = on_delivered
        self.crash_point = crash_point
        self._wake = threading.Event()
        self.backoff = Backoff(settings.delivery_backoff, settings.delivery_backoff_max)
        # Called by :meth:`wake` too: where no :meth:`run` loop sends (a Celery worker), this asks for a
        # delivery round elsewhere (keysentry.app.executor).
        self.on_wake: Callable[[], None] | None = None

    # --- one round ---------------------------------------------------------------------------
    def deliver_due(self, limit: int = 200) -> list[Delivery]:
        """Send every message that is due now (up to ``limit``); what became of each."""
        claimed = self._claim(limit)
        if not claimed:
            return []
        self.crash_point("deliver.before_call")
        answers: list[tuple[dict[str, Any], Sent]] = []
        by_channel: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for message in claimed:
            by_channel[message["channel"]].append(message)
        now = utcnow()
        for name, messages in by_channel.items():
            channel = self.channels.get(name)
            for start in range(0, len(messages), channel.batch_size if channel else len(messages)):
                batch = messages[start : start + (channel.batch_size if channel else len(messages))]
                answers.extend(zip(batch, self._send(channel, name, batch, now), strict=True))
        self.crash_point("deliver.after_call")
        deliveries = self._record(answers, now)
        self.crash_point("deliver.after_record")
        return deliveries

    def _claim(self, limit: int) -> list[dict[str, Any]]:
        """Take due messages for this dispatcher until its lease ends (their attempt is counted now)."""
        return claim_due(self.store, utcnow(), self.settings.delivery_lease, limit)

    def _send(
        self, channel: Channel | None, name: str, batch: list[dict[str, Any]], now: datetime
    ) -> list[Sent]:
        if channel is None:
            return [Sent(False, error=f"no channel {name!r} is configured") for _ in batch]
        try:
            answers = channel.send([m["payload"] for m in batch], now)
        except Exception as exc:  # a channel's bug must not stop the others
            log.exception("channel %s crashed", name)
            return [Sent(False, error=f"internal error: {type(exc).__name__}: {exc}") for _ in batch]
        if len(answers) != len(batch):
            return [Sent(False, error=f"channel {name} answered {len(answers)} of {len(batch)}")] * len(batch)
        return answers

    def _record(self, answers: list[tuple[dict[str, Any], Sent]], now: datetime) -> list[Delivery]:
        """One transaction for the round: every attempt, every message's new state and the timeline
        entries are written in a few many-row statements."""
        writes = RoundWrites()
        deliveries = [self._outcome(writes, message, sent, now) for message, sent in answers]
        with self.store.transaction() as db:
            writes.flush(db)
            if self.on_delivered is not None:
                follow_ups = self.on_delivered(db, [d for d in deliveries if d.sent.ok], now)
                deliveries = [
                    _with_follow_up(d, follow_ups[d.message_id]) if d.message_id in follow_ups else d
                    for d in deliveries
                ]
        return deliveries

    def _outcome(self, writes: RoundWrites, message: dict[str, Any], sent: Sent, now: datetime) -> Delivery:
        """What becomes of one message, written to ``writes``."""
        attempt = message["attempts"]
        writes.attempt(message["id"], now, sent.ok, sent.receipt, sent.error)
        base = Delivery(
            message["id"],
            message["exposure_id"],
            message["channel"],
            message["kind"],
            message["round"],
            attempt,
            sent,
        )
        where = {"channel": message["channel"], "message": message["kind"], "attempt": attempt}
        if sent.ok:
            writes.update(message["id"], state=SENT, sent_at=now, receipt=sent.receipt, last_error=None)
            writes.event(message["exposure_id"], "notify.sent", now, **where, receipt=sent.receipt)
            return base
        if sent.permanent or attempt >= self.settings.delivery_max_attempts:
            writes.update(message["id"], state=DEAD, last_error=sent.error)
            writes.event(message["exposure_id"], "notify.dead", now, **where, error=sent.error)
            log.error(
                "ALERT: notification %s of exposure %s on %s dead-lettered after %d tries: %s",
                message["id"],
                message["exposure_id"],
                message["channel"],
                attempt,
                sent.error,
            )
            return Delivery(**{**base.__dict__, "dead": True})
        retry_at = now + self.backoff.delay(attempt)
        writes.update(message["id"], next_attempt_at=retry_at, last_error=sent.error)
        writes.event(
            message["exposure_id"],
            "notify.failed",
            now,
            **where,
            error=sent.error,
            retry_at=retry_at.isoformat(),
        )
        log.warning(
            "notification %s on %s failed (try %d): %s",
            message["id"],
            message["channel"],
            attempt,
            sent.error,
        )
        return Delivery(**{**base.__dict__, "retry_at": retry_at})

    # --- until done --------------------------------------------------------------------------
    def drain(self) -> list[Delivery]:
        """Deliver until nothing is due now (messages waiting for a retry stay queued)."""
        done: list[Delivery] = []
        while batch := self.deliver_due():
            done.extend(batch)
        return done

    def waiting(self) -> tuple[int, datetime | None]:
        """Messages still to send, and when the next of them is due."""
        return messages_waiting(self.store)

    def wake(self) -> None:
        """Tell a running :meth:`run` loop (or whoever :attr:`on_wake` names) that there is something new
        to send."""
        self._wake.set()
        if self.on_wake is not None:
            self.on_wake()

    def run(self, stop: threading.Event, idle: float = 0.5, linger: float = 0.05, limit: int = 200) -> None:
        """Deliver until ``stop`` is set: ``linger`` seconds after being woken or after a round (so that
        what else arrives meanwhile goes in the same batch: ten events to a PutEvents call, not one),
        at once when a round was full, else every ``idle`` seconds."""
        while not stop.is_set():
            self._wake.clear()
            try:
                delivered = len(self.deliver_due(limit))
            except Exception:  # the loop must outlive a database hiccup
                log.exception("dispatch round failed")
                delivered = 0
            if delivered >= limit:
                continue  # behind: on at once
            if delivered or self._wake.wait(idle):
                stop.wait(linger)


def _with_follow_up(delivery: Delivery, follow_up: Any) -> Delivery:
    return Delivery(**{**delivery.__dict__, "follow_up": follow_up})
