"""Who may do what: every route of the API and the dashboard, written once, with what it needs.  The
routes read their permission from here (``needs``), and ``tests/test_authorization.py`` checks every
cell of this table against the running service, for every role, and that no route is missing.

* ``ANYONE``: no token (the health check, the metrics, the API's description and docs, the login page);
* ``GITHUB_SIGNATURE``: GitHub's signature over the body (the partner endpoint; no token);
* a role (``viewer``, ``responder``, ``admin``): a token of that role or above, as a bearer token for
  the API and as the session cookie for the dashboard, whose form posts must also come from its own
  origin.

Refused: the API answers 401 without a valid token and 403 with one whose role is not enough; the
dashboard sends whoever has no session to the login page and says "This needs the responder role." to
a viewer."""

from __future__ import annotations

from keysentry.respond.states import OPERATOR_ACTIONS

ANYONE, GITHUB_SIGNATURE = "anyone", "github-signature"
VIEWER, RESPONDER, ADMIN = "viewer", "responder", "admin"

_ACTION_NAMES = sorted({name for a in OPERATOR_ACTIONS.values() for name in (a.name, a.command)})

ROUTES: dict[tuple[str, str], str] = {
    # operations and documentation
    ("GET", "/healthz"): ANYONE,
    ("GET", "/metrics"): ANYONE,  # counts and latencies only: no key ID, no account (Prometheus scrapes it)
    ("GET", "/openapi.json"): ANYONE,
    ("GET", "/docs"): ANYONE,
    # intake
    ("POST", "/v1/partners/github/secret-scanning"): GITHUB_SIGNATURE,
    ("POST", "/v1/reports"): RESPONDER,
    # the exposures API
    ("GET", "/v1/exposures"): VIEWER,
    ("GET", "/v1/exposures.csv"): VIEWER,
    ("GET", "/v1/exposures/{exposure_id}"): VIEWER,
    **{("POST", f"/v1/exposures/{{exposure_id}}/{name}"): RESPONDER for name in _ACTION_NAMES},
    **{("POST", f"/v1/exposures/bulk/{name}"): RESPONDER for name in _ACTION_NAMES},
    # the dashboard
    ("GET", "/login"): ANYONE,
    ("POST", "/login"): ANYONE,
    ("GET", "/logout"): ANYONE,
    ("GET", "/"): VIEWER,
    ("GET", "/exposures.csv"): VIEWER,
    ("GET", "/exposures.json"): VIEWER,
    ("GET", "/exposures/{exposure_id}"): VIEWER,
    ("POST", "/exposures/{exposure_id}/{action}"): RESPONDER,
}


def needs(method: str, path: str) -> str:
    """What ``method path`` needs; a route without a row in ``ROUTES`` is a programming error."""
    try:
        return ROUTES[(method, path)]
    except KeyError:
        raise LookupError(f"{method} {path} has no row in keysentry.service.permissions.ROUTES") from None
