"""Findings recorded as exposures, each durable once its transaction commits: examples and canaries are
settled at once, a resolved exposure seen somewhere new is reopened, and whoever runs the response
(the service's worker) is told which exposures now have a step to run.

Every credential becomes an exposure: an AWS key pair, an AWS key ID alone (a *suspected* exposure,
which becomes the full one when its secret is seen), an AWS secret alone, and every other type, which
its issuer answers (:mod:`keysentry.respond.issuers`).  The secrets of revocable tokens go into the
custody (memory only) before their exposure is committed, so that the revocation finds them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from keysentry.detect.engine import ALLOWED
from keysentry.detect.findings import Finding, Held
from keysentry.respond.custody import Custody
from keysentry.respond.states import (
    CANARY,
    EXAMPLE,
    NEW,
    REOPENED_BY_A_NEW_SIGHTING,
    TRANSITIONS,
    State,
)
from keysentry.store.db import Store
from keysentry.store.exposures import Db, paired_fingerprint, record_finding, suspected_exposure
from keysentry.store.response import reopen, update_exposure

AWS = "aws_access_key"


class Intake:
    def __init__(self, store: Store, custody: Custody | None = None, respond_to_low: bool = False) -> None:
        self.store = store
        self.custody = custody if custody is not None else Custody()
        self.respond_to_low = respond_to_low  # [response] low_confidence = "respond"
        self._on_recorded: list[Callable[[list[int]], None]] = []

    def on_recorded(self, callback: Callable[[list[int]], None]) -> None:
        """Call ``callback`` with the exposures each :meth:`record` left with a step to run (new or
        reopened), once they are committed."""
        self._on_recorded.append(callback)

    def record(self, findings: list[Finding], held: Iterable[Held] = ()) -> list[int]:
        """Store findings; the exposure IDs.  ``held``: the revocable secrets the scan handed over.

        An allow marker (``keysentry:allow``) is a team's word about its own code, not a reason to leave
        a credential that is out in public uncontained: such a finding is answered like any other."""
        findings = [replace(f, suppressed=None) if f.suppressed == ALLOWED else f for f in findings]
        wanted = {f.secret_fingerprint for f in findings if not f.suppressed and f.secret_fingerprint}
        self.custody.keep(h for h in held if h.fingerprint in wanted)
        ids, to_respond = [], []
        for finding in findings:
            with self.store.transaction() as db:
                exposure_id, respond = self._record_one(db, finding)
            ids.append(exposure_id)
            if respond:
                to_respond.append(exposure_id)
        if to_respond:
            for callback in self._on_recorded:
                callback(to_respond)
        return ids

    def _record_one(self, db: Db, finding: Finding) -> tuple[int, bool]:
        """Record one finding in the caller's transaction: its exposure, and whether it has a step to run."""
        canary = finding.canary if finding.credential_type == AWS else None
        if finding.credential_type == AWS and not finding.suppressed:
            finding = self._joined_with_its_pair(db, finding)
        state = EXAMPLE if finding.suppressed else CANARY if canary else NEW
        if state == NEW and finding.confidence == "low" and not self.respond_to_low:
            state = State.UNCONFIRMED
        recorded = record_finding(db, finding, initial_state=state)
        respond = False
        if recorded.created and canary:
            reason = f"{canary}; no call made, so it is not tripped"
            update_exposure(db, recorded.exposure_id, {"state_reason": reason})
        elif recorded.created and state == State.UNCONFIRMED:
            reason = (
                f"low confidence: {finding.confidence_reason or 'a generic match'}; recorded, not answered"
            )
            update_exposure(db, recorded.exposure_id, {"state_reason": reason})
        elif recorded.new_sightings and recorded.state in REOPENED_BY_A_NEW_SIGHTING:
            reopen(db, recorded.exposure_id, "keysentry", "seen again in public after it was resolved", NEW)
            respond = True
        return recorded.exposure_id, respond or recorded.state in TRANSITIONS

    def _joined_with_its_pair(self, db: Db, finding: Finding) -> Finding:
        """An ID alone where its pair is known is a sighting of the pair; a pair whose ID was suspected
        turns that exposure into the full one (reopened: contained at once, announced anew)."""
        if not finding.secret_fingerprint:
            known = paired_fingerprint(db, AWS, finding.key_id)
            return replace(finding, secret_fingerprint=known) if known else finding
        suspected = suspected_exposure(db, AWS, finding.key_id, finding.secret_fingerprint, finding.severity)
        if suspected is not None:
            reopen(
                db,
                suspected,
                "keysentry",
                "its secret was seen: a full exposure now, contained at once",
                NEW,
            )
        return finding
