"""What ``/openapi.json`` says about the bodies the intake endpoints read as raw bytes (they parse and
verify the body themselves, the partner endpoint before anything else): the formats each accepts and
answers, so that a generated client sends and reads the right shapes.

No ``from __future__ import annotations``: pydantic builds these models' schemas at run time."""

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from keysentry.intake.formats import MAX_LINE
from keysentry.intake.github_partner import MAX_BATCH, MAX_TOKEN


class KeysentryReport(BaseModel):
    """keysentry's own report: a key ID and its secret (or text holding a credential) and where it was."""

    model_config = ConfigDict(
        extra="allow",
        # one of them at least: a report with none of them holds nothing to scan
        json_schema_extra={
            "anyOf": [{"required": ["key_id"]}, {"required": ["secret"]}, {"required": ["text"]}]
        },
    )
    key_id: str | None = Field(default=None, description="The access key ID (AKIA…, ASIA…).")
    secret: str | None = Field(
        default=None,
        description="The secret access key: scanned in memory, never stored (only its SHA-256).",
        json_schema_extra={"format": "password", "writeOnly": True},
    )
    text: str | None = Field(default=None, description="Text holding any credential keysentry detects.")
    url: str | None = Field(default=None, description="Where it was exposed.")
    repository: str | None = None
    commit: str | None = None
    path: str | None = None
    line: int | None = Field(default=None, ge=1, le=MAX_LINE)
    author: str | None = None
    committed_at: str | None = Field(
        default=None, description="ISO 8601, with a time zone.", json_schema_extra={"format": "date-time"}
    )


class GitleaksFinding(BaseModel):
    """One item of ``gitleaks git|dir --report-format json``."""

    model_config = ConfigDict(extra="allow")
    RuleID: str
    Secret: str | None = None
    Match: str | None = None
    File: str | None = None
    StartLine: int | None = Field(default=None, ge=1, le=MAX_LINE)
    StartColumn: int | None = Field(default=None, ge=1, le=MAX_LINE)
    Commit: str | None = None
    Author: str | None = None
    Email: str | None = None
    Date: str | None = None
    Link: str | None = None


class BetterleaksReport(BaseModel):
    """betterleaks 2's report (``-o report.json``): its findings, each with the ``match``, the
    ``location``, the ``attributes`` (``git.sha``, ``git.author_name``, ``git.date``, ``url`` …) and the
    ``component_sets`` holding a credential's other parts.  Its JSON Lines (``-o report.jsonl``) holds one
    ``{"schema_version", "finding"}`` a line."""

    model_config = ConfigDict(extra="allow")
    schema_version: str
    findings: list[dict[str, Any]]
    scan: dict[str, Any] | None = None


def _no_default(schema: dict[str, Any]) -> None:
    """(An optional field that is never null: the description shows no null default.)"""
    schema.pop("default", None)


class BetterleaksLine(BaseModel):
    """One line of betterleaks 2's JSON Lines (``-o report.jsonl``): a finding, or the closing summary
    (``{"schema_version", "scan"}``, nothing to read in it)."""

    schema_version: str
    finding: dict[str, Any] = Field(
        default=None,  # type: ignore[arg-type]
        description="One finding, as in the report's findings.",
        json_schema_extra=_no_default,
    )
    scan: dict[str, Any] = Field(
        default=None,  # type: ignore[arg-type]
        description="The closing summary.",
        json_schema_extra=_no_default,
    )
    model_config = ConfigDict(
        extra="allow", json_schema_extra={"anyOf": [{"required": ["finding"]}, {"required": ["scan"]}]}
    )


class SarifLog(BaseModel):
    """A SARIF 2.1.0 log (``gitleaks --report-format sarif``): each result's secret is in
    ``region.snippet.text``, its commit, author and date in ``partialFingerprints``."""

    model_config = ConfigDict(extra="allow")
    version: str | None = None
    runs: list[dict[str, Any]]


class TrufflehogFinding(BaseModel):
    """One line of ``trufflehog … --json`` (a JSON Lines body holds one per line)."""

    model_config = ConfigDict(extra="allow")
    DetectorName: str
    Raw: str | None = None
    RawV2: str | None = None
    SourceMetadata: dict[str, Any] | None = None


