"""The response behind one door: findings recorded (:mod:`~keysentry.respond.intake`), each exposure's
steps run until it has nothing left to do now (:mod:`~keysentry.respond.runner`), the announcements
delivered (the outbox's dispatcher), and operators' decisions (:mod:`~keysentry.respond.operator`).
The parts are built by the composition root (:mod:`keysentry.app.wiring`)."""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from keysentry.clock import utcnow
from keysentry.detect.findings import Finding, Held
from keysentry.detect.scanner import ScanReport
from keysentry.faults import crash_point
from keysentry.notify.outbox import Dispatcher
from keysentry.respond.claims import ClaimKeeper, dead_here, process_identity
from keysentry.respond.intake import Intake
from keysentry.respond.operator import ActionError, Operator
from keysentry.respond.runner import StepResult, StepRunner
from keysentry.respond.states import ANNOUNCED_FROM, FAILED, TRANSITIONS
from keysentry.respond.steps import StepContext
from keysentry.store.db import Store
from keysentry.store.response import next_due_at, pending_exposures

__all__ = ["ActionError", "Responder", "StepResult"]
log = logging.getLogger(__name__)

MAX_STEPS_PER_RUN = 10


class Responder:
    def __init__(self, store: Store, context: StepContext, dispatcher: Dispatcher) -> None:
        self.store = store
        self.context = context
        self.dispatcher = dispatcher
        self.intake = Intake(
            store, context.custody, respond_to_low=context.settings.response.low_confidence == "respond"
        )
        self.runner = StepRunner(store, context)
        self.operator = Operator(store, context.authority)
        self._runs = itertools.count(1)  # each run of an exposure's steps claims it under its own name
        self.claims = ClaimKeeper(store, context.settings.claim_lease)

    # --- intake ----------------------------------------------------------------------------
    def on_recorded(self, callback: Callable[[list[int]], None]) -> None:
        """Call ``callback`` with the exposures each :meth:`record` left with a step to run (new or
        reopened), once they are committed: the service's response worker takes them from there,
        without polling the database."""
        self.intake.on_recorded(callback)

    def record(self, findings: list[Finding], held: Iterable[Held] = ()) -> list[int]:
        """Store findings (each durable once its transaction commits); the exposure IDs.  ``held``: the
        revocable secrets the scan handed over, kept in memory for their revocation."""
        return self.intake.record(findings, held)

    def record_report(self, report: ScanReport) -> list[int]:
        return self.record(report.findings + report.suppressed, report.held)

    # --- one step --------------------------------------------------------------------------
    def step(self, exposure_id: int) -> StepResult | None:
        """Run the next state step of one exposure; None when it has none left."""
        return self.runner.step(exposure_id)

    def run_due(self, exposure_id: int) -> StepResult | None:
        """Run the exposure's timed step if it is due (investigation, deactivation)."""
        return self.runner.run_due(exposure_id)

    # --- driving ---------------------------------------------------------------------------
    def advance(self, exposure_id: int, timed: bool = True) -> list[StepResult]:
        """Run steps until the exposure has nothing left to do now, or a step fails; with ``timed``, also
        the timed steps that are due.  The exposure is claimed first (kept alive while the run goes on,
        :class:`~keysentry.respond.claims.ClaimKeeper`) and released after: nothing is run, and nothing
        answered, while another run holds it, in this process or any replica or worker on the store."""
        owner = f"{process_identity()}/{next(self._runs)}"
        if not self.claims.claim(exposure_id, owner):
            log.debug("exposure %s: claimed by another run; left to it", exposure_id)
            return []
        try:
            return self._advance(exposure_id, timed, lambda: self.claims.holds(exposure_id, owner))
        finally:
            self.claims.release(exposure_id, owner)

    def _advance(self, exposure_id: int, timed: bool, renew: Callable[[], bool]) -> list[StepResult]:
        results: list[StepResult] = []
        begun = self.runner.begin(exposure_id)
        maybe_due = True  # unknown until a step reports when the next timed step is due
        while begun is not None and len(results) < MAX_STEPS_PER_RUN:
            from_state, step = begun.from_state, begun.step
            outcome = self.runner.run(
                exposure_id, step, from_state, begun.view, self.runner.function(begun), timed=False
            )
            if isinstance(outcome, StepResult):
                return [*results, outcome]
            # The next step is begun only while the claim holds (renewed here): a run whose lease ran
            # out while it waited on AWS records its step and leaves the rest to the run that took over.
            go_on = len(results) + 1 < MAX_STEPS_PER_RUN and renew()
            begun, next_due_at = self.runner.finish(begun, outcome, begin_next=go_on)
            if outcome.state in ANNOUNCED_FROM:
                self.dispatcher.wake()  # a running dispatcher sends the announcement now
            maybe_due = next_due_at is not None and next_due_at <= utcnow()
            crash_point(f"{step}.after_record")
            assert outcome.state is not None
            results.append(StepResult(exposure_id, step, from_state, outcome.state))
        if timed and maybe_due and renew():
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
        with self.store.read() as db:
            return pending_exposures(db, TRANSITIONS, FAILED, utcnow(), backoff, claimed_by=dead_here)

    def advance_all(self, exposure_ids: list[int] | None = None, workers: int = 1) -> list[StepResult]:
        """Advance every given (or pending) exposure; with ``workers`` > 1, several at once in threads.
        Each exposure is advanced by one thread only, so its steps stay in order.  Containment first,
        then the notifications it queued, then the timed steps that are due (CloudTrail reads, which
        are slow, wait until every owner has been told)."""
        ids = exposure_ids if exposure_ids is not None else self.pending()

        def each(step: Callable[[int], list[StepResult]], over: list[int] = ids) -> list[StepResult]:
            if workers <= 1 or len(over) <= 1:
                return [r for exposure_id in over for r in step(exposure_id)]
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="respond") as pool:
                return [r for batch in pool.map(step, over) for r in batch]

        results = each(lambda exposure_id: self.advance(exposure_id, timed=False))
        results += self._after_deferrals(results, each)
        results += self.deliver()
        results += each(self.run_timed)
        return results + self.deliver()

    def _after_deferrals(
        self,
        results: list[StepResult],
        each: Callable[[Callable[[int], list[StepResult]], list[int]], list[StepResult]],
    ) -> list[StepResult]:
        """Steps that stepped aside (a revocation batch, an issuer's rate limit) are run again when due,
        until none waits: the tokens they revoke are held in this process only, so it waits them out."""
        done: list[StepResult] = []
        waiting = sorted({r.exposure_id for r in results if r.deferred})
        while waiting:
            with self.store.read() as db:
                due = [d for d in (next_due_at(db, e) for e in waiting) if d is not None]
            pause = (min(due) - utcnow()).total_seconds() if due else 0.0
            if pause > 0:
                log.info(
                    "%d response(s) wait %.0f s for an issuer (batch or rate limit)", len(waiting), pause
                )
                time.sleep(min(pause, 60.0))
                continue
            again = each(lambda exposure_id: self.advance(exposure_id, timed=False), waiting)
            done += [r for r in again if not r.deferred]
            waiting = sorted({r.exposure_id for r in again if r.deferred})
        return done

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
    def act(
        self,
        exposure_id: int,
        action: str,
        actor: str,
        reason: str | None = None,
        resolution: str | None = None,
        assignee: str | None = None,
    ) -> str:
        """An operator's decision (acknowledge, remediate, close with a resolution, false_positive,
        reopen, release, assign, comment); the exposure's state after it."""
        return self.operator.act(exposure_id, action, actor, reason, resolution, assignee)

    def release(self, exposure_id: int, actor: str, reason: str | None) -> str:
        """Take the quarantine off (an operator's decision, recorded with who and why)."""
        return self.operator.release(exposure_id, actor, reason)
