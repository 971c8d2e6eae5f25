"""The exposure state machine as declared tables: what runs on its own, what an operator may do, and
where each may lead.

Automatic steps run in order until an exposure reaches a state without one:

    new ──attribute──▶ attributed ──contain──▶ contained ─┐
     │                     │                   escalated ─┤  first message
     │                     │                 notify_only ─┼─ delivered ──▶ notified
     │                     │                   suspected ─┤  (outbox)
     │                     └──────────────────▶ dry_run ─┤
     ├──▶ unowned ─────────────────────────────────────────┘
     ├──▶ not_ours (recorded, not announced)
     └──▶ example, canary, unconfirmed (at detection, without any call)

Entering one of ``ANNOUNCED_FROM`` queues the announcement in the outbox, in the same transaction;
the dispatcher moves the exposure to ``notified`` when the first message of it is delivered.

Operators move an exposure on from there (``OPERATOR_ACTIONS``): acknowledge, remediate, close with a
resolution (``RESOLUTIONS``), mark false positive, reopen; and assign it or comment on it, which leave
the state as it is.  ``failed`` is a side exit: the exposure keeps ``resume_state`` and the
next run retries that step.  A credential seen again after it was remediated or closed is reopened.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """Every state an exposure can be in (stored as its value, so ``State.NEW == "new"``)."""

    NEW = "new"
    ATTRIBUTED = "attributed"
    NOT_OURS = "not_ours"  # the account is not in our organization: recorded, not announced
    UNOWNED = "unowned"  # IAM does not know the key, or no event ties a temporary key to a role
    EXAMPLE = "example"  # documentation examples and placeholders: recorded, never acted on
    CANARY = "canary"  # a known canary (honeytoken) key: any call would trip it, so none is made
    # A low-confidence finding (a failed checksum, a key that does not parse, a generic secret): recorded
    # for triage, neither contained nor announced unless [response] low_confidence = "respond".
    UNCONFIRMED = "unconfirmed"
    CONTAINED = "contained"
    ESCALATED = "escalated"  # a root key: no policy can hold it
    NOTIFY_ONLY = "notify_only"
    SUSPECTED = "suspected"  # an AWS key ID seen without its secret: announced, contained if settings say
    DRY_RUN = "dry_run"
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    REMEDIATED = "remediated"
    CLOSED = "closed"
    FALSE_POSITIVE = "false_positive"
    FAILED = "failed"


NEW, FAILED, EXAMPLE, CANARY, NOTIFIED = State.NEW, State.FAILED, State.EXAMPLE, State.CANARY, State.NOTIFIED
ANNOUNCED_FROM = frozenset(
    {State.CONTAINED, State.ESCALATED, State.UNOWNED, State.NOTIFY_ONLY, State.DRY_RUN, State.SUSPECTED}
)


@dataclass(frozen=True)
class Transition:
    step: str
    leads_to: frozenset[State]


TRANSITIONS: dict[State, Transition] = {
    State.NEW: Transition(
        "attribute", frozenset({State.ATTRIBUTED, State.NOT_OURS, State.UNOWNED, EXAMPLE, CANARY})
    ),
    State.ATTRIBUTED: Transition(
        "contain",
        frozenset({State.CONTAINED, State.ESCALATED, State.NOTIFY_ONLY, State.DRY_RUN, State.SUSPECTED}),
    ),
}

OPEN = frozenset(
    {
        NOTIFIED,
        State.ACKNOWLEDGED,
        State.NOT_OURS,
        State.UNOWNED,
        State.UNCONFIRMED,
        FAILED,
        *TRANSITIONS,
        *ANNOUNCED_FROM,
    }
)
RESOLVED = frozenset({State.REMEDIATED, State.CLOSED})
# Nothing more will happen on its own, and no timed step runs (investigation, deactivation).
SETTLED = frozenset({State.FALSE_POSITIVE, State.CLOSED})
# Shown apart from what is open: resolved, or never needing anyone.
CLOSED_VIEW = frozenset({*RESOLVED, State.FALSE_POSITIVE, EXAMPLE, CANARY, State.NOT_OURS})
# Seen again in public after it was resolved: respond again.  A false positive stays one.
REOPENED_BY_A_NEW_SIGHTING = RESOLVED


@dataclass(frozen=True)
class OperatorAction:
    """An operator's decision, declared once: the responder checks it, and the CLI, the API and the
    dashboard offer it from here."""

    name: str  # as the API takes it
    command: str  # the CLI's name (the API accepts it too)
    label: str  # the dashboard's button
    summary: str  # the CLI's help
    example: str
    allowed_from: frozenset[State]
    to_state: State | None  # None: the state stays as it is (release changes the containment)
    needs_reason: bool = False
    # What else the decision takes: "resolution" (close: one of RESOLUTIONS), "assignee" (assign).
    needs: str | None = None


# Why an exposure was closed, as GitHub's secret scanning alerts say it (the API's value: its words).
RESOLUTIONS = {
    "revoked": "revoked",
    "rotated": "rotated",
    "false_positive": "false positive",
    "used_in_tests": "used in tests",
    "wont_fix": "won't fix",
}
ANY_STATE = frozenset(State)


_ACTIONS = (
    OperatorAction(
        "acknowledge",
        "ack",
        "Acknowledge",
        "Acknowledge a notified exposure: someone is on it.",
        "keysentry exposures ack 12",
        frozenset({NOTIFIED}),
        State.ACKNOWLEDGED,
    ),
    OperatorAction(
        "release",
        "release",
        "Release quarantine",
        "Take the quarantine off the owner (a reason is required; recorded).",
        'keysentry exposures release 12 -r "key deactivated, workloads moved"',
        ANY_STATE,  # wherever a quarantine is in place (the containment says)
        None,
        needs_reason=True,
    ),
    OperatorAction(
        "remediate",
        "remediate",
        "Mark remediated",
        "Mark an exposure remediated (key rotated, activity reviewed).",
        'keysentry exposures remediate AKIA… -r "rotated, CloudTrail reviewed"',
        frozenset({NOTIFIED, State.ACKNOWLEDGED}),
        State.REMEDIATED,
    ),
    OperatorAction(
        "false_positive",
        "false-positive",
        "Mark false positive",
        "Mark an exposure a false positive (a reason is required).",
        'keysentry exposures false-positive 12 -r "test fixture, never a real key"',
        OPEN | {EXAMPLE, CANARY},
        State.FALSE_POSITIVE,
        needs_reason=True,
    ),
    OperatorAction(
        "close",
        "close",
        "Close",
        "Close an exposure, saying why: revoked, rotated, false-positive, used-in-tests or wont-fix "
        "(a comment is optional).",
        'keysentry exposures close 12 --as rotated -r "new key deployed"',
        (OPEN - {NEW, State.ATTRIBUTED}) | {State.REMEDIATED, EXAMPLE, CANARY, State.FALSE_POSITIVE},
        State.CLOSED,  # as false_positive: State.FALSE_POSITIVE (see Operator.act)
        needs="resolution",
    ),
    OperatorAction(
        "assign",
        "assign",
        "Assign",
        "Assign an exposure to a person (recorded on the timeline; --to '' unassigns).",
        "keysentry exposures assign 12 --to ana@example.com",
        ANY_STATE,
        None,
        needs="assignee",
    ),
    OperatorAction(
        "comment",
        "comment",
        "Comment",
        "Add a comment to an exposure's timeline (the state stays as it is).",
        'keysentry exposures comment 12 -r "asked the deploy-bot team to rotate"',
        ANY_STATE,
        None,
        needs_reason=True,
    ),
    OperatorAction(
        "reopen",
        "reopen",
        "Reopen",
        "Reopen a resolved exposure and respond again (a reason is required).",
        'keysentry exposures reopen 12 -r "seen in a new fork"',
        RESOLVED | {State.FALSE_POSITIVE, State.UNCONFIRMED},
        NEW,
        needs_reason=True,
    ),
)
OPERATOR_ACTIONS: dict[str, OperatorAction] = {a.name: a for a in _ACTIONS}


def operator_action(name: str) -> OperatorAction | None:
    """By its name or its CLI name (``ack``, ``false-positive``)."""
    return OPERATOR_ACTIONS.get(name) or next((a for a in _ACTIONS if a.command == name), None)


TERMINAL = frozenset(
    {
        NOTIFIED,
        State.ACKNOWLEDGED,
        State.NOT_OURS,
        EXAMPLE,
        CANARY,
        State.UNCONFIRMED,
        State.FALSE_POSITIVE,
        *RESOLVED,
    }
)
ALL_STATES = frozenset(State)


def next_step(state: str, resume_state: str | None) -> tuple[State, Transition] | None:
    """The state a step runs from and the transition, or None when nothing is left to do."""
    current = resume_state if state == FAILED and resume_state else state
    transition = TRANSITIONS.get(State(current)) if current in ALL_STATES else None
    return (State(current), transition) if transition else None