class ReportedCredential(BaseModel):
    key_id: str
    credential_type: str
    exposure_id: int


class ReportedItem(BaseModel):
    index: int = Field(description="The item's position in the body, from 0.")
    detector: str
    where: str
    exposures: list[int] = Field(description="The exposures it led to (committed).")
    reason: str | None = Field(
        description="Why it led to none: no credential recognised, an example key, or the scanner "
        "redacted the value (nothing to scan)."
    )


class ReportAccepted(BaseModel):
    """Everything the report revealed was recorded (committed) before this answer."""

    accepted: int = Field(description="Items read from the body.")
    credentials: list[ReportedCredential] = Field(description="Each usable credential and its exposure.")
    without_a_usable_credential: int = Field(description="Items that held no usable credential.")
    items: list[ReportedItem] = Field(
        default_factory=list, description="Each item: what it led to, or why nothing."
    )


class PartnerToken(BaseModel):
    """One token GitHub found (GitHub's secret scanning partner program)."""

    token: str = Field(min_length=1, max_length=MAX_TOKEN)
    type: str = Field(min_length=1)
    url: str | None = None
    source: str | None = Field(default=None, description="content, commit, pull_request_title, …")


class PartnerLabel(BaseModel):
    token_hash: str = Field(description="SHA-256 of the token, hex.")
    token_type: str
    label: Literal["true_positive", "false_positive"]


class ErrorBody(BaseModel):
    error: str


DOCUMENTED = (
    KeysentryReport,
    GitleaksFinding,
    BetterleaksReport,
    BetterleaksLine,
    SarifLog,
    TrufflehogFinding,
    PartnerToken,
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


REPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Another scanner's output as it is, or keysentry's own format (one or a list).",
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        _ref(KeysentryReport),
                        {"type": "array", "items": _ref(KeysentryReport)},
                        {"type": "array", "items": _ref(GitleaksFinding)},
                        _ref(BetterleaksReport),
                        _ref(BetterleaksLine),
                        _ref(SarifLog),
                        _ref(TrufflehogFinding),
                    ]
                }
            },
            "application/x-ndjson": {
                "schema": {
                    "type": "string",
                    "description": "trufflehog --json or betterleaks -o report.jsonl: one finding a line.",
                }
            },
        },
    }
}
PARTNER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "GitHub's batch of found tokens, signed over the raw body (ECDSA P-256, SHA-256).",
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": _ref(PartnerToken), "minItems": 1, "maxItems": MAX_BATCH}
            }
        },
    },
    "parameters": [
        {
            "name": "Github-Public-Key-Identifier",
            "in": "header",
            "required": True,
            "description": "Which of GitHub's secret scanning keys signed the body.",
            "schema": {"type": "string"},
        },
        {
            "name": "Github-Public-Key-Signature",
            "in": "header",
            "required": True,
            "description": "Base64 DER ECDSA signature over the raw body.",
            "schema": {"type": "string"},
        },
    ],
}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "The body is in none of the accepted formats; nothing recorded.",
    },
}
# What the door (service/limits.py) may answer any request with a body, before the route sees it.
DOOR: dict[int | str, dict[str, Any]] = {
    408: {
        "model": ErrorBody,
        "description": "The body did not arrive within [service] body_timeout; nothing recorded.",
    },
    413: {
        "model": ErrorBody,
        "description": "The body is larger than [service] max_report_bytes; nothing read or recorded.",
    },
    503: {
        "model": ErrorBody,
        "description": "The bodies being received add up to [service] max_bodies_bytes; nothing read.  "
        "Retry-After says when to try again.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
    },
}
LIMITED: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorBody,
        "description": "More reports a minute from this token than [service] report_rate allows; nothing "
        "read.  Retry-After says in how many seconds to try again.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
    },
}


def install_openapi(app: FastAPI) -> None:
    """The request bodies' models join the generated components (they are referenced, not inferred)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in DOCUMENTED:
                components.setdefault(
                    model.__name__, model.model_json_schema(ref_template="#/components/schemas/{model}")
                )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
