"""The FastAPI application: intake endpoints and health, with the response worker running beside.

No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at run time,
and the dependencies in them are made inside :func:`create_app`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from keysentry import __version__
from keysentry.app.wiring import build_responder
from keysentry.config.settings import Settings
from keysentry.intake.accept import accept_github_batch, accept_report
from keysentry.intake.formats import UnreadableReport, read_report
from keysentry.intake.github_partner import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    MalformedReport,
    parse_batch,
    signature_is_valid,
)
from keysentry.respond.responder import Responder
from keysentry.service.api_docs import (
    ERRORS,
    PARTNER_BODY,
    REPORT_BODY,
    ErrorBody,
    PartnerLabel,
    ReportAccepted,
    install_openapi,
)
from keysentry.service.auth import UNAUTHORIZED, require
from keysentry.service.dashboard import STATIC, dashboard_router
from keysentry.service.exposures_api import exposures_router
from keysentry.service.headers import security_headers
from keysentry.service.metrics import StoreCollector
from keysentry.service.partner_keys import PartnerKeys
from keysentry.service.worker import ResponseWorker
from keysentry.store.cursors import Cursors
from keysentry.store.queries import ping
from keysentry.store.tokens import Caller
from keysentry.watch.base import Watcher, WatchPoll
from keysentry.watch.build import build_watchers
from keysentry.watch.runner import WatchRunner

PARTNER_PATH = "/v1/partners/github/secret-scanning"
MAX_REPORT_BYTES = 16 * 1024 * 1024


def create_app(settings: Settings, responder: Responder | None = None, background: bool = True) -> FastAPI:
    """The service.  With ``background``, the response worker, the dispatcher and the watchers enabled in
    ``[watch]`` run while it serves."""
    responder = responder or build_responder(settings)
    keys = PartnerKeys(settings.github_partner_keys_file, settings.github_partner_keys_url)
    worker = ResponseWorker(responder, threads=settings.response_threads)

    def record_found(_watcher: Watcher, poll: WatchPoll) -> None:
        """What a watcher found is recorded (committed) before its cursor moves on; the response worker
        is handed what was recorded (``Responder.on_recorded``)."""
        if poll.report is not None:
            responder.record_report(poll.report)

    watchers = WatchRunner(build_watchers(settings), Cursors(responder.store), record_found)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if background:
            worker.start()
            watchers.start()
        try:
            yield
        finally:  # uvicorn stops taking requests first; every accepted report is already committed
            if background:
                watchers.stop()
                worker.stop()
            responder.store.dispose()

    app = FastAPI(
        title="keysentry",
        version=__version__,
        description="Finds exposed cloud credentials, contains them, and tells the owner.",
        lifespan=lifespan,
    )
    install_openapi(app)
    app.state.responder = responder
    app.state.worker = worker
    app.state.watchers = watchers
    app.include_router(exposures_router(responder))
    app.include_router(dashboard_router(responder))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.middleware("http")(security_headers)
    registry = CollectorRegistry()
    registry.register(StoreCollector(responder.store))

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> JSONResponse:
        try:
            ping(responder.store)
        except Exception as exc:  # the store is what every request needs
            return JSONResponse({"status": "unavailable", "database": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    @app.post(
        PARTNER_PATH,
        tags=["intake"],
        summary="GitHub secret scanning partner endpoint",
        openapi_extra=PARTNER_BODY,
        response_model=list[PartnerLabel],
        responses={
            401: {
                "model": ErrorBody,
                "description": "Missing or invalid GitHub signature; nothing recorded.",
            },
            400: {"model": ErrorBody, "description": "The body is not GitHub's format; nothing recorded."},
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

    @app.post(
        "/v1/reports",
        tags=["intake"],
        summary="Report exposed credentials: trufflehog, gitleaks or betterleaks JSON, or our own format",
        status_code=202,
        openapi_extra=REPORT_BODY,
        response_model=ReportAccepted,
        responses={**UNAUTHORIZED, **ERRORS},
    )
    async def report(
        request: Request, caller: Annotated[Caller, Depends(require("responder", responder.store))]
    ) -> JSONResponse:
        """Accepts trufflehog ``--json`` (JSON Lines), gitleaks / betterleaks ``--report-format json``, or
        ``{"key_id", "secret", "url", "repository", "commit", "path", "line"}`` (one or a list).  Every
        credential found is recorded (committed) before the answer, and responded to in the background."""
        body = await request.body()
        if len(body) > MAX_REPORT_BYTES:
            return JSONResponse(
                {"error": f"a report may hold {MAX_REPORT_BYTES} bytes at most"}, status_code=413
            )
        try:
            items = read_report(body)
        except UnreadableReport as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        summary = await run_in_threadpool(accept_report, responder, items, caller.name)
        return JSONResponse(summary, status_code=202)

    return app
