"""Every cell of the authorization table (``keysentry.service.permissions.ROUTES``: every route of the
API and the dashboard, with what it needs) checked against the service for every caller: nobody, a
viewer, a responder, an admin.  A caller the table allows is never refused; one it does not allow is
refused as the API and the dashboard say (401 without a token, 403 with a role too low; the login
page, or "This needs the responder role."); no route is missing from the table.  Every form post of
the dashboard is refused from another origin, whoever posts it."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from helpers import key_for, secret_for, signed
from keysentry.config.settings import Settings
from keysentry.respond.states import operator_action
from keysentry.service.app import PARTNER_PATH, create_app
from keysentry.service.permissions import ANYONE, GITHUB_SIGNATURE, ROUTES
from keysentry.store import open_store
from keysentry.store.tokens import ROLES, create_token

CALLERS = ("nobody", *ROLES)  # in rising order: each may what the ones before it may
RANK = {"nobody": 0, ANYONE: 0, GITHUB_SIGNATURE: 0, **{role: n + 1 for n, role in enumerate(ROLES)}}
DASHBOARD = {
    path for (_, path) in ROUTES if not path.startswith(("/v1/", "/healthz", "/metrics", "/openapi", "/docs"))
}


@pytest.fixture
def served(partner_settings: Settings) -> Iterator[tuple[TestClient, dict[str, str], int]]:
    """The service with one exposure (recorded, not answered: the table is what is checked here) and
    a token of each role."""
    rng = random.Random(18)
    store = open_store(partner_settings.resolved_database_url())
    tokens = {role: create_token(store, f"{role}-person", role) for role in ROLES}
    store.dispose()
    with TestClient(create_app(partner_settings, background=False)) as client:
        key = key_for("123456789012", rng)
        body = {"key_id": key, "secret": secret_for(rng), "path": "config/prod.env"}
        accepted = client.post(
            "/v1/reports", json=body, headers={"Authorization": f"Bearer {tokens['admin']}"}
        )
        assert accepted.status_code == 202, accepted.text
        yield client, tokens, accepted.json()["credentials"][0]["exposure_id"]


def _request(method: str, path: str, exposure_id: int, signing_key: Any) -> dict[str, Any]:
    """A request for the route that would be done if allowed: its path filled in, a body it takes."""
    url = path.replace("{exposure_id}", str(exposure_id)).replace("{action}", "comment")
    request: dict[str, Any] = {"method": method, "url": url}
    name = path.rsplit("/", 1)[-1]
    if path == PARTNER_PATH:
        body = json.dumps([{"token": "nothing here", "type": "aws_credentials"}]).encode()
        request.update(content=body, headers=signed(signing_key, body))
    elif path == "/v1/reports":
        request["json"] = {"text": "nothing here"}
    elif path.startswith("/v1/exposures/") and method == "POST":
        action = operator_action(name)
        assert action is not None, path
        body = {"reason": "checking the table"}
        if action.needs == "resolution":
            body["resolution"] = "wont_fix"
        if action.needs == "assignee":
            body["assignee"] = "ana"
        request["json"] = {**body, "ids": [exposure_id]} if "/bulk/" in path else body
    elif path == "/exposures/{exposure_id}/{action}":
        request["data"] = {"reason": "checking the table"}
    elif path == "/login" and method == "POST":
        request["data"] = {"token": "not a token"}
    return request


def _refused(path: str, answer: Any) -> bool:
    """Whether the answer is a refusal, as the API or the dashboard refuses."""
    if path not in DASHBOARD:
        return answer.status_code in (401, 403)
    if answer.status_code == 303 and answer.headers["location"] == "/login":
        return True
    notice = unquote(answer.cookies.get("keysentry_flash") or "")
    return answer.status_code == 303 and notice.startswith("!This needs the")


@pytest.mark.parametrize("caller", CALLERS)
def test_every_route_allows_exactly_the_callers_the_table_names(served, caller: str, signing_key) -> None:  # type: ignore[no-untyped-def]
    client, tokens, exposure_id = served
    wrong = []
    for (method, path), need in ROUTES.items():
        request = _request(method, path, exposure_id, signing_key)
        headers = dict(request.pop("headers", {}))
        client.cookies.clear()
        if caller != "nobody":
            if path in DASHBOARD:
                client.cookies.set("keysentry_token", tokens[caller])
            else:
                headers["Authorization"] = f"Bearer {tokens[caller]}"
        if method == "POST" and path in DASHBOARD:
            headers["Origin"] = "http://testserver"
        answer = client.request(headers=headers, follow_redirects=False, **request)
        allowed = RANK[caller] >= RANK[need]
        if answer.status_code >= 500 or (_refused(path, answer) == allowed and need != ANYONE):
            wrong.append(
                f"{method} {path} needs {need}: {caller} got {answer.status_code} {answer.text[:120]}"
            )
        if need == ANYONE and (answer.status_code >= 500 or answer.status_code in (401, 403)):
            wrong.append(f"{method} {path} is open to anyone: {caller} got {answer.status_code}")
        if path not in DASHBOARD and not allowed and need not in (ANYONE, GITHUB_SIGNATURE):
            expected = 401 if caller == "nobody" else 403
            if answer.status_code != expected:
                wrong.append(f"{method} {path}: {caller} got {answer.status_code}, not {expected}")
    assert wrong == []


def test_the_partner_endpoint_needs_githubs_signature_and_nothing_else(served, signing_key) -> None:  # type: ignore[no-untyped-def]
    client, tokens, _ = served
    body = json.dumps([{"token": "nothing here", "type": "aws_credentials"}]).encode()
    admin = {"Authorization": f"Bearer {tokens['admin']}", "Content-Type": "application/json"}
    assert (
        client.post(PARTNER_PATH, content=body, headers=admin).status_code == 401
    )  # a token is no signature
    assert client.post(PARTNER_PATH, content=body, headers=signed(signing_key, body)).status_code == 200


def test_no_route_is_missing_from_the_table(served) -> None:  # type: ignore[no-untyped-def]
    client, _, exposure_id = served
    served = client.app.state.served_routes  # type: ignore[attr-defined]
    assert len(served) > 30 and served == set(ROUTES)
    # and each of them answers (the table names no route that is not served)
    for method, path in sorted(ROUTES):
        url = path.replace("{exposure_id}", str(exposure_id)).replace("{action}", "comment")
        assert client.request(method, url, follow_redirects=False).status_code not in (404, 405), path


@pytest.mark.parametrize("caller", ROLES)
def test_every_form_post_is_refused_from_another_origin(served, caller: str, signing_key) -> None:  # type: ignore[no-untyped-def]
    client, tokens, exposure_id = served
    for (method, path), need in ROUTES.items():
        if method != "POST" or path not in DASHBOARD or need == ANYONE:
            continue
        request = _request(method, path, exposure_id, signing_key)
        for origin in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/x"}, {}):
            client.cookies.clear()
            client.cookies.set("keysentry_token", tokens[caller])
            answer = client.request(headers=origin, follow_redirects=False, **request)
            assert answer.status_code == 403, (path, origin, answer.status_code)
