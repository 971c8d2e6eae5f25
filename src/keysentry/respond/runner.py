"""Run one step of one exposure, recorded.

For each step the timeline gets ``<step>.started`` (committed) before any call to AWS and
``<step>.succeeded`` or ``<step>.failed`` after, in the same transaction as the state change.  A crash
in between leaves the exposure in its old state; the next run repeats the step, which re-reads AWS
first and so never does anything twice.

A step that leads to a state in ``ANNOUNCED_FROM`` queues the announcement in the outbox in the
transaction that records it; the outbox's dispatcher sends it and moves the exposure to ``notified``.
Timed steps (investigate, deactivate) run when ``next_due_at`` has passed and leave the state as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from keysentry.clock import utcnow
from keysentry.errors import Deferred, KeysentryError
from keysentry.faults import crash_point
from keysentry.respond.announcement import investigation_schedule, queue_announcement
from keysentry.respond.issuers import steps_for
from keysentry.respond.states import ANNOUNCED_FROM, FAILED, SETTLED, TRANSITIONS, Transition, next_step
from keysentry.respond.steps import TIMED_STEPS, Outcome, StepContext, next_due
from keysentry.respond.view import ExposureView
from keysentry.retry import FAILED_STEP, FAILED_TIMED_STEP
from keysentry.store.db import Store
from keysentry.store.exposures import append_event, append_events, timeline_row
from keysentry.store.response import (
    last_event_kind,
    load_exposure,
    next_due_at,
    sightings_of,
    update_exposure,
)

log = logging.getLogger(__name__)

Step = Callable[[StepContext, ExposureView], Outcome]


@dataclass(frozen=True)
class Begun:
    """A step whose ``started`` is committed: where it runs from, and the exposure as it was then."""

    from_state: str
    step: str
    view: ExposureView
    row: dict[str, Any]


@dataclass(frozen=True)
class StepResult:
    exposure_id: int
    step: str
    from_state: str
    to_state: str
    error: str | None = None
    deferred: str | None = None  # the step waits (why); it runs again when due


class StepRunner:
    def __init__(self, store: Store, context: StepContext) -> None:
        self.store = store
        self.context = context

    # --- state steps -----------------------------------------------------------------------
    def begin(self, exposure_id: int) -> Begun | None:
        """Record the start of the exposure's next state step; None when it has none."""
        with self.store.transaction() as db:
            row = load_exposure(db, exposure_id)
            found = next_step(row["state"], row["resume_state"]) if row is not None else None
            if row is None or found is None:
                return None
            begun, started = _start(row, *found)
            if row["credential_type"] != "aws_access_key":  # a revocation's token is held in memory only:
                # after a crash the step must know whether its call may have been made (a deferred
                # revocation waits in a batch that may have been sent meanwhile)
                last = last_event_kind(db, exposure_id)
                interrupted = last in (f"{begun.step}.started", f"{begun.step}.deferred")
                begun = replace(begun, view=replace(begun.view, interrupted=interrupted))
            append_events(db, [started])
            return begun

    def function(self, begun: Begun) -> Step:
        """The step's function for this exposure (AWS's, or its issuer's)."""
        return steps_for(begun.view)[begun.step]

    def finish(
        self, begun: Begun, outcome: Outcome, begin_next: bool = False
    ) -> tuple[Begun | None, datetime | None]:
        """Record the step's outcome and, with ``begin_next``, start the next step in the same transaction
        (its ``started`` is still written before any call it makes).  Returns that next step, if any, and
        when the exposure's next timed step is due."""
        exposure_id, step, from_state = begun.row["id"], begun.step, begun.from_state
        allowed = TRANSITIONS[from_state].leads_to  # type: ignore[index]
        if outcome.state not in allowed:
            raise KeysentryError(
                f"step {step} tried {from_state} → {outcome.state}; allowed: {sorted(allowed)}"
            )
        with self.store.transaction() as db:
            now = utcnow()
            # The exposure as the step began it, unless somebody wrote to it since (a new sighting, an
            # operator): then from the exposure as it is now.
            row = self._write_outcome(db, dict(begun.row), outcome, now, seen=begun.row["updated_at"])
            if row is None:
                loaded = load_exposure(db, exposure_id)
                assert loaded is not None
                row = self._write_outcome(db, loaded, outcome, now, seen=None)
                assert row is not None
            events = [
                timeline_row(exposure_id, f"{step}.succeeded", to_state=outcome.state, **outcome.detail)
            ]
            if outcome.state in ANNOUNCED_FROM:
                view = ExposureView.from_row(row, sightings_of(db, exposure_id))
                channels = dict(self.context.channels)
                events.append(queue_announcement(db, view, self.context.settings, channels, now))
            found = next_step(row["state"], None) if begin_next else None
            following = None
            if found is not None:
                following, started = _start(row, *found)
                events.append(started)
            append_events(db, events)  # in the order they happened, in one statement
        if step == "contain" and begun.view.secret_fingerprint:
            self.context.custody.release(begun.view.secret_fingerprint)  # its revocation is recorded
        return following, row["next_due_at"]

    def _write_outcome(
        self, db: Any, row: dict[str, Any], outcome: Outcome, now: datetime, seen: datetime | None
    ) -> dict[str, Any] | None:
        """Write the outcome's changes to the exposure; the row as they leave it (None, and nothing
        written, when ``seen`` is given and somebody wrote to it since)."""
        changes = {**outcome.changes, "state": outcome.state, "resume_state": None, "updated_at": now}
        row.update(changes)
        if outcome.state in ANNOUNCED_FROM:
            later = investigation_schedule(row, self.context.settings, now)
            changes.update(later)
            row.update(later)
        changes["next_due_at"], changes["next_due_step"] = row["next_due_at"], row["next_due_step"] = (
            next_due(SimpleNamespace(**row))
        )
        return row if update_exposure(db, row["id"], changes, seen=seen) else None

    def run(
        self, exposure_id: int, step: str, from_state: str, view: ExposureView, function: Step, timed: bool
    ) -> Outcome | StepResult:
        """Run the step's calls; a failure is recorded (and retried later) and answered as a result."""
        crash_point(f"{step}.before_call")
        try:
            outcome = function(self.context, view)
        except Deferred as exc:
            self._defer(exposure_id, step, str(exc), exc.until)
            return StepResult(exposure_id, step, from_state, from_state, deferred=str(exc))
        except KeysentryError as exc:
            log.warning("exposure %s: %s failed: %s", exposure_id, step, exc)
            error = str(exc)
        except Exception as exc:  # a bug must not stop the other exposures
            log.exception("exposure %s: %s crashed", exposure_id, step)
            error = f"internal error: {type(exc).__name__}: {exc}"
        else:
            crash_point(f"{step}.after_call")
            return outcome
        self._fail(exposure_id, step, from_state, error, timed)
        return StepResult(exposure_id, step, from_state, from_state if timed else FAILED, error)

    def _defer(self, exposure_id: int, step: str, why: str, until: float) -> None:
        """The step waits (a batch to be sent, a rate limit): the state stays, it runs again at ``until``."""
        when = datetime.fromtimestamp(until, UTC)
        with self.store.transaction() as db:
            update_exposure(db, exposure_id, {"next_due_at": when, "next_due_step": None})
            append_event(db, exposure_id, f"{step}.deferred", reason=why, until=when.isoformat())

    def _fail(self, exposure_id: int, step: str, from_state: str, error: str, timed: bool) -> None:
        with self.store.transaction() as db:
            row = load_exposure(db, exposure_id)
            assert row is not None
            attempts = row["attempts"] + 1
            changes: dict[str, Any] = {"attempts": attempts}
            if timed:  # retried later, backing off: 2, 4, 8 … minutes, an hour at most
                changes["next_due_at"] = utcnow() + FAILED_TIMED_STEP.delay(attempts)
            else:  # the service retries after 2, 4, 8 … seconds, five minutes at most; an operator at once
                changes.update(
                    state=FAILED,
                    resume_state=from_state,
                    state_reason=f"{step} failed: {error}",
                    next_due_at=utcnow() + FAILED_STEP.delay(attempts),
                    next_due_step=None,
                )
            update_exposure(db, exposure_id, changes)
            append_event(db, exposure_id, f"{step}.failed", error=error, attempt=attempts)

    def step(self, exposure_id: int) -> StepResult | None:
        """Run the next state step of one exposure; None when it has none left."""
        begun = self.begin(exposure_id)
        if begun is None:
            return None
        from_state, step = begun.from_state, begun.step
        outcome = self.run(exposure_id, step, from_state, begun.view, self.function(begun), timed=False)
        if isinstance(outcome, StepResult):
            return outcome
        self.finish(begun, outcome)
        crash_point(f"{step}.after_record")
        assert outcome.state is not None
        return StepResult(exposure_id, step, from_state, outcome.state)

    # --- timed steps -----------------------------------------------------------------------
    def run_due(self, exposure_id: int) -> StepResult | None:
        """Run the exposure's timed step if it is due (investigation, deactivation)."""
        with self.store.read() as db:  # the common case, answered without the writer's turn
            due = next_due_at(db, exposure_id)
        if due is None or due > utcnow():
            return None
        claimed = self._claim_due(exposure_id)
        if claimed is None:
            return None
        step, state, view = claimed
        outcome = self.run(exposure_id, step, state, view, TIMED_STEPS[step], timed=True)
        if isinstance(outcome, StepResult):
            return outcome
        with self.store.transaction() as db:
            row = load_exposure(db, exposure_id)
            assert row is not None
            row.update(outcome.changes)
            when, which = next_due(SimpleNamespace(**row))
            update_exposure(db, exposure_id, {**outcome.changes, "next_due_at": when, "next_due_step": which})
            append_event(db, exposure_id, f"{step}.succeeded", **outcome.detail)
        crash_point(f"{step}.after_record")
        return StepResult(exposure_id, step, state, state)

    def _claim_due(self, exposure_id: int) -> tuple[str, str, ExposureView] | None:
        """Record the start of the due timed step (the step, the state and the exposure), or None when
        another run took it meanwhile or it no longer applies."""
        with self.store.transaction() as db:
            due = next_due_at(db, exposure_id)
            if due is None or due > utcnow():
                return None  # another run took it meanwhile
            row = load_exposure(db, exposure_id)
            if row is None:
                return None
            if row["state"] in SETTLED or row["next_due_step"] not in TIMED_STEPS:
                update_exposure(db, exposure_id, {"next_due_at": None, "next_due_step": None})
                return None
            step = row["next_due_step"]
            append_event(db, exposure_id, f"{step}.started", due=due.isoformat())
            return step, row["state"], ExposureView.from_row(row, sightings_of(db, exposure_id))


def _start(row: dict[str, Any], state: str, transition: Transition) -> tuple[Begun, dict[str, Any]]:
    """The step to begin, and its ``started`` event for the caller's transaction."""
    started = timeline_row(row["id"], f"{transition.step}.started", from_state=state)
    return Begun(state, transition.step, ExposureView.from_row(row), row), started
