"""The exposure state machine as declared tables: what runs on its own, what an operator may do, and
where each may lead.

Automatic steps run in order until an exposure reaches a state without one:

    new ──attribute──▶ attributed ──contain──▶ contained ─┐
     │                     │                   escalated ─┤  first message
     │                     │                 notify_only ─┼─ delivered ──▶ notified
     │                     └──────────────────▶ dry_run ─┤  (outbox)
     ├──▶ unowned ─────────────────────────────────────────┘
     ├──▶ not_ours (recorded, not announced)
     └──▶ example, canary (at detection, without any call)

Entering one of ``ANNOUNCED_FROM`` queues the announcement in the outbox, in the same transaction;
the dispatcher moves the exposure to ``notified`` when the first message of it is delivered.

Operators move an exposure on from there (``OPERATOR_ACTIONS``): acknowledge, remediate, close,
mark false positive, reopen.  ``failed`` is a side exit: the exposure keeps ``resume_state`` and the
next run retries that step.  A credential seen again after it was remediated or closed is reopened.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Transition:
    step: str
    leads_to: frozenset[str]


NEW = "new"
FAILED = "failed"
EXAMPLE = "example"  # documentation examples and placeholders: recorded, never acted on
CANARY = "canary"  # a known canary (honeytoken) key: any call would trip it, so none is made
NOTIFIED = "notified"
ANNOUNCED_FROM = frozenset({"contained", "escalated", "unowned", "notify_only", "dry_run"})

TRANSITIONS: dict[str, Transition] = {
    NEW: Transition("attribute", frozenset({"attributed", "not_ours", "unowned", EXAMPLE, CANARY})),
    "attributed": Transition("contain", frozenset({"contained", "escalated", "notify_only", "dry_run"})),
}


@dataclass(frozen=True)
class OperatorAction:
    allowed_from: frozenset[str]
    to_state: str
    needs_reason: bool = False


OPEN = frozenset({NOTIFIED, "acknowledged", "not_ours", "unowned", FAILED, *TRANSITIONS, *ANNOUNCED_FROM})
RESOLVED = frozenset({"remediated", "closed"})

OPERATOR_ACTIONS: dict[str, OperatorAction] = {
    "acknowledge": OperatorAction(frozenset({NOTIFIED}), "acknowledged"),
    "remediate": OperatorAction(frozenset({NOTIFIED, "acknowledged"}), "remediated"),
    "close": OperatorAction(
        frozenset({"remediated", "not_ours", EXAMPLE, CANARY, "false_positive", NOTIFIED, "acknowledged"}),
        "closed",
    ),
    "false_positive": OperatorAction(OPEN | {EXAMPLE, CANARY}, "false_positive", needs_reason=True),
    "reopen": OperatorAction(RESOLVED | {"false_positive"}, NEW, needs_reason=True),
}

# Seen again in public after it was resolved: respond again.  A false positive stays one.
REOPENED_BY_A_NEW_SIGHTING = RESOLVED

TERMINAL = frozenset({NOTIFIED, "acknowledged", "not_ours", EXAMPLE, CANARY, "false_positive", *RESOLVED})
ALL_STATES = (
    frozenset(TRANSITIONS)
    | ANNOUNCED_FROM
    | TERMINAL
    | {FAILED}
    | {s for t in TRANSITIONS.values() for s in t.leads_to}
    | {a.to_state for a in OPERATOR_ACTIONS.values()}
)


def next_step(state: str, resume_state: str | None) -> tuple[str, Transition] | None:
    """The state a step runs from and the transition, or None when nothing is left to do."""
    current = resume_state if state == FAILED and resume_state else state
    transition = TRANSITIONS.get(current)
    return (current, transition) if transition else None
