"""The exposures REST API: list (cursor pagination, filters), detail, operator actions (one or many),
CSV export.  Reading needs the viewer role, acting the responder role; every action is recorded on the
exposure's timeline with the token's name as the actor.

No ``from __future__ import annotations``: FastAPI reads these annotations at run time."""

import csv
import io
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from annotated_types import Interval
from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from keysentry.detect.rules import Severity
from keysentry.errors import KeysentryError
from keysentry.escaping import spreadsheet_cell
from keysentry.respond.operator import ASSIGNEE_PATTERN
from keysentry.respond.outcome import WORDS, outcome_is, outcome_of
from keysentry.respond.responder import Responder
from keysentry.respond.states import OPERATOR_ACTIONS, RESOLUTIONS, OperatorAction, State
from keysentry.service.api_docs import DOOR
from keysentry.service.auth import UNAUTHORIZED, permitted
from keysentry.service.routes.models import ActionDone, BulkDone, ErrorDetail, ExposureDetail, ExposurePage
from keysentry.store.db import Session
from keysentry.store.models import MAX_ID, Exposure, Sighting
from keysentry.store.queries import (
    ExposureFilter,
    deliveries_of,
    each_exposure,
    exposure_by_id,
    page_exposures,
)
from keysentry.store.tokens import Caller

MAX_PAGE = 500
CSV_COLUMNS = (
    "id", "key_id", "credential_type", "outcome", "outcome_reason", "state", "severity", "assignee",
    "resolution", "account_id", "account_name", "principal_arn", "first_seen_at", "detected_at",
    "contained_at", "notified_at", "source", "url",
)  # fmt: skip
Outcome = Literal[WORDS]  # type: ignore[valid-type]
Resolution = Literal[tuple(RESOLUTIONS)]  # type: ignore[valid-type]


class Action(BaseModel):
    """The body of an action that takes an optional comment."""

    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000, description="Why, or a comment.")


class ReasonedAction(Action):
    """The body of an action that needs a reason (comment, false_positive, reopen, release)."""

    reason: str = Field(max_length=2000, pattern=r"\S", description="Why, or the comment (required).")


class Closing(Action):
    """Close: why (the resolution, required) and an optional comment."""

    resolution: Resolution = Field(description="Why it is closed.")  # type: ignore[valid-type]


class Assigning(Action):
    """Assign: to whom (null or empty: to nobody), with an optional comment."""

    assignee: str | None = Field(
        max_length=128,
        pattern=ASSIGNEE_PATTERN,
        description="A person's name or address; null or empty unassigns.",
    )


# The largest exposure number the API takes: the largest integer every JSON reader holds exactly.
API_MAX_ID = 2**53 - 1


def _whole_number(value: Any) -> Any:
    """An exposure's number in a body: a JSON integer (12, or 12.0), never true or false."""
    if isinstance(value, bool):
        raise ValueError("an exposure's number, not true or false")
    return value


ExposureId = Annotated[int, Interval(ge=1, le=API_MAX_ID), BeforeValidator(_whole_number)]
ExposureInPath = Annotated[int, Path(ge=1, le=API_MAX_ID, description="The exposure's number.")]


def _body_of(action: OperatorAction) -> type[Action]:
    if action.needs == "resolution":
        return Closing
    if action.needs == "assignee":
        return Assigning
    return ReasonedAction if action.needs_reason else Action


def _bulk_of(body: type[Action]) -> type[Action]:
    """The same body with the exposures' numbers (``ids``)."""
    return create_model(
        f"Bulk{body.__name__}",
        __base__=body,
        ids=(list[ExposureId], Field(min_length=1, max_length=1000, description="The exposures' numbers.")),
    )


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _cursor(exposure_id: int) -> str:
    """The next page starts below this exposure: its number, as text (the schema's pattern)."""
    return str(exposure_id)


def _after(cursor: str | None) -> int | None:
    before = int(cursor) if cursor else None
    return before if before is not None and before <= MAX_ID else None  # (past every ID: from the top)


def summary(e: Exposure) -> dict[str, Any]:
    first = e.sightings[0] if e.sightings else None
    return {
        "id": e.id,
        "key_id": e.key_id,
        "credential_type": e.credential_type,
        **outcome_of(e.state, e.containment, e.state_reason).as_dict(),
        "state": e.state,
        "state_reason": e.state_reason,
        "assignee": e.assignee,
        "resolution": e.resolution,
        "severity": e.severity,
        "confidence": e.confidence,
        "account_id": e.account_id,
        "account_name": e.account_name,
        "principal_type": e.principal_type,
        "principal_arn": e.principal_arn,
        "source": first.source_kind if first else None,
        "url": (first.url or first.repository) if first else None,
        "first_seen_at": _iso(e.first_seen_at),
        "detected_at": _iso(e.detected_at),
        "contained_at": _iso(e.contained_at),
        "notified_at": _iso(e.notified_at),
        "secret_sha256": e.secret_fingerprint or None,
    }


