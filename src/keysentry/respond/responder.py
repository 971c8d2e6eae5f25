"""Drive exposures through the state machine, one recorded step at a time.

For each step the timeline gets ``<step>.started`` (committed) before any call
to AWS and ``<step>.succeeded`` or ``<step>.failed`` after, in the same
transaction as the state change.  A crash in between leaves the exposure in
its old state; the next run repeats the step, which re-reads AWS first and so
never does anything twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from keysentry.detect.findings import Finding
from keysentry.detect.scanner import ScanReport
from keysentry.errors import KeysentryError
from keysentry.respond.states import CANARY, EXAMPLE, FAILED, TRANSITIONS, next_step
from keysentry.respond.steps import STEPS, StepContext
from keysentry.respond.view import ExposureView
from keysentry.store.db import Store
from keysentry.store.exposures import append_event, record_finding
from keysentry.store.models import Exposure

log = logging.getLogger(__name__)

MAX_STEPS_PER_RUN = 10
# Credential types that have an authority to attribute and contain them.
AUTHORITIES = frozenset({"aws_access_key"})


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

    # --- intake ----------------------------------------------------------------------------
    def record(self, findings: list[Finding]) -> list[int]:
        """Store findings (examples go straight to ``example``); returns the exposure IDs."""
        ids = []
        for finding in findings:
            if not finding.has_secret or finding.credential_type not in AUTHORITIES:
                continue  # a key ID alone cannot be used or contained; others have no authority yet
            state = EXAMPLE if finding.suppressed else CANARY if finding.canary else "new"
            with self.store.session() as session:
                recorded = record_finding(session, finding, initial_state=state)
                if recorded.created and finding.canary:
                    recorded.exposure.state_reason = f"{finding.canary}; no call made, so it is not tripped"
                ids.append(recorded.exposure.id)
        return ids

    def record_report(self, report: ScanReport) -> list[int]:
        return self.record(report.findings + report.suppressed)

    # --- stepping --------------------------------------------------------------------------
    def _begin(self, exposure_id: int) -> tuple[str, str, ExposureView] | None:
        with self.store.session() as session:
            exposure = session.get(Exposure, exposure_id)
            if exposure is None:
                return None
            found = next_step(exposure.state, exposure.resume_state)
            if found is None:
                return None
            state, transition = found
            append_event(session, exposure, f"{transition.step}.started", from_state=state)
            return state, transition.step, ExposureView.of(exposure)

    def _finish(
        self,
        exposure_id: int,
        step: str,
        from_state: str,
        to_state: str,
        changes: dict[str, Any],
        detail: dict[str, Any],
    ) -> None:
        allowed = TRANSITIONS[from_state].leads_to
        if to_state not in allowed:
            raise KeysentryError(f"step {step} tried {from_state} → {to_state}; allowed: {sorted(allowed)}")
        with self.store.session() as session:
            exposure = session.get(Exposure, exposure_id)
            assert exposure is not None
            for name, value in changes.items():
                setattr(exposure, name, value)
            exposure.state = to_state
            exposure.resume_state = None
            append_event(session, exposure, f"{step}.succeeded", to_state=to_state, **detail)

    def _fail(self, exposure_id: int, step: str, from_state: str, error: str) -> None:
        with self.store.session() as session:
            exposure = session.get(Exposure, exposure_id)
            assert exposure is not None
            exposure.state = FAILED
            exposure.resume_state = from_state
            exposure.attempts += 1
            exposure.state_reason = f"{step} failed: {error}"
            append_event(session, exposure, f"{step}.failed", error=error, attempt=exposure.attempts)

    def step(self, exposure_id: int) -> StepResult | None:
        """Run the next step of one exposure; None when it has nothing left to do."""
        begun = self._begin(exposure_id)
        if begun is None:
            return None
        from_state, step, view = begun
        try:
            outcome = STEPS[step](self.context, view)
        except KeysentryError as exc:
            log.warning("exposure %s: %s failed: %s", exposure_id, step, exc)
            self._fail(exposure_id, step, from_state, str(exc))
            return StepResult(exposure_id, step, from_state, FAILED, str(exc))
        except Exception as exc:  # a bug must not stop the other exposures
            log.exception("exposure %s: %s crashed", exposure_id, step)
            self._fail(exposure_id, step, from_state, f"internal error: {type(exc).__name__}: {exc}")
            return StepResult(exposure_id, step, from_state, FAILED, str(exc))
        self._finish(exposure_id, step, from_state, outcome.state, outcome.changes, outcome.detail)
        return StepResult(exposure_id, step, from_state, outcome.state)

    def advance(self, exposure_id: int) -> list[StepResult]:
        """Run steps until the exposure is terminal or a step fails."""
        results: list[StepResult] = []
        for _ in range(MAX_STEPS_PER_RUN):
            result = self.step(exposure_id)
            if result is None:
                break
            results.append(result)
            if result.error is not None:
                break
        return results

    def pending(self) -> list[int]:
        """Exposures with a step left to run (including failed ones, which resume)."""
        with self.store.session() as session:
            states = [*TRANSITIONS, FAILED]
            return list(
                session.scalars(select(Exposure.id).where(Exposure.state.in_(states)).order_by(Exposure.id))
            )

    def advance_all(self, exposure_ids: list[int] | None = None) -> list[StepResult]:
        results: list[StepResult] = []
        for exposure_id in exposure_ids if exposure_ids is not None else self.pending():
            results.extend(self.advance(exposure_id))
        return results
