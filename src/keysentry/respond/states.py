"""The exposure state machine as a declared table: which step runs in which state, and where it may lead.

``failed`` is a side exit: the exposure keeps ``resume_state`` and the next run
retries that step.  States without a step are terminal for this run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Transition:
    step: str
    leads_to: frozenset[str]


TRANSITIONS: dict[str, Transition] = {
    "new": Transition("attribute", frozenset({"attributed", "not_ours", "unowned"})),
    "attributed": Transition("contain", frozenset({"contained", "escalated"})),
    "contained": Transition("announce", frozenset({"notified"})),
    "escalated": Transition("announce", frozenset({"notified"})),
    "unowned": Transition("announce", frozenset({"notified"})),
}

FAILED = "failed"
# Reached at detection time, without any call: suppressed findings.
EXAMPLE = "example"
# A known canary (honeytoken) key: recorded, never attributed, because any call would trip it.
CANARY = "canary"
TERMINAL = frozenset({"notified", "not_ours", EXAMPLE, CANARY})
ALL_STATES = (
    frozenset(TRANSITIONS) | TERMINAL | {FAILED} | {s for t in TRANSITIONS.values() for s in t.leads_to}
)


def next_step(state: str, resume_state: str | None) -> tuple[str, Transition] | None:
    """The state a step runs from and the transition, or None when nothing is left to do."""
    current = resume_state if state == FAILED and resume_state else state
    transition = TRANSITIONS.get(current)
    return (current, transition) if transition else None
