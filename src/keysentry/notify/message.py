"""What every message says, in words people read: one context built from :class:`ExposureFacts`, and the
Jinja2 templates (``templates/``) that lay it out for each channel.  The secret is never in the facts,
so it cannot be in any message.

A template's name says its format (``email.html.j2``, ``email.txt.j2``, ``case.md.j2``,
``chat.slack.j2``), and each format renders through its own environment, which escapes every value for
that format (:mod:`keysentry.escaping`): what a leak's publisher wrote into a path, URL, repository name
or author never becomes markup, a mention, a link or a terminal escape."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader

from keysentry.escaping import http_url, template_environment, template_format
from keysentry.notify.health_event import ExposureFacts, describe

KIND_OF_KEY = {
    "iam-user": "long-term access key of an IAM user",
    "role-session": "temporary access key of a role session",
    "root": "access key of the account's root user",
}


@cache
def templates(fmt: str) -> Environment:
    """The environment for one template format (``html``, ``txt``, ``md``, ``slack``)."""
    return template_environment(
        PackageLoader("keysentry.notify", "templates"),
        fmt,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, context: dict[str, Any]) -> str:
    return templates(template_format(template)).get_template(template).render(**context)


def _when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S UTC") if t else "not yet"


def _containment(facts: ExposureFacts) -> dict[str, Any]:
    c = facts.containment or {}
    if not c.get("applied"):
        nothing = "no quarantine was applied" if facts.aws else "it was not revoked"
        return {"applied": False, "what": c.get("reason") or nothing, "blocks": ""}
    if c.get("kind") == "revoked":
        what = f"revoked by {c.get('issuer')} ({c.get('call')})"
        if c.get("already_applied"):
            what = f"already revoked: {c.get('issuer')} no longer accepts it ({c.get('call')})"
        return {"applied": True, "what": what, "blocks": c.get("blocks", "")}
    if c.get("kind") == "revoke-role-sessions":
        what = (
            f"every session of the role {facts.principal_name} issued before {c.get('issued_before')} is "
            "denied (an inline policy on aws:TokenIssueTime); new sessions work as before"
        )
        return {"applied": True, "what": what, "blocks": c.get("blocks", "")}
    what = f"{c.get('policy_name')} ({c.get('policy_kind')}) attached to {facts.principal_arn}"
    if c.get("deactivate_at"):
        what += f"; the key will be deactivated at {c['deactivate_at']}"
    return {"applied": True, "what": what, "blocks": c.get("blocks", "")}


def _investigation(facts: ExposureFacts) -> dict[str, Any] | None:
    latest = facts.investigation
    if not latest:
        return None
    top = sorted(latest.get("calls", {}).items(), key=lambda kv: -kv[1])[:8]
    return {
        "events": latest.get("events", 0),
        "first": latest.get("first"),
        "last": latest.get("last"),
        "calls": [f"{name} ({n})" for name, n in top],
        "regions": sorted(latest.get("regions", {})),
        "source_ips": sorted(latest.get("source_ips", {})),
        "created": [f"{c.get('kind')} {c.get('id')} ({c.get('region')})" for c in latest.get("created", [])],
        "flagged": [
            f"{f.get('event')}: {f.get('why', f.get('reason', ''))}" for f in latest.get("flagged", [])
        ],
    }


def context(facts: ExposureFacts, now: datetime) -> dict[str, Any]:
    """Everything a message may say about an exposure, ready for a template."""
    source = facts.source or {}
    account = facts.account_id + (f" ({facts.account_name})" if facts.account_name else "")
    kind = KIND_OF_KEY.get(facts.principal_type or "", "access key") if facts.aws else facts.credential_label
    return {
        "aws": facts.aws,
        "credential": facts.credential_label,
        "issuer": facts.issuer,
        "key_id": facts.key_id,
        "kind_of_key": kind,
        "account": account if facts.account_id else (facts.account_name or ""),
        "account_id": facts.account_id,
        "principal": facts.principal_arn or facts.principal_name or "unknown",
        "severity": facts.severity,
        "state": facts.state,
        "source": {
            "kind": source.get("kind") or "unknown",
            "url": facts.exposed_url,
            "link": http_url(facts.exposed_url),  # only http(s) URLs become links
            "repository": source.get("repository"),
            "origin": source.get("origin"),
            "origin_link": http_url(source.get("origin")),  # a link only when it is a web URL
            "commit": source.get("commit"),
            "path": source.get("path"),
            "line": source.get("line"),
            "author": source.get("author"),
            "committed_at": source.get("committedAt"),
            "where": source.get("where"),
        },
        "first_seen": _when(facts.first_seen_at),
        "detected": _when(facts.detected_at),
        "contained": _when(facts.contained_at),
        "notified": _when(now),
        "containment": _containment(facts),
        "summary": describe(facts),
        "investigation": _investigation(facts),
        "remediation": facts.remediation,
        "secret_live": facts.secret_live,
        "exposure_url": http_url(facts.exposure_url),
        "case_url": http_url(f"{facts.exposure_url}#case"),
        "notification_id": facts.notification_id,
    }


def subject(facts: ExposureFacts) -> str:
    applied = (facts.containment or {}).get("applied")
    if not facts.aws:
        what = "revoked" if applied else "needs action"
        return f"[keysentry] Exposed {facts.credential_label} {facts.key_id}: {what}"
    what = "contained" if applied else "needs action"
    if facts.suspected:
        return f"[keysentry] AWS access key ID {facts.key_id} of account {facts.account_id} seen: {what}"
    return f"[keysentry] Exposed AWS access key {facts.key_id} in account {facts.account_id}: {what}"
