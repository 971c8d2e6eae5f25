"""Intake: GitHub's secret scanning partner endpoint and the report API.  Every report is committed
before it is answered.

No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations at run time, and
the dependencies in them are made inside :func:`intake_router`."""

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from keysentry.intake.accept import accept_github_batch, accept_report
from keysentry.intake.formats import UnreadableReport, read_report
from keysentry.intake.github_partner import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    MalformedReport,
    parse_batch,
    signature_is_valid,
)
from keysentry.intake.partner_keys import PartnerKeys
from keysentry.respond.responder import Responder
from keysentry.service.api_docs import (
    DOOR,
    ERRORS,
    LIMITED,
    PARTNER_BODY,
    REPORT_BODY,
    ErrorBody,
    PartnerLabel,
    ReportAccepted,
)
from keysentry.service.auth import UNAUTHORIZED, permitted
from keysentry.service.limits import TokenBuckets, retry_after
from keysentry.store.tokens import Caller

PARTNER_PATH = "/v1/partners/github/secret-scanning"


def intake_router(responder: Responder, keys: PartnerKeys) -> APIRouter:
    router = APIRouter(tags=["intake"])
    limits = responder.context.settings.service
    buckets = TokenBuckets(limits.report_rate, limits.report_burst)

    @router.post(
        PARTNER_PATH,
        summary="GitHub secret scanning partner endpoint",
        openapi_extra=PARTNER_BODY,
        response_model=list[PartnerLabel],
        responses={
            401: {
                "model": ErrorBody,
                "description": "Missing or invalid GitHub signature; nothing recorded.",
            },
            400: {"model": ErrorBody, "description": "The body is not GitHub's format; nothing recorded."},
            **DOOR,
        },
    )
    async def github_partner(request: Request) -> JSONResponse:
        """GitHub's batched report, signed with ECDSA P-256 over the raw body.  401 without a valid
        signature and 400 for a malformed body, both with no side effect; otherwise every report is
        committed before the answer, which carries the protocol's feedback labels by token hash."""
        body = await request.body()
        identifier = request.headers.get(KEY_ID_HEADER)
        known = await run_in_threadpool(keys.get, identifier)
        if not signature_is_valid(known, identifier, request.headers.get(SIGNATURE_HEADER), body):
            return JSONResponse({"error": "missing or invalid GitHub signature"}, status_code=401)
        try:
            reports = parse_batch(body)
        except MalformedReport as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        feedback = await run_in_threadpool(accept_github_batch, responder, reports)
        return JSONResponse(feedback)

    @router.post(
        "/v1/reports",
        summary="Report exposed credentials: trufflehog, gitleaks, betterleaks or SARIF, or our own format",
        status_code=202,
        openapi_extra=REPORT_BODY,
        response_model=ReportAccepted,
        responses={**UNAUTHORIZED, **ERRORS, **LIMITED, **DOOR},
    )
    async def report(
        request: Request, caller: Annotated[Caller, permitted("POST", "/v1/reports", responder.store)]
    ) -> JSONResponse:
        """Accepts trufflehog ``--json`` (JSON Lines), gitleaks ``--report-format json`` or ``sarif``,
        betterleaks 2 (``-o report.json`` or ``.jsonl``), or ``{"key_id", "secret", "url", "repository",
        "commit", "path", "line"}`` (one or a list).  Every
        credential found is recorded (committed) before the answer, and responded to in the background."""
        wait = buckets.wait(caller.name)
        if wait:  # before a byte of the body is read
            return JSONResponse(
                {
                    "error": f"more than {limits.report_rate} reports a minute from this token; "
                    f"try again in {retry_after(wait)} s"
                },
                status_code=429,
                headers={"Retry-After": retry_after(wait)},
            )
        body = await request.body()  # (its size and time are bounded at the door: service/limits.py)
        try:
            items = read_report(body)
        except UnreadableReport as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        summary = await run_in_threadpool(accept_report, responder, items, caller.name)
        return JSONResponse(summary, status_code=202)

    return router
