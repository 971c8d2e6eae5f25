"""What a leak's publisher controls never becomes markup, a mention, a link or a terminal escape: every
notification format rendered with hostile values in every field, and read by a parser of the format it
lands in (html5lib as a browser, markdown-it as GitHub's CommonMark + tables, Slack's own link grammar).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import html5lib
import pytest
from markdown_it import MarkdownIt

from helpers import planted_pair
from helpers import run_keysentry as _cli
from hostile import (
    ACCOUNT_NAME,
    AUTHOR,
    COMMIT,
    ESC,
    FORBIDDEN_TEXT,
    HTTP_URL,
    PATH,
    REPOSITORY,
    URL,
    assert_inert_html,
    assert_no_control,
    hostile_facts,
)
from keysentry import escaping
from keysentry.config.notify import EmailSettings, WebhookTarget
from keysentry.notify.case import CaseChannel
from keysentry.notify.email import EmailChannel
from keysentry.notify.health_event import health_event_detail
from keysentry.notify.message import render
from keysentry.notify.sns import SnsChannel
from keysentry.notify.webhook import WebhookChannel

NOW = datetime(2026, 12, 4, 12, 1, tzinfo=UTC)
OURS = {"http://127.0.0.1:8080/exposures/7", "http://127.0.0.1:8080/exposures/7#case"}
TEMPLATES = Path(__file__).parents[1] / "src" / "keysentry"


def _email(url: str) -> dict[str, str]:
    channel = EmailChannel(None, EmailSettings())  # type: ignore[arg-type]  # rendering asks nothing
    return channel.render(hostile_facts(url), NOW)


@pytest.mark.parametrize("url", [URL, HTTP_URL], ids=["javascript-url", "http-url"])
def test_the_html_email_keeps_every_hostile_value_as_text(url: str) -> None:
    html = _email(url)["html"]
    # The exposed URL and the clone's origin (hostile_facts: HTTP_URL) are links only as web URLs.
    allowed = OURS | {link for link in (escaping.http_url(url), escaping.http_url(HTTP_URL)) if link}
    tree = assert_inert_html(html, allowed)
    text = "".join(tree.itertext())
    # The values are all there, as text a person reads (control characters shown as escapes).
    assert escaping.printable(PATH) in text
    assert escaping.printable(AUTHOR) in text
    assert REPOSITORY in text and escaping.printable(ACCOUNT_NAME) in text


def test_a_javascript_url_is_never_a_link_anywhere() -> None:
    html = _email(URL)["html"]
    assert "javascript:" not in " ".join(a.get("href", "") for a in html5lib.parse(html).iter())
    case = CaseChannel(None).render(hostile_facts(URL), NOW)["markdown"]  # type: ignore[arg-type]
    assert not any(
        token.attrs.get("href", "").startswith("javascript") for token in _inline_tokens(case, "link_open")
    )
    slack = WebhookChannel(WebhookTarget(name="s", url="http://x", format="slack")).render(
        hostile_facts(URL), NOW
    )["body"]["text"]
    assert "<javascript:" not in slack


def test_the_plain_text_email_and_sns_carry_no_escape_sequence_or_forged_line() -> None:
    text = _email(HTTP_URL)["text"]
    sns = SnsChannel(None, "arn:aws:sns:us-east-1:123456789012:t").render(hostile_facts(), NOW)  # type: ignore[arg-type]
    for body in (text, sns["message"]):
        assert_no_control(body)
        # The author's CR LF did not start a line of its own that claims something.
        assert not any(line.startswith("Containment: nothing") for line in body.splitlines())
        assert "\\r\\nContainment: nothing to do" in body


def _inline_tokens(markdown: str, kind: str) -> list:  # type: ignore[type-arg]
    md = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    found = []
    for token in md.parse(markdown):
        found += [t for t in token.children or [] if t.type == kind]
        if token.type == kind:
            found.append(token)
    return found


@pytest.mark.parametrize("url", [URL, HTTP_URL], ids=["javascript-url", "http-url"])
def test_the_markdown_case_renders_every_value_as_text_in_its_own_cell(url: str) -> None:
    case = CaseChannel(None).render(hostile_facts(url), NOW)["markdown"]  # type: ignore[arg-type]
    md = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    html = md.render(case)
    # The exposed URL and the clone's origin (hostile_facts: HTTP_URL) are links only as web URLs.
    allowed = OURS | {link for link in (escaping.http_url(url), escaping.http_url(HTTP_URL)) if link}
    tree = assert_inert_html(html, allowed)
    assert _inline_tokens(case, "html_inline") == [], "raw HTML reached the Markdown"
    assert _inline_tokens(case, "image") == [], "an image was built from a value"
    # Every table row has two cells: no value split a cell with a "|".
    for row in tree.findall(".//tr"):
        assert len(row.findall("./td") + row.findall("./th")) == 2, html5lib.serialize(row)
    codes = ["".join(c.itertext()) for c in tree.findall(".//code")]
    assert escaping.printable(PATH) in codes  # the path, verbatim, in its code span


@pytest.mark.parametrize("url", [URL, HTTP_URL], ids=["javascript-url", "http-url"])
def test_slack_messages_mention_nobody_and_link_only_where_we_do(url: str) -> None:
    text = WebhookChannel(WebhookTarget(name="s", url="http://x", format="slack")).render(
        hostile_facts(url), NOW
    )["body"]["text"]
    for bad in FORBIDDEN_TEXT:
        assert bad not in text
    # Slack's control sequences are <...>; the only ones left are the links we wrote.
    sequences = re.findall(r"<([^<>]*)>", text)
    targets = {unquote(html.unescape(s.split("|", 1)[0])) for s in sequences}
    assert targets == OURS | ({url} if escaping.http_url(url) else set())
    for sequence in sequences:
        assert sequence.count("|") == 1, f"a label was forged: {sequence}"
    assert_no_control(text)


def test_pagerduty_and_the_signed_json_carry_values_as_data_without_control_characters() -> None:
    facts = hostile_facts(HTTP_URL)
    pager = WebhookChannel(
        WebhookTarget(name="p", url="http://x", format="pagerduty", routing_key="R")
    ).render(facts, NOW)["body"]
    assert_no_control(repr(pager["payload"]["summary"]))
    assert_no_control(str(pager["payload"]["custom_details"]))
    signed = WebhookChannel(WebhookTarget(name="j", url="http://x", format="json")).render(facts, NOW)["body"]
    # JSON consumers get the values as they were reported: data, not markup (json.dumps escapes controls).
    assert signed["exposure"]["source"]["path"] == PATH


def test_the_health_event_description_has_no_control_characters_but_metadata_keeps_the_url() -> None:
    detail = health_event_detail(hostile_facts(HTTP_URL), NOW)
    assert_no_control(detail["eventDescription"][0]["latestDescription"])
    assert detail["eventMetadata"]["exposedUrl"] == HTTP_URL


def test_every_template_has_an_escaping_format_and_html_always_autoescapes() -> None:
    names = [
        p.name for folder in ("notify/templates", "service/templates") for p in (TEMPLATES / folder).iterdir()
    ]
    assert names
    for name in names:
        fmt = escaping.template_format(name)
        if ".html" in name:
            assert fmt == "html"
    env = escaping.template_environment(None, "html")  # type: ignore[arg-type]
    assert env.from_string("{{ v }}").render(v="<b>") == "&lt;b&gt;"
    with pytest.raises(ValueError, match="no escaper"):
        escaping.template_format("notes.rst.j2")
    # A message rendered through render() picks its format from the name.
    assert "&lt;" in render("chat.slack.j2", _context_with("<!channel>"))


def _context_with(value: str) -> dict:  # type: ignore[type-arg]
    from keysentry.notify.message import context

    return context(hostile_facts(source={"kind": value}), NOW)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("a\x1b[31mb", "a\\x1b[31mb"),
        ("line\nnext\rback\ttab", "line\\nnext\\rback\\ttab"),
        ("\u202eabc\u2066", "\\u202eabc\\u2066"),
        ("\x9b31m", "\\x9b31m"),
        ("plain ünïcode ✓", "plain ünïcode ✓"),
    ],
)
def test_printable_shows_controls_as_escapes(value: str, shown: str) -> None:
    assert escaping.printable(value) == shown


def test_http_url_admits_only_http_and_https_with_a_host() -> None:
    assert escaping.http_url("https://github.com/a/b") == "https://github.com/a/b"
    for bad in (
        "javascript:alert(1)",
        "JAVASCRIPT:x",
        "data:text/html,x",
        "//evil",
        "/relative",
        "https://",
        "https://a b",
        "https://a\x00b",
        "file:///etc/passwd",
        None,
        "",
    ):
        assert escaping.http_url(bad) is None, bad


def test_markdown_code_spans_survive_backticks_and_pipes() -> None:
    md = MarkdownIt("commonmark").enable("table")
    for value in ("a`b", "``x``", "`", "a|b", " "):
        span = escaping.markdown_code(value)
        html = md.render(f"| h |\n|---|\n| {span} |")
        cell = html5lib.parse(html, namespaceHTMLElements=False).find(".//td/code")
        assert cell is not None and "".join(cell.itertext()).strip() == value.strip(), (value, html)


# --- the terminal -----------------------------------------------------------------------------------
HOSTILE_NAMES = ["[/]leak.env", "[bold red]x[/bold red].env", f"{ESC}[2J{ESC}[31mred.env", "rtl\u202evne.txt"]


def test_scanning_files_with_hostile_names_prints_them_inert_and_exits_1(tmp_path: Path) -> None:
    kid, secret = planted_pair(31)
    for name in HOSTILE_NAMES:  # "[/]leak.env" is the file "]leak.env" in the folder "["
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret}\n")
    done = _cli("scan", str(tmp_path))
    assert done.returncode == 1, done.stderr  # found, not "internal error: MarkupError"
    assert "Traceback" not in done.stderr and "error" not in done.stderr
    assert_no_control(done.stdout)
    for name in HOSTILE_NAMES:
        assert f"{escaping.printable(name)}:1" in done.stdout, name  # shown as it is, markup included
    assert secret not in done.stdout + done.stderr


def test_exposures_show_prints_a_hostile_sighting_inert(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from keysentry.app.wiring import build_responder
    from keysentry.content import Provenance
    from keysentry.detect.findings import Finding, Location
    from keysentry.detect.scanner import ScanReport

    kid, _ = planted_pair(32)
    where = Provenance(
        kind="report",
        path=PATH,
        repository=REPOSITORY,
        commit="c0ffee" + COMMIT,
        author=AUTHOR,
        url=HTTP_URL,
        origin=URL,
    )
    finding = Finding("aws-access-key", "aws_access_key", kid, "ab" * 32, "123456789012")
    finding.locations.append(Location(where, 3, 1))
    responder = build_responder(settings)
    responder.record_report(ScanReport(findings=[finding]))
    responder.store.dispose()
    env = {"KEYSENTRY_DATABASE_URL": settings.resolved_database_url()}
    for args in (("exposures", "show", kid), ("exposures",)):
        done = _cli(*args, env=env)
        assert done.returncode == 0, done.stderr
        assert_no_control(done.stdout)
        assert "[/]" in done.stdout or args == ("exposures",)  # markup printed as text, not obeyed
    shown = _cli("exposures", "show", kid, env=env).stdout
    assert escaping.printable(AUTHOR) in shown and escaping.printable(REPOSITORY) in shown
    # The dashboard's list and page (outcome, origin, timeline sentences) keep every value inert.
    from fastapi.testclient import TestClient

    from keysentry.service.app import create_app
    from keysentry.store import open_store
    from keysentry.store.tokens import create_token

    store = open_store(settings.resolved_database_url())
    token = create_token(store, "viewer-person", "viewer")
    store.dispose()
    with TestClient(create_app(settings, background=False)) as client:
        client.post("/login", data={"token": token})
        for page in (client.get("/", params={"show": "all"}).text, client.get("/exposures/1").text):
            ours = {html.unescape(h) for h in re.findall(r'href="(/[^"]*)"', page)}  # the dashboard's own
            assert_inert_html(page, ours | {HTTP_URL})  # the javascript: origin never becomes a link
