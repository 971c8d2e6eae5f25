"""Operators' decisions (``OPERATOR_ACTIONS`` in :mod:`keysentry.respond.states`), recorded with who
made them and why: acknowledge, remediate, close (with a resolution), false positive and reopen change
the state; assign and comment leave it as it is; release takes the quarantine off through the authority
and leaves the state as it is."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from keysentry.authority.aws import AwsAuthority
from keysentry.clock import utcnow
from keysentry.errors import KeysentryError
from keysentry.escaping import nul_free
from keysentry.faults import crash_point
from keysentry.respond.states import (
    NEW,
    OPERATOR_ACTIONS,
    RESOLUTIONS,
    SETTLED,
    OperatorAction,
    State,
    operator_action,
)
from keysentry.respond.steps import next_due, quarantine_permission, role_revocation_permission
from keysentry.store.db import Store
from keysentry.store.exposures import append_event
from keysentry.store.response import load_exposure, reopen, update_exposure

# Release takes off what containment put on.
RELEASE_PERMISSIONS = (
    quarantine_permission("iam:DetachUserPolicy"),
    role_revocation_permission("iam:DeleteRolePolicy"),
)


# Who an exposure is assigned to: a name or an address, at most 128 characters, no control character
# (the API's schema says the same with this pattern).
ASSIGNEE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"


class ActionError(KeysentryError):
    """An operator asked for something the exposure's state does not allow."""


class Operator:
    def __init__(self, store: Store, authority: AwsAuthority) -> None:
        self.store = store
        self.authority = authority

    def act(
        self,
        exposure_id: int,
        action: str,
        actor: str,
        reason: str | None = None,
        resolution: str | None = None,
        assignee: str | None = None,
    ) -> str:
        """An operator's decision (any of ``OPERATOR_ACTIONS``); the exposure's state after it.
        ``reason`` is the comment; ``resolution`` says why a close (one of ``RESOLUTIONS``);
        ``assignee`` is who an exposure is assigned to ("" or None with ``assign``: nobody)."""
        if reason is not None:  # text to store: PostgreSQL's text holds no NUL
            reason = nul_free(reason)
        rule = operator_action(action)
        if rule is None:
            raise ActionError(f"unknown action {action!r}; one of {sorted(OPERATOR_ACTIONS)}")
        if rule.needs_reason and not (reason and reason.strip()):
            raise ActionError(f"{rule.name} needs a reason")
        if rule.name == "release":
            return self.release(exposure_id, actor, reason)
        if rule.name == "assign":
            return self.assign(exposure_id, actor, assignee, reason)
        with self.store.transaction() as db:
            row = _exposure(db, exposure_id)
            if row["state"] not in rule.allowed_from:
                raise ActionError(f"cannot {rule.name} an exposure that is {row['state']}")
            if rule.to_state is None:  # a comment: on the timeline, nothing else changes
                append_event(db, exposure_id, rule.name, actor=actor, reason=reason)
                return str(row["state"])
            if rule.to_state == NEW:
                reopen(db, exposure_id, actor, reason or "", NEW)
                return NEW
            changes: dict[str, Any] = {"state": rule.to_state, "state_reason": reason}
            event: dict[str, Any] = {"reason": reason, "was": row["state"]}
            if rule.needs == "resolution" or rule.to_state == State.FALSE_POSITIVE:
                chosen = _resolution(rule, resolution)
                event["resolution"] = changes["resolution"] = chosen
                if chosen == "false_positive":
                    changes["state"] = State.FALSE_POSITIVE
            if changes["state"] in SETTLED:
                changes.update(next_due_at=None, next_due_step=None)
            append_event(db, exposure_id, rule.name, actor=actor, **event)
            update_exposure(db, exposure_id, changes)
            return str(changes["state"])

    def assign(self, exposure_id: int, actor: str, assignee: str | None, reason: str | None) -> str:
        """Give the exposure to ``assignee`` (None or "": to nobody); the state stays as it is."""
        who = (assignee or "").strip() or None
        if who is not None and (len(who) > 128 or not re.match(ASSIGNEE_PATTERN, who)):
            raise ActionError("an assignee is a name or an address of at most 128 characters, none a control")
        with self.store.transaction() as db:
            row = _exposure(db, exposure_id)
            if row["assignee"] == who:
                return str(row["state"])  # already so: nothing to record
            kind = "assign" if who else "unassign"
            append_event(db, exposure_id, kind, actor=actor, assignee=who, was=row["assignee"], reason=reason)
            update_exposure(db, exposure_id, {"assignee": who})
            return str(row["state"])

    def release(self, exposure_id: int, actor: str, reason: str | None) -> str:
        """Take the quarantine off (an operator's decision, recorded with who and why)."""
        if not reason:
            raise ActionError("release needs a reason")
        with self.store.transaction() as db:
            row = _exposure(db, exposure_id)
            containment = dict(row["containment"] or {})
            if not containment.get("applied") or containment.get("released_at"):
                raise ActionError("nothing to release: no quarantine is in place")
            append_event(db, exposure_id, "release.started", actor=actor, reason=reason)
        account_id, principal = row["account_id"], row["principal_name"]
        assert account_id is not None and principal is not None
        if containment.get("kind") == "revoke-role-sessions":
            removed = self.authority.remove_role_revocation(account_id, principal)
        else:
            removed = self.authority.detach_user_policy(account_id, principal, containment["policy_arn"])
        crash_point("release.after_call")
        with self.store.transaction() as db:
            row = _exposure(db, exposure_id)
            containment.update(
                released_at=utcnow().isoformat(), released_by=actor, release_reason=reason, deactivate_at=None
            )
            when, which = next_due(SimpleNamespace(**{**row, "containment": containment}))
            update_exposure(
                db, exposure_id, {"containment": containment, "next_due_at": when, "next_due_step": which}
            )
            append_event(
                db, exposure_id, "release.succeeded", actor=actor, reason=reason, was_in_place=removed
            )
            return str(row["state"])


def _resolution(rule: OperatorAction, given: str | None) -> str:
    """The resolution a close records (a false positive's is itself); hyphens as the CLI writes it."""
    if rule.to_state == State.FALSE_POSITIVE:
        return "false_positive"
    chosen = (given or "").strip().lower().replace("-", "_").replace(" ", "_").replace("'", "")
    if chosen not in RESOLUTIONS:
        raise ActionError(f"{rule.name} needs a resolution: one of {', '.join(RESOLUTIONS)}")
    return chosen


def _exposure(db: Any, exposure_id: int) -> dict[str, Any]:
    row = load_exposure(db, exposure_id)
    if row is None:
        raise ActionError(f"no exposure {exposure_id}")
    return row
