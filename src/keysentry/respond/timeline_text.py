"""A timeline event as a sentence a person reads ("attributed to account 123456789012 (workloads-prod)
via sts:GetAccessKeyInfo", "quarantine AWSCompromisedKeyQuarantineV3 attached to arn:aws:iam::…:user/x"),
for the dashboard and the CLI; the event's details stay available, folded, for whoever needs them.

The words are plain text: every value in them may come from a leak (paths, authors, reasons), and each
output escapes them for its own format."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from keysentry.respond.states import RESOLUTIONS

Detail = Mapping[str, Any]


def _account(d: Detail) -> str:
    name = f" ({d['account_name']})" if d.get("account_name") else ""
    return f"account {d.get('account')}{name}"


def _attributed(d: Detail) -> str:
    text = f"attributed to {_account(d)} via {d.get('how')}" if d.get("account") else "attributed"
    if d.get("principal"):
        text += f"; owner {d['principal']}"
    if d.get("to_state") in ("unowned", "not_ours"):
        text += f" ({str(d['to_state']).replace('_', ' ')})"
    return text


def _contained(d: Detail) -> str:
    if d.get("kind") == "revoked":
        return f"revoked by {d.get('issuer')} ({d.get('call')})"
    if not d.get("applied"):
        return f"not contained: {d.get('reason') or d.get('to_state')}"
    if d.get("kind") == "revoke-role-sessions":
        return f"sessions of {d.get('target')} issued before {d.get('issued_before')} revoked"
    return f"quarantine {d.get('policy_name')} attached to {d.get('target')}"


def _investigated(d: Detail) -> str:
    flagged = d.get("flagged") or []
    text = f"CloudTrail read: {d.get('events', 0)} call(s) by the key in {d.get('regions', 0)} region(s)"
    return text + (f"; flagged: {', '.join(map(str, flagged))}" if flagged else "; nothing flagged")


def _was(d: Detail) -> str:
    return f" (was {str(d['was']).replace('_', ' ')})" if d.get("was") else ""


def _because(d: Detail) -> str:
    return f": {d['reason']}" if d.get("reason") else ""


def _closed(d: Detail) -> str:
    resolution = d.get("resolution")
    said = f" as {RESOLUTIONS.get(str(resolution), resolution)}" if resolution else ""
    return f"closed{said}{_was(d)}{_because(d)}"


SENTENCES: dict[str, Callable[[Detail], str]] = {
    "detected": lambda d: (
        f"detected ({d.get('rule')})" + (f", {d['suppressed']}" if d.get("suppressed") else "")
    ),
    "sighted": lambda d: (
        f"seen in {d.get('source')} at {d.get('where')}"
        + (f", committed by {d['author']}" if d.get("author") else "")
    ),
    "attribute.started": lambda d: "attribution started",
    "attribute.succeeded": _attributed,
    "contain.started": lambda d: "containment started",
    "contain.succeeded": _contained,
    "notify.queued": lambda d: f"announcement queued for {', '.join(map(str, d.get('channels') or []))}",
    "notify.sent": lambda d: (
        f"sent to {d.get('channel')}" + (f" ({d['receipt']})" if d.get("receipt") else "")
    ),
    "notified": lambda d: f"owner notified (first message: {d.get('channel')})",
    "investigate.started": lambda d: "investigation started",
    "investigate.succeeded": _investigated,
    "release.started": lambda d: f"release of the quarantine asked: {d.get('reason')}",
    "release.succeeded": lambda d: "quarantine released",
    "assign": lambda d: f"assigned to {d.get('assignee')}" + (f" (was {d['was']})" if d.get("was") else ""),
    "unassign": lambda d: "unassigned" + (f" (was {d['was']})" if d.get("was") else ""),
    "comment": lambda d: f"comment: {d.get('reason')}",
    "close": _closed,
    "false_positive": lambda d: f"marked a false positive{_was(d)}{_because(d)}",
}


def sentence(kind: str, detail: Detail | None, actor: str = "keysentry") -> str:
    """``kind`` with its ``detail`` as a sentence; an operator's action names who and why."""
    d = detail or {}
    if kind in SENTENCES:
        text = SENTENCES[kind](d)
    elif kind.endswith(".failed"):
        text = f"{kind.removesuffix('.failed')} failed (attempt {d.get('attempt')}): {d.get('error')}"
    elif kind.endswith(".deferred"):
        text = f"{kind.removesuffix('.deferred')} deferred until {d.get('until')}: {d.get('reason')}"
    elif kind.endswith(".succeeded"):
        text = f"{kind.removesuffix('.succeeded')} done"
    elif kind.endswith(".started"):
        text = f"{kind.removesuffix('.started')} started"
    else:  # an operator's action (acknowledge, remediate, reopen …)
        text = f"{kind.replace('_', ' ')}{_was(d)}{_because(d)}"
    return text if actor == "keysentry" else f"{text} — by {actor}"
