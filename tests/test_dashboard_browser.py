"""The dashboard in a real browser: Debian's Chromium (/usr/bin/chromium) driven by Playwright, against
the running service.  An exposure arrives through the GitHub partner endpoint, is contained and
announced; the operator logs in, opens it, acknowledges it and releases its quarantine, and the page
says so after each step.  Screenshots go to test-artifacts/browser/."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import member_credentials
from helpers import exposure_of, partner_body, served, signed, wait_for
from hostile import AUTHOR, COMMIT, PATH, REPOSITORY, URL, assert_inert_html
from keysentry import escaping
from keysentry.authority.clients import AwsClients
from keysentry.config.settings import Settings
from keysentry.service.app import PARTNER_PATH, create_app
from keysentry.store import open_store
from keysentry.store.tokens import create_token

# The pages read the store through the same queries on both databases (those run on PostgreSQL too in
# tests/test_dashboard_list.py, test_outcomes.py and test_triage.py): the browser runs on SQLite.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts" / "browser"
V3 = "arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV3"

if shutil.which(CHROMIUM) is None:
    if os.environ.get("KEYSENTRY_REQUIRE_BROWSER") == "1":  # .ci/run installs it: missing is a failure
        raise RuntimeError(
            f"{CHROMIUM} is missing but KEYSENTRY_REQUIRE_BROWSER=1 (apt-get install chromium)"
        )
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
def service(partner_settings: Settings) -> Iterator[tuple[str, object]]:
    """The whole service (intake, worker, dispatcher, API, dashboard) on a port of its own."""
    app = create_app(partner_settings, background=True)
    with served(app, log_level="warning") as base:
        yield base, app.state.responder


def test_an_operator_follows_a_partner_report_to_release_in_the_browser(
    service, partner_settings: Settings, signing_key, new_user, admin_clients: AwsClients
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    base, responder = service
    user = new_user("workloads-prod")
    body = partner_body(user)
    assert httpx.post(base + PARTNER_PATH, content=body, headers=signed(signing_key, body)).status_code == 200
    assert wait_for(lambda: exposure_of(responder, user.access_key_id).state == "notified")
    exposure = exposure_of(responder, user.access_key_id)
    store = open_store(partner_settings.resolved_database_url())
    token = create_token(store, "dana", "responder")
    store.dispose()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/")
        expect(page).to_have_url(base + "/login")
        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Log in").click()
        table = page.locator("#open-exposures")
        expect(table).to_contain_text(user.access_key_id)
        expect(table).to_contain_text("notified")
        expect(page.locator("#figures")).to_contain_text("github")
        page.screenshot(path=str(ARTIFACTS / "1-open-exposures.png"), full_page=True)

        page.get_by_role("link", name=user.access_key_id).click()
        expect(page).to_have_url(f"{base}/exposures/{exposure.id}")
        expect(page.locator("#state")).to_have_text("notified")
        expect(page.locator("#containment")).to_contain_text("AWSCompromisedKeyQuarantineV3")
        expect(page.locator("#summary")).to_contain_text(user.access_key_id)
        expect(page.locator("#remediation li").first).to_contain_text("Create a second access key")
        expect(page.locator("#deliveries")).to_contain_text("eventbridge")
        expect(page.get_by_text("config/prod.env", exact=True)).to_be_visible()
        assert user.secret_access_key not in page.content()
        page.screenshot(path=str(ARTIFACTS / "2-exposure.png"), full_page=True)

        page.get_by_role("button", name="Acknowledge").click()
        expect(page.locator("#state")).to_have_text("acknowledged")
        expect(page.get_by_role("status")).to_contain_text("acknowledge: now acknowledged")
        page.screenshot(path=str(ARTIFACTS / "3-acknowledged.png"), full_page=True)

        page.get_by_label("reason for Release quarantine").fill("key rotated, workloads moved")
        page.get_by_role("button", name="Release quarantine").click()
        expect(page.locator("#containment")).to_contain_text("released at")
        expect(page.locator("#containment")).to_contain_text("dashboard:dana")
        expect(page.locator("#timeline")).to_contain_text("quarantine released")
        expect(page.get_by_role("button", name="Release quarantine")).to_have_count(0)
        page.screenshot(path=str(ARTIFACTS / "4-released.png"), full_page=True)
        browser.close()

    iam = admin_clients.client("iam", credentials=member_credentials(admin_clients, user.account_id))
    attached = [
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user.user_name)["AttachedPolicies"]
    ]
    assert V3 not in attached


def test_forms_refuse_cross_site_posts_and_viewers(service, partner_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    base, _ = service
    store = open_store(partner_settings.resolved_database_url())
    viewer = create_token(store, "auditor", "viewer")
    store.dispose()
    cookies = {"keysentry_token": viewer}
    forged = httpx.post(
        base + "/exposures/1/acknowledge", cookies=cookies, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    assert httpx.get(base + "/", follow_redirects=False).headers["location"] == "/login"
    with httpx.Client(base_url=base, cookies=cookies) as client:
        own = client.post("/exposures/1/acknowledge", headers={"Origin": base}, follow_redirects=False)
        assert own.status_code == 303 and own.headers["location"] == "/exposures/1"
        # The notice travels in a cookie for the next page only, never in the URL.
        assert "This needs the responder role." in client.get("/").text
        assert "This needs the responder role." not in client.get("/").text


def test_a_crafted_link_cannot_make_the_dashboard_say_something(service, partner_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    base, _ = service
    store = open_store(partner_settings.resolved_database_url())
    viewer = create_token(store, "reader", "viewer")
    store.dispose()
    page = httpx.get(
        base + "/?flash=Nothing+to+do%2C+this+key+is+safe&error=x", cookies={"keysentry_token": viewer}
    )
    assert page.status_code == 200 and "this key is safe" not in page.text


def test_an_exposure_whose_every_field_is_hostile_runs_no_script_and_breaks_no_attribute(
    service, partner_settings: Settings, new_user
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    from keysentry.content import Provenance
    from keysentry.detect.findings import Finding, Location
    from keysentry.detect.scanner import ScanReport

    base, responder = service
    user = new_user("workloads-prod")
    where = Provenance(kind="report", path=PATH, repository=REPOSITORY, commit=COMMIT, author=AUTHOR, url=URL)
    secret = hashlib.sha256(user.secret_access_key.encode()).hexdigest()
    finding = Finding("aws-access-key", "aws_access_key", user.access_key_id, secret, user.account_id)
    finding.locations.append(Location(where, 3, 1))
    responder.record_report(ScanReport(findings=[finding]))
    assert wait_for(lambda: exposure_of(responder, user.access_key_id).state == "notified")
    exposure = exposure_of(responder, user.access_key_id)
    store = open_store(partner_settings.resolved_database_url())
    token = create_token(store, "erin", "responder")
    store.dispose()

    answer = httpx.get(f"{base}/exposures/{exposure.id}", cookies={"keysentry_token": token})
    csp = answer.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self';" in csp and "unsafe" not in csp  # the one script file of ours, no inline one
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert_inert_html(answer.text, {"/", "/logout", f"/?account={user.account_id}"})

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies([{"name": "keysentry_token", "value": token, "url": base}])
        page = context.new_page()
        dialogs: list[str] = []
        problems: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        for path in ("/", f"/exposures/{exposure.id}"):
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            assert page.evaluate("typeof window.pwned") == "undefined"
            scripts = page.evaluate("[...document.scripts].map(s => [s.getAttribute('src'), s.text])")
            assert scripts == [["/static/local-time.js", ""]]  # ours, from a file; nothing inline
            assert page.evaluate("document.images.length") == 0
            handlers = page.evaluate(
                "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes]"
                ".filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name))"
            )
            assert handlers == []
            hrefs = page.evaluate("[...document.links].map(a => a.getAttribute('href'))")
            assert not any(h.lower().startswith(("javascript", "data")) for h in hrefs), hrefs
        # Each value is there, whole, as text: no attribute or element was broken out of.
        exposed_at = page.locator("#exposed-at")
        expect(exposed_at.locator("code", has_text="onerror")).to_have_count(1)
        assert exposed_at.locator("code", has_text="onerror").inner_text() == escaping.printable(PATH)
        assert exposed_at.locator("code", has_text="pwned=5").inner_text() == COMMIT
        expect(exposed_at).to_contain_text(escaping.printable(AUTHOR))
        expect(exposed_at).to_contain_text(REPOSITORY)
        expect(exposed_at).to_contain_text(URL)  # shown, and not a link: it is not http(s)
        expect(exposed_at.locator("a")).to_have_count(0)
        expect(page.locator("#summary")).to_contain_text(user.access_key_id)
        page.screenshot(path=str(ARTIFACTS / "5-hostile-exposure.png"), full_page=True)
        browser.close()
    assert dialogs == [], dialogs
    assert problems == [], problems  # no script error, and no Content-Security-Policy violation


def _axe_findings(page) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core's serious and critical violations on the page, one line each (rule: where)."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def _fits(page, width: int) -> None:  # type: ignore[no-untyped-def]
    """No page scrolls sideways: wide tables scroll inside their own box."""
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > "
        f"{width} + 1 && !e.closest('.scroll')).slice(0, 5).map(e => e.tagName + '.' + e.className + "
        "' ' + Math.round(e.getBoundingClientRect().right))"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= width, (page.url, wide)


def test_a_team_triages_in_the_browser_at_desktop_and_phone_width_accessibly(
    service, partner_settings: Settings, signing_key, new_user
) -> None:  # type: ignore[no-untyped-def]
    """Filter the list by outcome, open an exposure, assign it, comment, close it as revoked and reopen
    it, at 1280 px; then the same pages at 390 px.  Times show in the reader's zone (New York here)
    with UTC on hover; axe-core finds no serious or critical violation on the login page, the list and
    an exposure page at either width.  Screenshots in test-artifacts/browser/."""
    from playwright.sync_api import expect, sync_playwright

    base, responder = service
    users = [new_user("workloads-prod"), new_user("workloads-dev")]
    for user in users:
        body = partner_body(user)
        assert (
            httpx.post(base + PARTNER_PATH, content=body, headers=signed(signing_key, body)).status_code
            == 200
        )
    assert wait_for(lambda: all(exposure_of(responder, u.access_key_id).state == "notified" for u in users))
    first = exposure_of(responder, users[0].access_key_id)
    store = open_store(partner_settings.resolved_database_url())
    token = create_token(store, "dana", "responder")
    store.dispose()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    accessibility: dict[str, list[str]] = {}

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        desk = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="America/New_York")
        page = desk.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(base + "/login")
        accessibility["login 1280"] = _axe_findings(page)
        page.screenshot(path=str(ARTIFACTS / "triage-1-login-1280.png"))
        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Log in").click()

        page.get_by_label("Outcome").select_option("contained")
        page.get_by_role("button", name="Filter").click()
        expect(page).to_have_url(re.compile(r"outcome=contained"))
        table = page.locator("#open-exposures")
        for user in users:
            expect(table).to_contain_text(user.access_key_id)
        # The reader's local time, UTC on hover: the script of ours ran under the page's policy.
        detected = table.locator("time").first
        expect(detected).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (EST|EDT|GMT-[45])$"))
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", detected.get_attribute("title") or "")
        accessibility["list 1280"] = _axe_findings(page)
        page.screenshot(path=str(ARTIFACTS / "triage-2-list-1280.png"), full_page=True)
        page.locator("#latency-chart").screenshot(path=str(ARTIFACTS / "triage-3-chart.png"))

        page.get_by_role("link", name=first.key_id).click()
        expect(page.locator("#assignee")).to_have_text("nobody")
        page.get_by_role("button", name="Assign to me").click()
        expect(page.locator("#assignee")).to_have_text("dana")
        expect(page.get_by_role("status")).to_contain_text("assigned to dana")
        page.get_by_label("comment", exact=True).fill("asked the deploy-bot team to rotate")
        page.get_by_role("button", name="Comment").click()
        page.get_by_label("resolution").select_option("revoked")
        page.get_by_label("comment for Close").fill("key deleted in IAM")
        page.get_by_role("button", name="Close", exact=True).click()
        expect(page.locator("#state")).to_have_text("closed")
        expect(page.locator("#resolution")).to_have_text("revoked")
        timeline = page.locator("#timeline")
        expect(timeline).to_contain_text("assigned to dana — by dashboard:dana")
        expect(timeline).to_contain_text("comment: asked the deploy-bot team to rotate — by dashboard:dana")
        expect(timeline).to_contain_text("closed as revoked (was notified): key deleted in IAM")
        accessibility["exposure 1280"] = _axe_findings(page)
        page.screenshot(path=str(ARTIFACTS / "triage-4-exposure-closed-1280.png"), full_page=True)

        page.get_by_label("reason for Reopen").fill("seen in a new fork")
        page.get_by_role("button", name="Reopen").click()
        expect(page.locator("#timeline")).to_contain_text("reopened")
        expect(page.locator("#resolution")).to_have_count(0)
        expect(page.locator("#assignee")).to_have_text("dana")  # who has it stays
        page.goto(base + "/?show=all&assignee=dana")
        expect(page.locator("#open-exposures tbody tr")).to_have_count(1)
        _fits(page, 1280)

        phone = browser.new_context(
            viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, device_scale_factor=2
        )
        small = phone.new_page()
        small.goto(base + "/login")
        _fits(small, 390)
        accessibility["login 390"] = _axe_findings(small)
        small.get_by_label("API token").fill(token)
        small.get_by_role("button", name="Log in").click()
        expect(small.locator("#open-exposures")).to_contain_text(users[1].access_key_id)
        _fits(small, 390)
        accessibility["list 390"] = _axe_findings(small)
        small.screenshot(path=str(ARTIFACTS / "triage-5-list-390.png"), full_page=True)
        small.goto(f"{base}/exposures/{first.id}")
        expect(small.locator("#outcome")).to_be_visible()
        _fits(small, 390)
        accessibility["exposure 390"] = _axe_findings(small)
        small.screenshot(path=str(ARTIFACTS / "triage-6-exposure-390.png"), full_page=True)
        small.goto(f"{base}/exposures/999999")
        expect(small.get_by_role("heading", name=re.compile("No exposure"))).to_be_visible()
        expect(small.get_by_label("API token")).to_have_count(0)  # logged in: no login form
        _fits(small, 390)
        small.screenshot(path=str(ARTIFACTS / "triage-7-missing-390.png"), full_page=True)
        browser.close()
    assert {page: found for page, found in accessibility.items() if found} == {}
    assert problems == [], problems
