"""What the owner is told, and when: the facts of an exposure, queued in the outbox with the state change
that calls for an announcement (containment, or the reason there was none)."""

from __future__ import annotations

import tomllib
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from keysentry.config.settings import Settings
from keysentry.detect.rules import rule_by_id
from keysentry.notify.channel import Channel
from keysentry.notify.health_event import ExposureFacts
from keysentry.notify.outbox import Delivery, enqueue
from keysentry.respond.issuers import issuer_of
from keysentry.respond.states import ANNOUNCED_FROM, NOTIFIED, State
from keysentry.respond.view import ExposureView
from keysentry.store.exposures import Db, timeline_row
from keysentry.store.response import states_of, write_states

EXPOSURE_KIND = "exposure"  # the one announcement per exposure and round


@cache
def _remediation() -> dict[str, Any]:
    return tomllib.loads(
        resources.files(__package__).joinpath("remediation.toml").read_text(encoding="utf-8")
    )


def remediation_steps(credential_type: str, principal_type: str | None = None) -> list[str]:
    """What the owner should do, for this kind of credential and principal (``remediation.toml``)."""
    table = _remediation()
    steps = table.get(f"{credential_type}-{principal_type}") or table.get(credential_type, {})
    return list(steps.get("steps", []))


def remediation_for(x: ExposureView) -> list[str]:
    """What the owner of this exposure should do: AWS's steps by principal, else its issuer's."""
    if x.credential_type == "aws_access_key":
        c = x.containment or {}
        if x.suspected:
            return remediation_steps(x.credential_type, "suspected")
        if c.get("why") in ("unowned", "not-ours"):  # no principal of ours to act on
            return remediation_steps(x.credential_type, str(c["why"]))
        if c and not c.get("applied") and x.principal_type in ("iam-user", "role-session"):
            # notify-only, dry run: nothing was attached or revoked, so no step may say "keep it"
            uncontained = "uncontained" if x.principal_type == "iam-user" else "role-session-uncontained"
            return remediation_steps(x.credential_type, uncontained)
        return remediation_steps(x.credential_type, x.principal_type)
    if x.credential_type in _remediation():
        return remediation_steps(x.credential_type)
    issuer = issuer_of(x)
    revoked = bool((x.containment or {}).get("applied"))
    steps = _remediation()["issuer-revoked" if revoked else "issuer-not-revoked"]["steps"]
    return [step.format(issuer=issuer.name, rotate_url=issuer.rotate_url) for step in steps]


def _label(x: ExposureView) -> str:
    if x.credential_type == "aws_access_key":
        return "AWS access key ID (its secret not seen)" if x.suspected else "AWS access key"
    rule = rule_by_id(x.rule_id)
    return rule.description if rule is not None else x.credential_type.replace("_", " ")


def facts_of(x: ExposureView, settings: Settings) -> ExposureFacts:
    first = x.first_sighting()
    issuer = issuer_of(x)
    return ExposureFacts(
        exposure_id=x.id,
        key_id=x.key_id,
        account_id=x.account_id or "",
        region=settings.aws_region,
        principal_name=x.principal_name,
        principal_arn=x.principal_arn,
        state=x.state,
        exposed_url=(first.url or first.repository) if first else None,
        source=first.as_dict() if first else {},
        first_seen_at=x.first_seen_at,
        detected_at=x.detected_at,
        contained_at=x.contained_at,
        containment=x.containment,
        dashboard_url=settings.dashboard_url,
        remediation=remediation_for(x),
        round=x.reopened,
        secret_live=x.secret_live,
        account_name=x.account_name,
        credential_type=x.credential_type,
        principal_type=x.principal_type,
        severity=(x.containment or {}).get("severity") or x.severity or "high",
        investigation=(x.investigation or {}).get("latest"),
        credential_label=_label(x),
        issuer=issuer.name,
        rotate_url=issuer.rotate_url,
        suspected=x.suspected,
    )


def investigation_schedule(row: dict[str, Any], settings: Settings, now: datetime) -> dict[str, Any]:
    """The changes an announcement brings to the exposure: the times at which to read CloudTrail."""
    aws_key = row["credential_type"] == "aws_access_key"
    if not aws_key or not row["account_id"] or row["state"] == State.NOT_OURS:
        return {}
    previous = row["investigation"] or {}
    return {
        "investigation": {
            **previous,
            "due": [(now + delay).isoformat() for delay in settings.investigation_delays],
            "runs": previous.get("runs", []),
        }
    }


def queue_announcement(
    session: Db, exposure: ExposureView, settings: Settings, channels: dict[str, Channel], now: datetime
) -> dict[str, Any]:
    """Queue the exposure's announcement on every channel, in the caller's transaction (``exposure`` as
    that transaction leaves it).  Returns the ``notify.queued`` event for its timeline."""
    facts = facts_of(exposure, settings)
    queued = enqueue(session, facts, EXPOSURE_KIND, channels, now)
    return timeline_row(exposure.id, "notify.queued", channels=queued, notification_id=facts.notification_id)


def mark_notified(session: Db, deliveries: list[Delivery], now: datetime) -> dict[int, tuple[str, str]]:
    """The dispatcher delivered messages: for each exposure, the first announcement of its current round
    to arrive anywhere makes it ``notified``.  Returns (from state, to state) by the message that moved
    it.  A few statements for the whole round, whatever its size."""
    told = [d for d in deliveries if d.kind == EXPOSURE_KIND and d.channel != "case"]  # the case is ours
    if not told:
        return {}
    current: dict[int, tuple[str | None, int | None]] = dict(
        states_of(session, [d.exposure_id for d in told])
    )
    moved: dict[int, tuple[str, str]] = {}
    updates, events = [], []
    for d in told:
        state, reopened = current.get(d.exposure_id, (None, None))
        if state not in ANNOUNCED_FROM or reopened != d.round:
            continue
        current[d.exposure_id] = (NOTIFIED, reopened)  # a second channel's message changes nothing
        moved[d.message_id] = (state, NOTIFIED)
        updates.append({"eid": d.exposure_id, "state": NOTIFIED, "notified_at": now, "updated_at": now})
        notified = timeline_row(
            d.exposure_id, "notified", from_state=state, channel=d.channel, receipt=d.sent.receipt
        )
        events.append({**notified, "at": now})
    write_states(session, updates, events)
    return moved
