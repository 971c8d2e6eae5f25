"""A Health-compatible ``AWS_RISK_CREDENTIALS_EXPOSED`` event for one exposure.

Automation written for AWS Health reads ``detail.affectedEntities[0].entityValue``
(aws-health-tools) or ``detail.eventMetadata.publicKey``/``userName``/``accountId``/
``exposedUrl`` (aws-samples); both are filled.  What only keysentry knows goes
under ``detail.keysentry``.  The event never contains the secret.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from importlib import resources
from typing import Any

from keysentry.escaping import printable

EVENT_TYPE = "AWS_RISK_CREDENTIALS_EXPOSED"
SUSPECTED_EVENT_TYPE = "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED"  # a key ID seen without its secret
CREDENTIAL_DETAIL_TYPE = "keysentry Credential Exposure"  # every other credential: not a Health event
NOTIFICATION_NAMESPACE = uuid.UUID("6f1d3c52-4b1e-4bb8-9c53-6b0f0d4c8a11")
DETAIL_TYPE = "AWS Health Event"


@dataclass(frozen=True)
class ExposureFacts:
    """What an announcement says about an exposure; built by respond from the store."""

    exposure_id: int
    key_id: str
    account_id: str
    region: str
    principal_name: str | None
    principal_arn: str | None
    state: str
    exposed_url: str | None
    source: dict[str, Any]
    first_seen_at: datetime | None
    detected_at: datetime
    contained_at: datetime | None
    containment: dict[str, Any] | None
    dashboard_url: str
    remediation: list[str] = field(default_factory=list)
    round: int = 0  # how often the exposure was reopened: a reopened exposure is announced anew
    account_name: str | None = None
    credential_type: str = "aws_access_key"
    principal_type: str | None = None
    severity: str = "high"
    investigation: dict[str, Any] | None = None  # the latest CloudTrail summary, when one was read
    secret_live: str | None = None  # the optional live check: live, rejected, unknown (None: not asked)
    credential_label: str = "AWS access key"  # what leaked, in words ("GitHub personal access token …")
    issuer: str = "AWS"
    rotate_url: str = ""
    suspected: bool = False  # an AWS key ID seen without its secret

    @property
    def aws(self) -> bool:
        return self.credential_type == "aws_access_key"

    @property
    def event_type(self) -> str:
        return SUSPECTED_EVENT_TYPE if self.suspected else EVENT_TYPE

    @property
    def exposure_url(self) -> str:
        """The exposure's page in the dashboard: its case, timeline and the messages sent."""
        return f"{self.dashboard_url.rstrip('/')}/exposures/{self.exposure_id}"

    @property
    def notification_id(self) -> str:
        """The same for every attempt to announce this exposure: what a consumer deduplicates on."""
        return str(
            uuid.uuid5(
                NOTIFICATION_NAMESPACE, f"{self.exposure_id}:{self.key_id}:{self.event_type}:{self.round}"
            )
        )


def _health_time(t: datetime) -> str:
    """Health's own format: ``Wed, 12 Feb 2025 00:37:54 GMT``."""
    return format_datetime(t, usegmt=True)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat().replace("+00:00", "Z") if t else None


def describe(f: ExposureFacts) -> str:
    """The event's plain-language description: what leaked, what keysentry did, what to do."""
    c = f.containment or {}
    where = f.exposed_url or f.source.get("where") or "a public location"
    if not f.aws:
        if c.get("applied"):
            action = f"keysentry had {f.issuer} revoke it ({c.get('call')}); it no longer works."
            todo = f"Replace it where it was used and review {f.issuer}'s log of its use."
        else:
            action = f"It was not revoked: {c.get('reason', 'no revocation was possible')}."
            todo = f"Revoke or rotate it at {f.issuer} now ({f.rotate_url})."
        return printable(f"The {f.credential_label} {f.key_id} was exposed at {where}. {action} {todo}")
    if f.suspected and not c.get("applied"):
        text = (
            f"The access key ID {f.key_id} of account {f.account_id} was seen at {where}, without its "
            f"secret. The key may be exposed: {c.get('reason', '')}. Find whether its secret was "
            "published too, and rotate the key if it may have been."
        )
        return printable(text)
    if c.get("applied") and c.get("kind") == "revoke-role-sessions":
        action = (
            f"keysentry revoked every session of the role {f.principal_name} issued before "
            f"{c.get('issued_before')}; new sessions work as before."
        )
        todo = (
            "Find how the temporary credentials leaked (a CI log, a debug dump), stop it, and review what "
            "the session did in CloudTrail."
        )
    else:
        owner = f"IAM user {f.principal_name}" if f.principal_name else "its owner"
        if c.get("applied"):
            action = (
                f"keysentry attached {c.get('policy_name')} to {owner}, which blocks resource creation "
                "and data access while existing workloads keep running."
            )
        else:
            action = (
                f"No quarantine was applied: {c.get('reason', 'no quarantine policy could be attached')}."
            )
        todo = (
            "Rotate the key (create a new one, move workloads, then deactivate the exposed key), review "
            "its activity in CloudTrail, and remove anything it created."
        )
    text = f"The access key {f.key_id} of account {f.account_id} was exposed at {where}. {action} {todo}"
    return printable(text)  # a reported URL may hold control characters; the description is read


