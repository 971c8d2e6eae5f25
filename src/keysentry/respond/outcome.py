"""What the response came to, in a word and a reason: shown first wherever an exposure is shown (the
dashboard, the CLI, the API), so that a key that was not contained never looks like one that was.

The state says where an exposure stands in its handling (``notified``, ``acknowledged``, ``closed``);
the outcome says what was done to the credential: contained, revoked, released again, or not contained
and why ("IAM in account 123456789012 does not know this key").  It is read from what the response
recorded: the exposure's ``containment`` (written by every step that decides on containment, also when
it decides to do nothing) and, for what was settled before any call (examples, canaries, low
confidence), its state and reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keysentry.respond.states import State

# The outcome's words, each with its tone (how the dashboard colours it; the word is always shown too).
CONTAINED, REVOKED, RELEASED = "contained", "revoked", "released"
NOT_CONTAINED, NOT_ACTED_ON, PENDING = "not contained", "not acted on", "pending"
TONES = {
    CONTAINED: "good",
    REVOKED: "good",
    RELEASED: "warn",
    NOT_CONTAINED: "bad",
    NOT_ACTED_ON: "quiet",
    PENDING: "pending",
}
WORDS = tuple(TONES)
# Settled at detection, before any call: nothing was contained because nothing needed to be.
_NOT_ACTED_ON = {
    State.EXAMPLE: "a documentation example or placeholder",
    State.CANARY: "a canary key: any call with it would alert its owner, so none was made",
    State.UNCONFIRMED: "low confidence: recorded for triage, not answered",
}


@dataclass(frozen=True)
class Outcome:
    word: str  # contained, revoked, released, not contained, not acted on, pending
    reason: str  # what was done, or why not
    tone: str  # good, warn, bad, quiet, pending

    @property
    def contained(self) -> bool:
        return self.word in (CONTAINED, REVOKED)

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.word, "outcome_reason": self.reason, "contained": self.contained}


def _outcome(word: str, reason: str) -> Outcome:
    return Outcome(word, reason, TONES[word])


def outcome_of(state: str, containment: Mapping[str, Any] | None, state_reason: str | None = None) -> Outcome:
    """The outcome of an exposure in ``state`` with this ``containment`` (and ``state_reason``, for
    exposures recorded before every decision was written to ``containment``)."""
    c = containment or {}
    if c.get("applied"):
        if c.get("released_at"):
            why = f": {c['release_reason']}" if c.get("release_reason") else ""
            return _outcome(RELEASED, f"released at {c['released_at']} by {c.get('released_by')}{why}")
        if c.get("kind") == "revoked":
            return _outcome(REVOKED, f"revoked by {c.get('issuer')} ({c.get('call')})")
        if c.get("kind") == "revoke-role-sessions":
            before = c.get("issued_before")
            return _outcome(CONTAINED, f"sessions of {c.get('target')} issued before {before} denied")
        return _outcome(CONTAINED, f"{c.get('policy_name')} attached to {c.get('target')}")
    if state in (State.NEW, State.ATTRIBUTED):
        return _outcome(PENDING, "being answered" if state == State.ATTRIBUTED else "not answered yet")
    if state in _NOT_ACTED_ON and c.get("applied") is None:  # no decision on containment recorded
        detail = _NOT_ACTED_ON[State(state)]
        if state_reason and state != State.UNCONFIRMED:
            detail = f"{detail} ({state_reason})"
        return _outcome(NOT_ACTED_ON, detail)
    reason = c.get("reason") or state_reason or "no containment was applied"
    return _outcome(NOT_CONTAINED, str(reason))


def outcome_is(word: str) -> Any:
    """The exposures whose outcome is ``word``, as a condition for the store's queries
    (``ExposureFilter.where``): the rules of :func:`outcome_of`, written in SQL by the store, so that the
    dashboard, the API and the CLI filter by outcome in the database.  ``tests/test_outcomes.py`` checks
    that both say the same of every case.  An unknown word matches nothing."""
    from keysentry.store.queries import outcome_condition  # (SQLAlchemy: not for what only renders)

    return outcome_condition(
        word, pending=(State.NEW, State.ATTRIBUTED), before_any_call=tuple(_NOT_ACTED_ON)
    )
