"""Findings recorded as exposures, each durable once its transaction commits: examples and canaries are
settled at once, a resolved exposure seen somewhere new is reopened, and whoever runs the response
(the service's worker) is told which exposures now have a step to run."""

from __future__ import annotations

from collections.abc import Callable

from keysentry.detect.findings import Finding
from keysentry.respond.states import CANARY, EXAMPLE, NEW, REOPENED_BY_A_NEW_SIGHTING, TRANSITIONS
from keysentry.store.db import Store
from keysentry.store.exposures import record_finding
from keysentry.store.response import reopen, update_exposure

# Credential types that have an authority to attribute and contain them.
AUTHORITIES = frozenset({"aws_access_key"})


class Intake:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._on_recorded: list[Callable[[list[int]], None]] = []

    def on_recorded(self, callback: Callable[[list[int]], None]) -> None:
        """Call ``callback`` with the exposures each :meth:`record` left with a step to run (new or
        reopened), once they are committed."""
        self._on_recorded.append(callback)

    def record(self, findings: list[Finding]) -> list[int]:
        """Store findings; the exposure IDs."""
        ids, to_respond = [], []
        for finding in findings:
            if not finding.has_secret or finding.credential_type not in AUTHORITIES:
                continue  # a key ID alone cannot be used or contained; others have no authority yet
            state = EXAMPLE if finding.suppressed else CANARY if finding.canary else NEW
            with self.store.transaction() as db:
                recorded = record_finding(db, finding, initial_state=state)
                if recorded.created and finding.canary:
                    reason = f"{finding.canary}; no call made, so it is not tripped"
                    update_exposure(db, recorded.exposure_id, {"state_reason": reason})
                elif recorded.new_sightings and recorded.state in REOPENED_BY_A_NEW_SIGHTING:
                    reopen(
                        db,
                        recorded.exposure_id,
                        "keysentry",
                        "seen again in public after it was resolved",
                        NEW,
                    )
                    to_respond.append(recorded.exposure_id)
                if recorded.state in TRANSITIONS:
                    to_respond.append(recorded.exposure_id)
                ids.append(recorded.exposure_id)
        if to_respond:
            for callback in self._on_recorded:
                callback(to_respond)
        return ids
