"""Triage as in GitHub's secret scanning alerts and GitGuardian's incidents: assign an exposure to a
person, comment on it, close it with a resolution (revoked, rotated, false positive, used in tests,
won't fix), reopen it; each on the timeline, each through the API and the CLI (the dashboard's forms
are driven in tests/test_dashboard_browser.py), and the list filtered by assignee and by outcome."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import env_pair, exposure_of, respond, run_keysentry
from hostile import assert_inert_html
from keysentry.config.settings import Settings
from keysentry.service.app import create_app
from keysentry.store import open_store
from keysentry.store.tokens import create_token


@pytest.fixture
def triaged(settings: Settings, new_user, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Two exposures answered (contained): the settings, their key IDs and numbers."""
    settings = settings.model_copy(update={"investigation_delays": []})
    first, second = new_user("workloads-dev"), new_user("workloads-prod")
    (tmp_path / "a.env").write_text(env_pair(first))
    (tmp_path / "b.env").write_text(env_pair(second))
    responder, _ = respond(settings, tmp_path / "a.env", tmp_path / "b.env")
    ids = {u.access_key_id: exposure_of(responder, u.access_key_id).id for u in (first, second)}
    responder.store.dispose()
    return settings, ids


def _tokens(settings: Settings) -> dict[str, str]:
    store = open_store(settings.resolved_database_url())
    made = {role: create_token(store, f"{role}-person", role) for role in ("viewer", "responder")}
    store.dispose()
    return made


def test_assign_comment_close_with_a_resolution_and_reopen_through_the_api(triaged) -> None:  # type: ignore[no-untyped-def]
    settings, ids = triaged
    (one, other) = ids.values()
    tokens = _tokens(settings)
    acting = {"Authorization": f"Bearer {tokens['responder']}"}
    reading = {"Authorization": f"Bearer {tokens['viewer']}"}
    with TestClient(create_app(settings, background=False)) as api:

        def listed(**query: str) -> set[int]:
            answer = api.get("/v1/exposures", params=query, headers=reading)
            assert answer.status_code == 200, answer.text
            return {item["id"] for item in answer.json()["items"]}

        assert listed(outcome="contained") == {one, other} and listed(outcome="not contained") == set()
        assert api.post(f"/v1/exposures/{one}/assign", json={}, headers=reading).status_code == 403
        done = api.post(f"/v1/exposures/{one}/assign", json={"assignee": "ana@example.com"}, headers=acting)
        assert done.json() == {"id": one, "state": "notified"}  # the state stays as it is
        assert listed(assignee="ana@example.com") == {one}
        assert listed(assignee="none") == {other}

        said = api.post(f"/v1/exposures/{one}/comment", json={"reason": "asked the team"}, headers=acting)
        assert said.status_code == 200 and said.json()["state"] == "notified"
        assert api.post(f"/v1/exposures/{one}/comment", json={}, headers=acting).status_code == 422

        # Close needs a resolution, one GitHub's alerts know; the comment is optional.
        bare = api.post(f"/v1/exposures/{one}/close", json={"reason": "done"}, headers=acting)
        assert bare.status_code == 422 and "resolution" in bare.text
        odd = api.post(f"/v1/exposures/{one}/close", json={"resolution": "lost"}, headers=acting)
        assert odd.status_code == 422
        closed = api.post(
            f"/v1/exposures/{one}/close",
            json={"resolution": "used_in_tests", "reason": "a fixture"},
            headers=acting,
        )
        assert closed.json() == {"id": one, "state": "closed"}
        shown = api.get(f"/v1/exposures/{one}", headers=reading).json()
        assert (shown["state"], shown["resolution"], shown["assignee"]) == (
            "closed",
            "used_in_tests",
            "ana@example.com",
        )
        assert shown["outcome"] == "contained"  # closing says nothing new about the key itself
        actions = [(t["kind"], t["actor"], t["detail"]) for t in shown["timeline"]][-3:]
        assert actions == [
            ("assign", "api:responder-person", {"assignee": "ana@example.com", "was": None, "reason": None}),
            ("comment", "api:responder-person", {"reason": "asked the team"}),
            (
                "close",
                "api:responder-person",
                {"reason": "a fixture", "was": "notified", "resolution": "used_in_tests"},
            ),
        ]
        assert listed(state="closed") == {one}

        # Reopened: the resolution is forgotten, the assignee stays; closed again as a false positive.
        again = api.post(f"/v1/exposures/{one}/reopen", json={"reason": "seen again"}, headers=acting)
        assert again.json()["state"] == "new"
        shown = api.get(f"/v1/exposures/{one}", headers=reading).json()
        assert (shown["resolution"], shown["assignee"]) == (None, "ana@example.com")

        # Many at once: the other is assigned and closed as revoked, the reopened one refused (new).
        many = api.post(
            "/v1/exposures/bulk/close",
            json={"ids": [other, one], "resolution": "revoked"},
            headers=acting,
        ).json()["results"]
        assert many[0] == {"id": other, "state": "closed"}
        assert many[1]["status"] == 409 and "cannot close an exposure that is new" in many[1]["error"]
        fp = api.post(
            "/v1/exposures/bulk/assign", json={"ids": [other], "assignee": ""}, headers=acting
        ).json()["results"]
        assert fp == [{"id": other, "state": "closed"}]
        assert listed(assignee="none", state="closed") == {other}

        exported = api.get("/v1/exposures.csv", params={"state": "closed"}, headers=reading).text
        header, row = exported.splitlines()[:2]
        assert "assignee,resolution" in header and ",revoked," in row


SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the API's test has both


@SQLITE_ONLY
def test_the_cli_assigns_closes_with_a_resolution_and_filters_at_80_columns(triaged) -> None:  # type: ignore[no-untyped-def]
    settings, ids = triaged
    (one, other) = ids
    env = {"KEYSENTRY_DATABASE_URL": settings.resolved_database_url(), "COLUMNS": "80"}

    given = run_keysentry("exposures", "assign", one, "--to", "bo", "--actor", "lead", env=env)
    assert given.returncode == 0, given.stderr
    assert ": assigned to bo by lead → notified" in given.stdout
    refused = run_keysentry("exposures", "close", one, env=env)
    assert refused.returncode == 2 and "--as" in refused.stderr  # the resolution is required
    wrong = run_keysentry("exposures", "close", one, "--as", "forgot", env=env)
    assert wrong.returncode == 2 and "needs a resolution: one of revoked, rotated" in wrong.stderr
    closed = run_keysentry("exposures", "close", one, "--as", "wont-fix", "-r", "sandbox", env=env)
    assert closed.returncode == 0 and "close as wont-fix" in closed.stdout and "→ closed" in closed.stdout

    mine = run_keysentry("exposures", "--state", "closed", "--assignee", "bo", env=env)
    assert mine.returncode == 0 and one in mine.stdout and other not in mine.stdout
    assert all(len(line) <= 80 for line in mine.stdout.splitlines()), mine.stdout
    nobody = run_keysentry("exposures", "--assignee", "none", "--outcome", "contained", "--json", env=env)
    assert [re.search(r'"key_id": "(\w+)"', line).group(1) for line in nobody.stdout.splitlines()] == [  # type: ignore[union-attr]
        other
    ]
    unknown = run_keysentry("exposures", "--outcome", "fine", env=env)
    assert unknown.returncode == 2 and "one of: contained, revoked" in unknown.stderr

    shown = run_keysentry("exposures", "show", one, env=env)
    labels = {line.split()[0]: line for line in shown.stdout.splitlines() if line.startswith("  ")}
    assert "won't fix" in labels["resolution"] and labels["assigned"].split()[-1] == "bo"
    timeline = shown.stdout.split("timeline", 1)[1]
    assert "assigned to bo — by lead" in timeline
    assert "closed as won't fix (was notified): sandbox — by cli:" in timeline


@SQLITE_ONLY
def test_the_dashboard_filters_by_assignee_and_outcome_and_escapes_the_assignee(triaged) -> None:  # type: ignore[no-untyped-def]
    settings, ids = triaged
    (one, other) = ids.values()
    tokens = _tokens(settings)
    hostile = '"><script>window.pwned=1</script>'
    with TestClient(create_app(settings, background=False)) as client:
        client.post("/login", data={"token": tokens["responder"]})
        origin = {"Origin": "http://testserver"}
        moved = client.post(
            f"/exposures/{one}/assign", data={"assignee": hostile}, headers=origin, follow_redirects=False
        )
        assert moved.status_code == 303
        page = client.get(f"/exposures/{one}").text
        assert_inert_html(page, _links(page))
        assert "assigned to &#34;&gt;&lt;script&gt;" in page or "assigned to &quot;&gt;&lt;script" in page
        client.post(
            f"/exposures/{one}/close",
            data={"resolution": "false_positive", "reason": "a test key"},
            headers=origin,
        )
        assert 'id="state">false_positive' in client.get(f"/exposures/{one}").text

        listed = client.get("/", params={"show": "all", "assignee": "none"}).text
        assert f'href="/exposures/{other}"' in listed and f'href="/exposures/{one}"' not in listed
        by_outcome = client.get("/", params={"show": "all", "outcome": "contained"}).text
        assert f'href="/exposures/{other}"' in by_outcome and f'href="/exposures/{one}"' in by_outcome
        none_left = client.get("/", params={"show": "all", "outcome": "not contained"}).text
        assert "Nothing" in none_left and 'href="/exposures/' not in none_left
        everything = client.get("/", params={"show": "all"}).text
        assert_inert_html(everything, _links(everything))


def _links(page: str) -> set[str]:
    """The page's own links (the inert check then finds any other built from a value)."""
    return {html.unescape(h) for h in re.findall(r'href="(/[^"]*)"', page)}