def csv_of(records: Iterable[dict[str, Any]]) -> str:
    """Exposure summaries as CSV (``CSV_COLUMNS``); no cell can start a spreadsheet formula."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow({k: spreadsheet_cell(v) for k, v in record.items()})
    return buffer.getvalue()


def _sighting(s: Sighting) -> dict[str, Any]:
    return {
        "source": s.source_kind,
        "repository": s.repository,
        "origin": s.origin,
        "url": s.url,
        "commit": s.commit,
        "path": s.path,
        "line": s.line,
        "author": s.author,
        "committed_at": _iso(s.committed_at),
        "decoding": s.decoding,
        "seen_at": _iso(s.seen_at),
    }


def detail(session: Session, e: Exposure) -> dict[str, Any]:
    messages, attempts = deliveries_of(session, e.id)
    case = next((m for m in messages if m.channel == "case"), None)
    return {
        **summary(e),
        "containment": e.containment,
        "key_status": e.key_status,
        "key_last_used": e.key_last_used,
        "secret_live": e.secret_live,
        "mode": e.mode,
        "investigation": e.investigation,
        "reopened": e.reopened,
        "sightings": [_sighting(s) for s in e.sightings],
        "timeline": [
            {"at": _iso(t.at), "kind": t.kind, "actor": t.actor, "detail": t.detail} for t in e.timeline
        ],
        "case": case.payload.get("markdown") if case else None,
        "deliveries": [
            {
                "channel": m.channel,
                "kind": m.kind,
                "round": m.round,
                "state": m.state,
                "attempts": m.attempts,
                "sent_at": _iso(m.sent_at),
                "receipt": m.receipt,
                "last_error": m.last_error,
                "tries": [
                    {"at": _iso(a.at), "ok": a.ok, "receipt": a.receipt, "error": a.error}
                    for a in attempts.get(m.id, [])
                ],
            }
            for m in messages
        ],
    }


def _iso_only(value: Any) -> Any:
    """A time in a query is ISO 8601 text; pydantic alone would also take a number (Unix seconds)."""
    if isinstance(value, str) and not re.match(r"\d{4}-\d\d-\d\d", value):
        raise ValueError("an ISO 8601 time (2026-12-07T04:00:00Z), not a number")
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso_only)]


def filters(
    state: Annotated[list[State] | None, Query(description="Only these states (repeat it).")] = None,
    account: Annotated[str | None, Query(description="Only this account ID.")] = None,
    credential_type: Annotated[str | None, Query(description="e.g. aws_access_key")] = None,
    source: Annotated[
        str | None, Query(description="Seen in this kind of source: git, github, report …")
    ] = None,
    since: Annotated[IsoTime | None, Query(description="Detected at or after (ISO 8601).")] = None,
    until: Annotated[IsoTime | None, Query(description="Detected before (ISO 8601).")] = None,
    outcome: Annotated[
        Outcome | None,
        Query(description="Only those with this outcome (contained, not contained …)."),
    ] = None,
    severity: Annotated[Severity | None, Query()] = None,
    assignee: Annotated[
        str | None, Query(max_length=128, description='Assigned to this person; "none": to nobody.')
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="A key ID (or its start), or text in a repository or path."),
    ] = None,
) -> ExposureFilter:
    return ExposureFilter(
        state=[s.value for s in state] if state else None,
        account=account,
        credential_type=credential_type,
        source=source,
        since=since,
        until=until,
        severity=severity,
        search=q or None,
        assignee=assignee or None,
        where=(outcome_is(outcome),) if outcome else (),
    )


# The actions by their API names and the CLI's (ack, false-positive): anything else is no action.
NOT_FOUND = {"model": ErrorDetail, "description": "No exposure has that number."}
CONFLICT = {"model": ErrorDetail, "description": "The exposure's state does not allow the action."}
BAD_BODY = {
    "model": ErrorDetail,
    "description": "The body is not JSON, or lacks what the action needs (a reason, a resolution).",
}
ACTIONS_SUMMARY = " or ".join(", ".join(OPERATOR_ACTIONS).rsplit(", ", 1))
ACTIONS_SUMMARY += " (release takes the quarantine off)"


def exposures_router(responder: Responder) -> APIRouter:
    router = APIRouter(prefix="/v1/exposures", tags=["exposures"], responses=UNAUTHORIZED)
    store = responder.store

    @router.get("", summary="List exposures, newest first, a page at a time", response_model=ExposurePage)
    def list_exposures(
        _caller: Annotated[Caller, permitted("GET", "/v1/exposures", store)],
        chosen: Annotated[ExposureFilter, Depends(filters)],
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        cursor: Annotated[
            str | None,
            Query(pattern=r"^[1-9][0-9]{0,18}$", description="next_cursor of the previous page"),
        ] = None,
    ) -> dict[str, Any]:
        with store.session() as session:
            rows = page_exposures(session, chosen, limit, before=_after(cursor))
            items = [summary(e) for e in rows[:limit]]
        more = len(rows) > limit
        return {"items": items, "next_cursor": _cursor(items[-1]["id"]) if more else None}

    @router.get(
        ".csv",
        summary="Every exposure that matches the filters, as CSV",
        response_class=Response,
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    def export_csv(
        _caller: Annotated[Caller, permitted("GET", "/v1/exposures.csv", store)],
        chosen: Annotated[ExposureFilter, Depends(filters)],
    ) -> Response:
        with store.session() as session:
            text = csv_of(summary(e) for e in each_exposure(session, chosen))
        return Response(
            text,
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="exposures.csv"'},
        )

    @router.get(
        "/{exposure_id}",
        summary="One exposure: sightings, timeline, investigation, deliveries",
        response_model=ExposureDetail,
        responses={404: NOT_FOUND},
    )
    def get_exposure(
        exposure_id: ExposureInPath,
        _caller: Annotated[Caller, permitted("GET", "/v1/exposures/{exposure_id}", store)],
    ) -> dict[str, Any]:
        with store.session() as session:
            e = exposure_by_id(session, exposure_id)
            if e is None:
                raise HTTPException(404, f"no exposure {exposure_id}")
            return detail(session, e)

    for action in OPERATOR_ACTIONS.values():
        _action_routes(router, responder, action)
    return router


def _action_routes(router: APIRouter, responder: Responder, action: OperatorAction) -> None:
    """``POST /v1/exposures/{id}/{action}`` and ``/bulk/{action}``, each with the body the action
    takes, by its API name (and, not in the description, the CLI's: ``ack``, ``false-positive``)."""
    body_model, bulk_model = _body_of(action), _bulk_of(_body_of(action))
    store = responder.store
    acting = Annotated[Caller, permitted("POST", f"/v1/exposures/{{exposure_id}}/{action.name}", store)]
    acting_on_many = Annotated[Caller, permitted("POST", f"/v1/exposures/bulk/{action.name}", store)]

    async def one(exposure_id: ExposureInPath, body: body_model, caller: acting) -> dict[str, Any]:  # type: ignore[valid-type]
        return await run_in_threadpool(_act, responder, exposure_id, action.name, caller, body)

    async def many(body: bulk_model, caller: acting_on_many) -> dict[str, Any]:  # type: ignore[valid-type]
        results = []
        for exposure_id in body.ids:  # type: ignore[attr-defined]
            try:
                results.append(
                    await run_in_threadpool(_act, responder, exposure_id, action.name, caller, body)
                )
            except HTTPException as exc:
                results.append({"id": exposure_id, "error": exc.detail, "status": exc.status_code})
        return {"results": results}

    for name in dict.fromkeys((action.name, action.command)):  # (/bulk/… first: "bulk" is no number)
        listed = name == action.name
        router.post(
            f"/bulk/{name}",
            summary=f"{action.label}, for many exposures (each answered on its own)",
            response_model=BulkDone,
            response_model_exclude_unset=True,
            responses={400: BAD_BODY, **DOOR},
            include_in_schema=listed,
            name=f"{action.name}_many" + ("" if listed else "_cli"),
        )(many)
        router.post(
            f"/{{exposure_id}}/{name}",
            summary=f"{action.label}: {action.summary}",
            response_model=ActionDone,
            responses={400: BAD_BODY, 404: NOT_FOUND, 409: CONFLICT, **DOOR},
            include_in_schema=listed,
            name=f"{action.name}_one" + ("" if listed else "_cli"),
        )(one)


def _act(responder: Responder, exposure_id: int, action: str, caller: Caller, body: Action) -> dict[str, Any]:
    """An operator action by an API caller; its failure as the HTTP status it means."""
    try:
        state = responder.act(
            exposure_id,
            action,
            actor=f"api:{caller.name}",
            reason=body.reason,
            resolution=getattr(body, "resolution", None),
            assignee=getattr(body, "assignee", None),
        )
    except KeysentryError as exc:
        code = 404 if str(exc).startswith("no exposure") else 409
        if any(w in str(exc) for w in ("needs a", "unknown action", "an assignee is")):
            code = 400
        raise HTTPException(code, str(exc)) from None
    return {"id": exposure_id, "state": state}
