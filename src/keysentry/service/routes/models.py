"""What the exposures API answers, as pydantic models: the OpenAPI description shows them, and FastAPI
checks every answer against them.  Times are ISO 8601 strings in UTC; ``extra="forbid"`` makes a key
added to an answer without its model an error in the tests, not a silently dropped field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExposureSummary(_Answer):
    id: int
    key_id: str = Field(description="The access key ID (never the secret).")
    credential_type: str
    outcome: str = Field(
        description="What was done to the credential: contained, revoked, released, not contained, "
        "not acted on (an example, a canary, low confidence), or pending."
    )
    outcome_reason: str = Field(
        description='What was done, or why not ("IAM in account 123456789012 does not know this key").'
    )
    contained: bool = Field(description="Whether the credential is contained or revoked now.")
    state: str = Field(description="Where the exposure stands in its handling (notified, acknowledged …).")
    state_reason: str | None
    assignee: str | None = Field(description="Who it is assigned to (null: nobody).")
    resolution: str | None = Field(
        description="Why it was closed: revoked, rotated, false_positive, used_in_tests, wont_fix."
    )
    severity: str | None
    confidence: str | None = Field(
        description="How sure detection was that it is a real credential: high (a checksum or structure "
        "holds, or a verified pair), medium (a typed rule), low (a failed checksum, a malformed key)."
    )
    account_id: str | None
    account_name: str | None
    principal_type: str | None
    principal_arn: str | None
    source: str | None = Field(description="Where it was first seen: git, github, report …")
    url: str | None
    first_seen_at: str | None
    detected_at: str | None
    contained_at: str | None
    notified_at: str | None
    secret_sha256: str | None = Field(description="SHA-256 of the secret, hex.")


class ExposurePage(_Answer):
    items: list[ExposureSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last.")


class SightingOut(_Answer):
    source: str
    repository: str | None = Field(description="What was scanned: a folder, or the clone URL given.")
    origin: str | None = Field(description="A local clone's origin URL (credentials removed).")
    url: str | None
    commit: str | None
    path: str | None
    line: int | None
    author: str | None
    committed_at: str | None
    decoding: str | None
    seen_at: str | None


class TimelineEntry(_Answer):
    at: str | None
    kind: str
    actor: str
    detail: dict[str, Any] | None


class DeliveryTry(_Answer):
    at: str | None
    ok: bool
    receipt: str | None
    error: str | None


class DeliveryOut(_Answer):
    channel: str
    kind: str
    round: int
    state: str
    attempts: int
    sent_at: str | None
    receipt: str | None
    last_error: str | None
    tries: list[DeliveryTry]


class ExposureDetail(ExposureSummary):
    containment: dict[str, Any] | None
    key_status: str | None
    key_last_used: dict[str, Any] | None
    secret_live: str | None
    mode: str | None
    investigation: dict[str, Any] | None
    reopened: int | None
    sightings: list[SightingOut]
    timeline: list[TimelineEntry]
    case: str | None = Field(description="The case write-up (Markdown).")
    deliveries: list[DeliveryOut]


class ActionDone(_Answer):
    id: int
    state: str = Field(description="The exposure's state after the action.")


class BulkItem(_Answer):
    id: int
    state: str | None = Field(default=None, description="After the action, when it was done.")
    error: str | None = Field(default=None, description="Why it was not done.")
    status: int | None = Field(default=None, description="The HTTP status it would have had alone.")


class BulkDone(_Answer):
    results: list[BulkItem]


class ErrorDetail(_Answer):
    detail: str = Field(description="What was wrong, in words.")
