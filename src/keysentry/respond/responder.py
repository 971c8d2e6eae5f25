"""Drive exposures through the state machine, one recorded step at a time.

For each step the timeline gets ``<step>.started`` (committed) before any call
to AWS and ``<step>.succeeded`` or ``<step>.failed`` after, in the same
transaction as the state change.  A crash in between leaves the exposure in
its old state; the next run repeats the step, which re-reads AWS first and so
never does anything twice.

A step that leads to a state in ``ANNOUNCED_FROM`` queues the announcement in the
outbox in the transaction that records it; the outbox's dispatcher sends it and
moves the exposure to ``notified`` (:mod:`keysentry.notify.outbox`).

Timed steps (investigate, deactivate) run when ``next_due_at`` has passed and
leave the state as it is.  Operator actions (acknowledge, remediate, close,
false positive, reopen, release) are recorded with who did it and why.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, or_, select, update

from keysentry.clock import utcnow
from keysentry.detect.findings import Finding
from keysentry.detect.scanner import ScanReport
from keysentry.errors import KeysentryError
from keysentry.notify.outbox import Dispatcher
from keysentry.respond.announcement import investigation_schedule, mark_notified, queue_announcement
from keysentry.respond.states import (
    ANNOUNCED_FROM,
    CANARY,
    EXAMPLE,
    FAILED,
    NEW,
    OPERATOR_ACTIONS,
    REOPENED_BY_A_NEW_SIGHTING,
    TRANSITIONS,
    next_step,
)
from keysentry.respond.steps import STEPS, TIMED_STEPS, Outcome, StepContext, next_due
from keysentry.respond.view import ExposureView
from keysentry.retry import FAILED_STEP, FAILED_TIMED_STEP
from keysentry.store.db import Store
from keysentry.store.exposures import EXPOSURES, append_event, append_events, record_finding, timeline_row
from keysentry.store.models import Exposure

log = logging.getLogger(__name__)

MAX_STEPS_PER_RUN = 10
# Credential types that have an authority to attribute and contain them.
AUTHORITIES = frozenset({"aws_access_key"})
CRASH_ENV = "KEYSENTRY_CRASH_AT"
# The hot path's statements, built once (see keysentry.store.exposures).
_LOAD = select(EXPOSURES).where(EXPOSURES.c.id == bindparam("eid"))
_UPDATE = update(EXPOSURES).where(EXPOSURES.c.id == bindparam("eid"))
_UPDATE_UNCHANGED = _UPDATE.where(EXPOSURES.c.updated_at == bindparam("seen"))
_NEXT_DUE = select(EXPOSURES.c.next_due_at).where(EXPOSURES.c.id == bindparam("eid"))


class ActionError(KeysentryError):
    """An operator asked for something the exposure's state does not allow."""