def health_event_detail(f: ExposureFacts, now: datetime) -> dict[str, Any]:
    started = f.detected_at
    code = f.event_type
    communication = hashlib.sha256(f"{f.exposure_id}:{f.key_id}:{code}".encode()).hexdigest()[:44]
    return {
        "eventArn": f"arn:aws:health:{f.region}::event/RISK/{code}/{code}-keysentry-{f.exposure_id}",
        "service": "RISK",
        "eventTypeCode": code,
        "eventTypeCategory": "issue",
        "eventScopeCode": "ACCOUNT_SPECIFIC",
        "communicationId": communication,
        "startTime": _health_time(started),
        "endTime": _health_time(started + timedelta(days=14)),
        "lastUpdatedTime": _health_time(now),
        "statusCode": "open",
        "eventRegion": f.region,
        "eventDescription": [{"language": "en_US", "latestDescription": describe(f)}],
        "eventMetadata": {
            "accountId": f.account_id,
            "publicKey": f.key_id,
            "userName": f.principal_name or "",
            "exposedUrl": f.exposed_url or "",
            "truncated": "false",
        },
        "affectedEntities": [{"entityValue": f.key_id, "lastUpdatedTime": _health_time(now)}],
        "affectedAccount": f.account_id,
        "page": "1",
        "totalPages": "1",
        "keysentry": {
            **_what_keysentry_knows(f, now),
            "principalArn": f.principal_arn,
            "secretLive": f.secret_live,
        },
    }


def _what_keysentry_knows(f: ExposureFacts, now: datetime) -> dict[str, Any]:
    """The ``keysentry`` part of every event: the exposure, where it was seen, the times, the response."""
    return {
        "notificationId": f.notification_id,
        "exposureId": f.exposure_id,
        "state": f.state,
        "source": f.source,
        "firstSeenAt": _iso(f.first_seen_at),
        "detectedAt": _iso(f.detected_at),
        "containedAt": _iso(f.contained_at),
        "notifiedAt": _iso(now),
        "containment": f.containment,
        "remediation": f.remediation,
        "dashboardUrl": f.exposure_url,
    }


def credential_event_detail(f: ExposureFacts, now: datetime) -> dict[str, Any]:
    """Every other credential's event (``keysentry Credential Exposure``): the same facts, without
    pretending to be AWS Health (whose automation would look for an AWS key)."""
    return {
        "eventTypeCode": "CREDENTIAL_EXPOSED",
        "credentialType": f.credential_type,
        "credential": f.credential_label,
        "issuer": f.issuer,
        "keyId": f.key_id,
        "description": describe(f),
        "rotateUrl": f.rotate_url,
        "keysentry": {**_what_keysentry_knows(f, now), "owner": f.principal_arn or f.principal_name},
    }


def stamp_notified(detail: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The detail as sent at ``now``: a message is rendered when it is queued and may go out later."""
    if "affectedEntities" not in detail:  # not a Health event
        return {**detail, "keysentry": {**detail["keysentry"], "notifiedAt": _iso(now)}}
    stamped = {**detail, "lastUpdatedTime": _health_time(now)}
    stamped["affectedEntities"] = [
        {**e, "lastUpdatedTime": _health_time(now)} for e in detail["affectedEntities"]
    ]
    stamped["keysentry"] = {**detail["keysentry"], "notifiedAt": _iso(now)}
    return stamped


def risk_event_pattern(source: str) -> dict[str, Any]:
    """The EventBridge pattern existing Health automation uses (aws-health-tools), with our source."""
    text = resources.files(__package__).joinpath("risk_event_pattern.json").read_text(encoding="utf-8")
    pattern: dict[str, Any] = json.loads(text)
    pattern["source"] = [source]
    return pattern
