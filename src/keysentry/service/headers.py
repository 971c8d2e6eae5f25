"""Headers on every answer: the dashboard's pages may run no inline script, load nothing from
elsewhere, be framed by nobody and leak no URL to the sites they link to.

The policy allows exactly what the pages use: the one style sheet and the one script at ``/static/``
(``local-time.js``, which shows times in the reader's time zone; the pages work without it), forms
posting to this origin.  The API's interactive docs (``/docs``, Swagger UI from the package's own files) run
scripts from this origin, so they get their own policy and nothing else does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS = ("/docs",)
# Swagger UI, from this origin only: no inline script; its React components set style attributes,
# hence 'unsafe-inline' for styles (attributes cannot carry a hash).
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Same-origin only: a click on a leak's URL does not tell that site which exposure was open.  (Not
    # "no-referrer": browsers would then send "Origin: null" with the dashboard's own form posts.)
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    answer = await call_next(request)
    for name, value in COMMON.items():
        answer.headers.setdefault(name, value)
    docs = request.url.path.startswith(DOCS_PATHS)
    answer.headers.setdefault("Content-Security-Policy", DOCS_CSP if docs else DASHBOARD_CSP)
    if answer.headers.get("content-type", "").startswith("text/html"):
        answer.headers.setdefault("Cache-Control", "no-store")  # exposures are not for shared caches
    return answer
