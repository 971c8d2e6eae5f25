"""The exposures REST API: list (cursor pagination, filters), detail, operator actions (one or many),
CSV export.  Reading needs the viewer role, acting the responder role; every action is recorded on the
exposure's timeline with the token's name as the actor.

No ``from __future__ import annotations``: FastAPI reads these annotations at run time."""

import base64
import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from keysentry.errors import KeysentryError
from keysentry.escaping import spreadsheet_cell
from keysentry.respond.outcome import WORDS, outcome_is, outcome_of
from keysentry.respond.responder import Responder
from keysentry.respond.states import OPERATOR_ACTIONS, RESOLUTIONS, operator_action
from keysentry.service.auth import UNAUTHORIZED, require
from keysentry.service.routes.models import ActionDone, BulkDone, ExposureDetail, ExposurePage
from keysentry.store.db import Session
from keysentry.store.models import Exposure, Sighting
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
    reason: str | None = Field(
        default=None,
        max_length=2000,
        description="Why, or the comment (required for comment, false_positive, reopen, release).",
    )
    resolution: Resolution | None = Field(  # type: ignore[valid-type]
        default=None, description="close: why it is closed (required)."
    )
    assignee: str | None = Field(
        default=None,
        max_length=128,
        description="assign: the person (a name or an address); null or empty unassigns.",
    )


class BulkAction(Action):
    ids: list[int] = Field(min_length=1, max_length=1000)


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _cursor(exposure_id: int) -> str:
    return base64.urlsafe_b64encode(str(exposure_id).encode()).decode()


def _after(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode())
    except ValueError:
        raise HTTPException(400, "not a cursor this API gave out") from None


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


def filters(
    state: Annotated[list[str] | None, Query(description="Only these states (repeat it).")] = None,
    account: Annotated[str | None, Query(description="Only this account ID.")] = None,
    credential_type: Annotated[str | None, Query(description="e.g. aws_access_key")] = None,
    source: Annotated[
        str | None, Query(description="Seen in this kind of source: git, github, report …")
    ] = None,
    since: Annotated[datetime | None, Query(description="Detected at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Detected before (ISO 8601).")] = None,
    outcome: Annotated[
        Outcome | None,
        Query(description="Only those with this outcome (contained, not contained …)."),
    ] = None,
    severity: Annotated[Literal["critical", "high", "medium", "low"] | None, Query()] = None,
    assignee: Annotated[
        str | None, Query(max_length=128, description='Assigned to this person; "none": to nobody.')
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="A key ID (or its start), or text in a repository or path."),
    ] = None,
) -> ExposureFilter:
    return ExposureFilter(
        state=state,
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


ACTIONS_SUMMARY = " or ".join(", ".join(OPERATOR_ACTIONS).rsplit(", ", 1))
ACTIONS_SUMMARY += " (release takes the quarantine off)"


def exposures_router(responder: Responder) -> APIRouter:
    router = APIRouter(prefix="/v1/exposures", tags=["exposures"], responses=UNAUTHORIZED)
    store = responder.store
    Viewer = Annotated[Caller, Depends(require("viewer", store))]
    Acting = Annotated[Caller, Depends(require("responder", store))]

    @router.get("", summary="List exposures, newest first, a page at a time", response_model=ExposurePage)
    def list_exposures(
        _caller: Viewer,
        chosen: Annotated[ExposureFilter, Depends(filters)],
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    ) -> dict[str, Any]:
        with store.session() as session:
            rows = page_exposures(session, chosen, limit, before=_after(cursor))
            items = [summary(e) for e in rows[:limit]]
        more = len(rows) > limit
        return {"items": items, "next_cursor": _cursor(items[-1]["id"]) if more else None}

    @router.get(".csv", summary="Every exposure that matches the filters, as CSV")
    def export_csv(_caller: Viewer, chosen: Annotated[ExposureFilter, Depends(filters)]) -> Response:
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
    )
    def get_exposure(exposure_id: int, _caller: Viewer) -> dict[str, Any]:
        with store.session() as session:
            e = exposure_by_id(session, exposure_id)
            if e is None:
                raise HTTPException(404, f"no exposure {exposure_id}")
            return detail(session, e)

    @router.post(
        "/bulk/{action}",
        summary="The same action on many exposures; each answered on its own",
        response_model=BulkDone,
        response_model_exclude_unset=True,
    )
    async def many(action: str, body: BulkAction, caller: Acting) -> dict[str, Any]:
        results = []
        for exposure_id in body.ids:
            try:
                results.append(
                    await run_in_threadpool(_act, responder, exposure_id, _action(action), caller, body)
                )
            except HTTPException as exc:
                results.append({"id": exposure_id, "error": exc.detail, "status": exc.status_code})
        return {"results": results}

    @router.post(
        "/{exposure_id}/{action}",
        summary=ACTIONS_SUMMARY,
        response_model=ActionDone,
    )
    async def one(exposure_id: int, action: str, body: Action, caller: Acting) -> dict[str, Any]:
        return await run_in_threadpool(_act, responder, exposure_id, _action(action), caller, body)

    return router


def _act(responder: Responder, exposure_id: int, action: str, caller: Caller, body: Action) -> dict[str, Any]:
    """An operator action by an API caller; its failure as the HTTP status it means."""
    try:
        state = responder.act(
            exposure_id,
            action,
            actor=f"api:{caller.name}",
            reason=body.reason,
            resolution=body.resolution,
            assignee=body.assignee,
        )
    except KeysentryError as exc:
        code = 404 if str(exc).startswith("no exposure") else 409
        if any(w in str(exc) for w in ("needs a", "unknown action", "an assignee is")):
            code = 400
        raise HTTPException(code, str(exc)) from None
    return {"id": exposure_id, "state": state}


def _action(name: str) -> str:
    """The action's name, also from its CLI name (``ack``, ``false-positive``); unknown ones as given."""
    found = operator_action(name)
    return found.name if found else name
