"""``/docs``: Swagger UI served from files shipped with the package (the ``swagger-ui-bundle-v2`` wheel
from PyPI), not from a CDN, so that the API's documentation works on a machine with no internet and
its page runs no inline script (its policy: scripts and styles from this origin only).

FastAPI's own ``/docs`` and ``/redoc`` load from cdn.jsdelivr.net and start with an inline script;
they are turned off (``docs_url=None, redoc_url=None``) and this page takes ``/docs``'s place."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>keysentry API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/static/docs-init.js"></script>
</body>
</html>
"""


def swagger_assets() -> Path:
    """The folder of the Swagger UI files the ``swagger-ui-bundle-v2`` package ships (Swagger UI 5)."""
    from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

    return Path(swagger_ui_path)


def install_docs(app: FastAPI) -> None:
    """``/docs`` and its files, from this package and its dependencies only."""
    app.mount(ASSETS, StaticFiles(directory=swagger_assets()), name="docs-assets")

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def docs() -> HTMLResponse:
        return HTMLResponse(PAGE)
