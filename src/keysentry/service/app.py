"""The FastAPI application: it mounts the routes (intake, exposures, dashboard, operations) and runs the
service's background parts (built by :func:`keysentry.app.wiring.build_service`) while it serves."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route

from keysentry import __version__
from keysentry.app.wiring import build_service
from keysentry.config.settings import Settings
from keysentry.respond.responder import Responder
from keysentry.service.api_docs import install_openapi
from keysentry.service.docs_page import install_docs
from keysentry.service.headers import security_headers
from keysentry.service.limits import BodyLimits
from keysentry.service.permissions import needs
from keysentry.service.routes.dashboard import STATIC, dashboard_router
from keysentry.service.routes.exposures import exposures_router
from keysentry.service.routes.intake import PARTNER_PATH, intake_router
from keysentry.service.routes.ops import ops_router

__all__ = ["PARTNER_PATH", "create_app"]


def create_app(settings: Settings, responder: Responder | None = None, background: bool = True) -> FastAPI:
    """The service.  With ``background``, the response worker, the dispatcher and the watchers enabled in
    ``[watch]`` run while it serves."""
    parts = build_service(settings, responder)
    responder, worker, watchers = parts.responder, parts.worker, parts.watchers

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
        docs_url=None,  # /docs is served from the package's own files (docs_page.py), no CDN
        redoc_url=None,
    )
    install_openapi(app)
    install_docs(app)
    app.state.responder = responder
    app.state.worker = worker
    app.state.watchers = watchers
    routers = (
        ops_router(responder.store),
        intake_router(responder, parts.partner_keys),
        exposures_router(responder),
        dashboard_router(responder),
    )
    for router in routers:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.middleware("http")(security_headers)
    limits = settings.service
    app.add_middleware(
        BodyLimits,
        timeout=limits.body_timeout.total_seconds(),
        max_body=limits.max_report_bytes,
        in_flight=limits.max_bodies_bytes,
    )
    # Every route has its row in the permissions table, or the service does not start.
    app.state.served_routes = {
        (method, route.path)
        for route in [*app.routes, *(r for router in routers for r in router.routes)]
        if isinstance(route, APIRoute | Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    for method, path in app.state.served_routes:
        needs(method, path)
    return app
