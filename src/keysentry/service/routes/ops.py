"""Operations: ``/metrics`` for Prometheus and ``/healthz``.

No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations at run time."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from keysentry import __version__
from keysentry.service.metrics import StoreCollector
from keysentry.store.db import Store
from keysentry.store.queries import ping


def ops_router(store: Store) -> APIRouter:
    router = APIRouter(tags=["operations"])
    registry = CollectorRegistry()
    registry.register(StoreCollector(store))

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @router.get(
        "/healthz",
        summary="Whether the store answers",
        responses={503: {"description": "The store does not answer."}},
    )
    def healthz() -> JSONResponse:
        try:
            ping(store)
        except Exception as exc:  # the store is what every request needs
            return JSONResponse({"status": "unavailable", "database": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    return router
