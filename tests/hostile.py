"""Hostile values, as whoever publishes a leak can choose them, and checks that an output kept them inert.

Each value aims at one way to break out: HTML tags and attributes, ``javascript:`` links, Slack mentions
and disguised links, Markdown links, images and table cells, code spans, terminal escape sequences,
bidirectional overrides ("Trojan Source"), forged lines, and Rich markup."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import html5lib

from keysentry.notify.health_event import ExposureFacts

ESC = "\x1b"
PATH = (
    'config/"><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    "`|<!channel>|*bold*_[click](javascript:alert(1))![i](https://evil.example/t.png)"
    f"{ESC}[31mred{ESC}[0m\u202eevil.env"
)
URL = 'javascript:alert(document.cookie)//"><script>window.pwned=3</script>'
HTTP_URL = 'https://evil.example/a|docs><!here>&x=1"onmouseover="window.pwned=4'
REPOSITORY = "<https://evil.example|github.com/acme/app> <!everyone> [/]"
AUTHOR = 'Mallory <mallory@evil.example> <!channel>\r\nContainment: nothing to do"><b>bold</b>'
COMMIT = "`</code><script>window.pwned=5</script>"
ACCOUNT_NAME = "<b>prod</b> <!subteam^S0> `x` [bold red]x[/] \u2066isolate"
# What they may never produce: control characters anywhere, Slack mentions in a Slack message.
CONTROL_TEXT = ("\x1b", "\u202e", "\u2066", "\r")
FORBIDDEN_TEXT = (*CONTROL_TEXT, "<!channel>", "<!here>", "<!everyone>", "<!subteam")
MARKERS = ("pwned", "onerror", "onmouseover")


def hostile_facts(url: str = URL, **changes: Any) -> ExposureFacts:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    source = {
        "kind": "git",
        "repository": REPOSITORY,
        "origin": HTTP_URL,  # a local clone's origin: a link only when it is a web URL, and then inert
        "url": url,
        "commit": COMMIT,
        "path": PATH,
        "line": 3,
        "author": AUTHOR,
        "committedAt": now.isoformat(),
        "where": f"{REPOSITORY}@{COMMIT}:{PATH}",
    }
    values: dict[str, Any] = {
        "exposure_id": 7,
        "key_id": "AKIAQYLPMN5HHHFPZAM2",
        "account_id": "123456789012",
        "region": "us-east-1",
        "principal_name": "deploy-bot",
        "principal_arn": "arn:aws:iam::123456789012:user/deploy-bot",
        "state": "contained",
        "exposed_url": url,
        "source": source,
        "first_seen_at": now,
        "detected_at": now,
        "contained_at": now,
        "containment": {
            "applied": True,
            "policy_name": "AWSCompromisedKeyQuarantineV3",
            "policy_kind": "aws-managed",
            "blocks": "iam:CreateUser, ec2:RunInstances",
        },
        "dashboard_url": "http://127.0.0.1:8080",
        "remediation": ["Rotate the key."],
        "account_name": ACCOUNT_NAME,
        "investigation": {
            "events": 2,
            "calls": {"GetCallerIdentity": 2},
            "regions": {"us-east-1": 2},
            "source_ips": {'203.0.113.9"><script>window.pwned=6</script>': 2},
            "flagged": [{"event": "GetCallerIdentity", "why": f"from {ESC}[2Jnew IP <!channel>"}],
        },
    }
    values.update(changes)
    return ExposureFacts(**values)


OUR_SCRIPT = "/static/local-time.js"  # the dashboard's one script, from its own origin


def assert_inert_html(page: str, allowed_links: set[str]) -> Any:
    """An HTML document, parsed as a browser would (html5lib), holds no script but the dashboard's own
    file (no inline one), no event handler, no forbidden text and no link but ``allowed_links``.
    Returns the parsed tree."""
    tree = html5lib.parse(page, namespaceHTMLElements=False)
    scripts = [(s.get("src"), (s.text or "").strip()) for s in tree.findall(".//script")]
    assert set(scripts) <= {(OUR_SCRIPT, "")}, f"a <script> element was built from a value: {scripts}"
    assert tree.findall(".//img") == [], "an <img> element was built from a value"
    for element in tree.iter():
        for name in element.attrib:
            assert not name.lower().startswith("on"), f"event handler attribute {name} on <{element.tag}>"
    # Compared decoded: a renderer may percent-encode a link's target differently.
    links = {unquote(a.get("href")) for a in tree.findall(".//a")}
    allowed = {unquote(link) for link in allowed_links}
    assert links <= allowed, f"unexpected links {links - allowed}"
    text = "".join(tree.itertext())
    for bad in CONTROL_TEXT:
        assert bad not in text, f"{bad!r} reached the page's text"
    return tree


def assert_no_control(text: str) -> None:
    found = re.findall("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
    assert not found, f"control characters reached the output: {found!r}"