def crash_point(name: str) -> None:
    """Fault injection for the crash-safety tests: ``KEYSENTRY_CRASH_AT=contain.after_call`` kills the
    process with SIGKILL at that point, as a power cut would.  Inert unless that variable is set."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


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


class Responder:
    def __init__(self, store: Store, context: StepContext) -> None:
        self.store = store
        self.context = context
        self.dispatcher = Dispatcher(
            store, context.channels, context.settings, on_delivered=mark_notified, crash_point=crash_point
        )
        self._on_recorded: list[Callable[[list[int]], None]] = []

    def on_recorded(self, callback: Callable[[list[int]], None]) -> None:
        """Call ``callback`` with the exposures each :meth:`record` left with a step to run (new or
        reopened), once they are committed: the service's response worker takes them from there,
        without polling the database."""
        self._on_recorded.append(callback)

    # --- intake ----------------------------------------------------------------------------
    def record(self, findings: list[Finding]) -> list[int]:
        """Store findings (each durable once its transaction commits); examples and canaries are settled at
        once, and a resolved exposure seen somewhere new is reopened.  Returns the exposure IDs."""
        ids, to_respond = [], []
        for finding in findings:
            if not finding.has_secret or finding.credential_type not in AUTHORITIES:
                continue  # a key ID alone cannot be used or contained; others have no authority yet
            state = EXAMPLE if finding.suppressed else CANARY if finding.canary else NEW
            with self.store.transaction() as session:
                recorded = record_finding(session, finding, initial_state=state)
                if recorded.created and finding.canary:
                    reason = f"{finding.canary}; no call made, so it is not tripped"
                    session.execute(
                        update(EXPOSURES)
                        .where(EXPOSURES.c.id == recorded.exposure_id)
                        .values(state_reason=reason)
                    )
                elif recorded.new_sightings and recorded.state in REOPENED_BY_A_NEW_SIGHTING:
                    self._reopen(
                        session,
                        recorded.exposure_id,
                        "keysentry",
                        "seen again in public after it was resolved",
                    )
                    to_respond.append(recorded.exposure_id)
                if recorded.state in TRANSITIONS:
                    to_respond.append(recorded.exposure_id)
                ids.append(recorded.exposure_id)
        if to_respond:
            for callback in self._on_recorded:
                callback(to_respond)
        return ids

    def record_report(self, report: ScanReport) -> list[int]:
        return self.record(report.findings + report.suppressed)

    def _reopen(self, session: Any, exposure_id: int, actor: str, reason: str) -> None:
        row = session.execute(
            select(EXPOSURES.c.state, EXPOSURES.c.containment, EXPOSURES.c.reopened).where(
                EXPOSURES.c.id == exposure_id
            )
        ).one()
        append_event(
            session,
            exposure_id,
            "reopened",
            actor=actor,
            reason=reason,
            was=row.state,
            previous_containment=row.containment,
        )
        session.execute(
            update(EXPOSURES)
            .where(EXPOSURES.c.id == exposure_id)
            .values(
                state=NEW,
                resume_state=None,
                reopened=(row.reopened or 0) + 1,
                state_reason=reason,
                containment=None,
                contained_at=None,
                notified_at=None,
                next_due_at=None,
                next_due_step=None,
                updated_at=utcnow(),
            )
        )

    # --- state steps -----------------------------------------------------------------------
    def _load(self, session: Any, exposure_id: int) -> dict[str, Any] | None:
        row = session.execute(_LOAD, {"eid": exposure_id}).mappings().one_or_none()
        return dict(row) if row is not None else None

    def _begin(self, exposure_id: int) -> Begun | None:
        with self.store.transaction() as session:
            row = self._load(session, exposure_id)
            if row is None:
                return None
            found = next_step(row["state"], row["resume_state"])
            if found is None:
                return None
            begun, started = self._start(row, *found)
            append_events(session, [started])
            return begun

    def _start(self, row: dict[str, Any], state: str, transition: Any) -> tuple[Begun, dict[str, Any]]:
        """The step to begin, and its ``started`` event for the caller's transaction."""
        started = timeline_row(row["id"], f"{transition.step}.started", from_state=state)
        return Begun(state, transition.step, ExposureView.from_row(row), row), started

    def _finish(
        self, begun: Begun, outcome: Outcome, begin_next: bool = False
    ) -> tuple[Begun | None, datetime | None]:
        """Record the step's outcome and, with ``begin_next``, start the next step in the same transaction
        (its ``started`` is still written before any call it makes).  Returns that next step, if any, and
        when the exposure's next timed step is due.  Plain SQL: this is the hot path."""
        exposure_id, step, from_state = begun.row["id"], begun.step, begun.from_state
        allowed = TRANSITIONS[from_state].leads_to
        if outcome.state not in allowed:
            raise KeysentryError(
                f"step {step} tried {from_state} → {outcome.state}; allowed: {sorted(allowed)}"
            )
        with self.store.transaction() as session:
            now = utcnow()
            # The exposure as the step began it, unless somebody wrote to it since (a new sighting, an
            # operator): then from the exposure as it is now.
            row = self._write_outcome(session, dict(begun.row), outcome, now, seen=begun.row["updated_at"])
            if row is None:
                loaded = self._load(session, exposure_id)
                assert loaded is not None
                row = self._write_outcome(session, loaded, outcome, now, seen=None)
                assert row is not None
            events = [
                timeline_row(exposure_id, f"{step}.succeeded", to_state=outcome.state, **outcome.detail)
            ]
            if outcome.state in ANNOUNCED_FROM:
                channels = dict(self.context.channels)
                events.append(queue_announcement(session, row, self.context.settings, channels, now))
            found = next_step(row["state"], None) if begin_next else None
            following = None
            if found is not None:
                following, started = self._start(row, *found)
                events.append(started)
            append_events(session, events)  # in the order they happened, in one statement
            return following, row["next_due_at"]

    def _write_outcome(
        self, session: Any, row: dict[str, Any], outcome: Outcome, now: datetime, seen: datetime | None
    ) -> dict[str, Any] | None:
        """Write the outcome's changes to the exposure; the row as they leave it.  With ``seen`` (the
        ``updated_at`` the row was read with), only if nobody has written to it since: else None, and
        nothing written."""
        changes = {**outcome.changes, "state": outcome.state, "resume_state": None, "updated_at": now}
        row.update(changes)
        if outcome.state in ANNOUNCED_FROM:
            later = investigation_schedule(row, self.context.settings, now)
            changes.update(later)
            row.update(later)
        changes["next_due_at"], changes["next_due_step"] = row["next_due_at"], row["next_due_step"] = (
            next_due(SimpleNamespace(**row))
        )
        if seen is None:
            session.execute(_UPDATE, {"eid": row["id"], **changes})
        elif session.execute(_UPDATE_UNCHANGED, {"eid": row["id"], "seen": seen, **changes}).rowcount != 1:
            return None
        return row

    def _apply(self, exposure: Exposure, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(exposure, name, value)
        exposure.next_due_at, exposure.next_due_step = next_due(exposure)

    def _fail(self, exposure_id: int, step: str, from_state: str, error: str, timed: bool = False) -> None:
        with self.store.session() as session:
            exposure = session.get(Exposure, exposure_id)
            assert exposure is not None
            exposure.attempts += 1
            if timed:  # retried later, backing off: 2, 4, 8 … minutes, an hour at most
                exposure.next_due_at = utcnow() + FAILED_TIMED_STEP.delay(exposure.attempts)
            else:  # the service retries after 2, 4, 8 … seconds, five minutes at most; an operator at once
                exposure.state = FAILED
                exposure.resume_state = from_state
                exposure.state_reason = f"{step} failed: {error}"
                exposure.next_due_at = utcnow() + FAILED_STEP.delay(exposure.attempts)
                exposure.next_due_step = None
            append_event(session, exposure, f"{step}.failed", error=error, attempt=exposure.attempts)

    def _run(
        self,
        exposure_id: int,
        step: str,
        from_state: str,
        view: ExposureView,
        function: Callable[[StepContext, ExposureView], Outcome],
        timed: bool,
    ) -> Outcome | StepResult:
        crash_point(f"{step}.before_call")
        try:
            outcome = function(self.context, view)
        except KeysentryError as exc:
            log.warning("exposure %s: %s failed: %s", exposure_id, step, exc)
            self._fail(exposure_id, step, from_state, str(exc), timed)
            return StepResult(exposure_id, step, from_state, from_state if timed else FAILED, str(exc))
        except Exception as exc:  # a bug must not stop the other exposures
            log.exception("exposure %s: %s crashed", exposure_id, step)
            self._fail(exposure_id, step, from_state, f"internal error: {type(exc).__name__}: {exc}", timed)
            return StepResult(exposure_id, step, from_state, from_state if timed else FAILED, str(exc))
        crash_point(f"{step}.after_call")
        return outcome

    def step(self, exposure_id: int) -> StepResult | None:
        """Run the next state step of one exposure; None when it has none left."""
        begun = self._begin(exposure_id)
        if begun is None:
            return None
        from_state, step = begun.from_state, begun.step
        outcome = self._run(exposure_id, step, from_state, begun.view, STEPS[step], timed=False)
        if isinstance(outcome, StepResult):
            return outcome
        self._finish(begun, outcome)
        crash_point(f"{step}.after_record")
        assert outcome.state is not None
        return StepResult(exposure_id, step, from_state, outcome.state)

    # --- timed steps -----------------------------------------------------------------------
    def run_due(self, exposure_id: int) -> StepResult | None:
        """Run the exposure's timed step if it is due (investigation, deactivation)."""
        with self.store.read() as db:  # the common case, answered without the writer's turn
            due = db.execute(_NEXT_DUE, {"eid": exposure_id}).scalar()
        if due is None or due > utcnow():
            return None
        with self.store.session() as session:
            due = session.execute(_NEXT_DUE, {"eid": exposure_id}).scalar()
            if due is None or due > utcnow():
                return None  # another run took it meanwhile
            exposure = session.get(Exposure, exposure_id)
            if exposure is None:
                return None
            if exposure.state in ("false_positive", "closed") or exposure.next_due_step not in TIMED_STEPS:
                exposure.next_due_at = exposure.next_due_step = None
                return None
            step, state = exposure.next_due_step, exposure.state
            append_event(session, exposure, f"{step}.started", due=due.isoformat())
            view = ExposureView.of(exposure)
        outcome = self._run(exposure_id, step, state, view, TIMED_STEPS[step], timed=True)
        if isinstance(outcome, StepResult):
            return outcome
        with self.store.session() as session:
            exposure = session.get(Exposure, exposure_id)
            assert exposure is not None
            self._apply(exposure, outcome.changes)
            append_event(session, exposure, f"{step}.succeeded", **outcome.detail)
        crash_point(f"{step}.after_record")
        return StepResult(exposure_id, step, state, state)

    # --- driving ---------------------------------------------------------------------------
    def advance(self, exposure_id: int, timed: bool = True) -> list[StepResult]:
        """Run steps until the exposure has nothing left to do now, or a step fails; with ``timed``, also
        the timed steps that are due."""
        results: list[StepResult] = []
        begun = self._begin(exposure_id)
        maybe_due = True  # unknown until a step reports when the next timed step is due
        while begun is not None and len(results) < MAX_STEPS_PER_RUN:
            from_state, step = begun.from_state, begun.step
            outcome = self._run(exposure_id, step, from_state, begun.view, STEPS[step], timed=False)
            if isinstance(outcome, StepResult):
                return [*results, outcome]
            begun, next_due_at = self._finish(begun, outcome, begin_next=True)
            if outcome.state in ANNOUNCED_FROM:
                self.dispatcher.wake()  # a running dispatcher sends the announcement now
            maybe_due = next_due_at is not None and next_due_at <= utcnow()
            crash_point(f"{step}.after_record")
            assert outcome.state is not None
            results.append(StepResult(exposure_id, step, from_state, outcome.state))
        if timed and maybe_due:
            results += self.run_timed(exposure_id, MAX_STEPS_PER_RUN - len(results))
        return results

    def run_timed(self, exposure_id: int, most: int = MAX_STEPS_PER_RUN) -> list[StepResult]:
        """Run the exposure's timed steps that are due, one after another (at most ``most``)."""
        results: list[StepResult] = []
        while len(results) < most and (due := self.run_due(exposure_id)) is not None:
            results.append(due)
            if due.error is not None:
                break
        return results

    def pending(self, backoff: bool = False) -> list[int]:
        """Exposures with a step to run now: unfinished, failed (they resume) or with a timed step due.
        With ``backoff`` (the service), a failed exposure only once its retry is due."""
        now = utcnow()
        failed = EXPOSURES.c.state == FAILED
        if backoff:
            failed = failed & EXPOSURES.c.next_due_at.is_(None)  # else due like a timed step, below
        query = (
            select(EXPOSURES.c.id)
            .where(or_(EXPOSURES.c.state.in_(list(TRANSITIONS)), failed, EXPOSURES.c.next_due_at <= now))
            .order_by(EXPOSURES.c.id)
        )
        with self.store.read() as db:
            return list(db.scalars(query))

    def advance_all(self, exposure_ids: list[int] | None = None, workers: int = 1) -> list[StepResult]:
        """Advance every given (or pending) exposure; with ``workers`` > 1, several at once in threads.
        Each exposure is advanced by one thread only, so its steps stay in order.  Containment first,
        then the notifications it queued, then the timed steps that are due (CloudTrail reads, which
        are slow, wait until every owner has been told)."""
        ids = exposure_ids if exposure_ids is not None else self.pending()

        def each(step: Callable[[int], list[StepResult]]) -> list[StepResult]:
            if workers <= 1 or len(ids) <= 1:
                return [r for exposure_id in ids for r in step(exposure_id)]
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="respond") as pool:
                return [r for batch in pool.map(step, ids) for r in batch]

        results = each(lambda exposure_id: self.advance(exposure_id, timed=False))
        results += self.deliver()
        results += each(self.run_timed)
        return results + self.deliver()

    def deliver(self) -> list[StepResult]:
        """Send every queued notification that is due now; the exposures this made ``notified``, and the
        messages that failed."""
        results = []
        for d in self.dispatcher.drain():
            if d.follow_up is not None:
                from_state, to_state = d.follow_up
                results.append(StepResult(d.exposure_id, "notify", from_state, to_state))
            elif not d.sent.ok:
                results.append(StepResult(d.exposure_id, "notify", "", "", f"{d.channel}: {d.sent.error}"))
        return results

    # --- operators -------------------------------------------------------------------------
    def act(self, exposure_id: int, action: str, actor: str, reason: str | None = None) -> str:
        """An operator's decision (acknowledge, remediate, close, false_positive, reopen); the new state."""
        if action == "release":
            return self.release(exposure_id, actor, reason)
        rule = OPERATOR_ACTIONS.get(action)
        if rule is None:
            raise ActionError(f"unknown action {action!r}; one of {sorted([*OPERATOR_ACTIONS, 'release'])}")
        if rule.needs_reason and not reason:
            raise ActionError(f"{action} needs a reason")
        with self.store.session() as session:
            exposure = session.get(Exposure, exposure_id)
            if exposure is None:
                raise ActionError(f"no exposure {exposure_id}")
            if exposure.state not in rule.allowed_from:
                raise ActionError(f"cannot {action} an exposure that is {exposure.state}")
            if action == "reopen":
                self._reopen(session, exposure.id, actor, reason or "")
                return NEW
            else:
                append_event(session, exposure, action, actor=actor, reason=reason, was=exposure.state)
                exposure.state = rule.to_state
                exposure.state_reason = reason
                if rule.to_state in ("false_positive", "closed"):
                    exposure.next_due_at = exposure.next_due_step = None
            return exposure.state

    def release(self, exposure_id: int, actor: str, reason: str | None) -> str:
        """Take the quarantine off (an operator's decision, recorded with who and why)."""
        if not reason:
            raise ActionError("release needs a reason")
        with self.store.session() as session:
            exposure = session.get(Exposure, exposure_id)
            if exposure is None:
                raise ActionError(f"no exposure {exposure_id}")
            containment = dict(exposure.containment or {})
            if not containment.get("applied") or containment.get("released_at"):
                raise ActionError("nothing to release: no quarantine is in place")
            append_event(session, exposure, "release.started", actor=actor, reason=reason)
            view = ExposureView.of(exposure)
        assert view.account_id is not None and view.principal_name is not None
        authority = self.context.authority
        if containment.get("kind") == "revoke-role-sessions":
            removed = authority.remove_role_revocation(view.account_id, view.principal_name)
        else:
            removed = authority.detach_user_policy(
                view.account_id, view.principal_name, containment["policy_arn"]
            )
        crash_point("release.after_call")
        with self.store.session() as session:
            exposure = session.get(Exposure, exposure_id)
            assert exposure is not None
            containment.update(
                released_at=utcnow().isoformat(), released_by=actor, release_reason=reason, deactivate_at=None
            )
            exposure.containment = containment
            exposure.next_due_at, exposure.next_due_step = next_due(exposure)
            append_event(
                session, exposure, "release.succeeded", actor=actor, reason=reason, was_in_place=removed
            )
            return exposure.state
