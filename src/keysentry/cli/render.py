"""How findings and exposures look on a terminal and as JSON Lines.  Never with a secret.

Every value that came from a leak or a report (paths, URLs, repositories, authors, commits, account
names, reasons, timeline details) goes through :func:`keysentry.escaping.terminal` before it reaches a
Rich console: control characters and escape sequences are shown, not obeyed, and markup brackets print
as they are.  JSON Lines escape them by construction (``json.dumps``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from keysentry.detect.findings import Finding, Location
from keysentry.detect.scanner import ScanReport
from keysentry.escaping import terminal as t
from keysentry.report.sarif import history_status
from keysentry.respond.outcome import outcome_of
from keysentry.respond.states import RESOLUTIONS
from keysentry.respond.timeline_text import sentence

if TYPE_CHECKING:  # the store and AWS libraries load only for commands that use them
    from keysentry.respond.responder import StepResult
    from keysentry.store.models import Exposure

REDACTED = "REDACTED"


def when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC" if t else "-"


def after(start: datetime, t: datetime | None) -> str:
    return f"  (+{(t - start).total_seconds():.2f} s after detection)" if t else ""


def location_dict(loc: Location) -> dict[str, Any]:
    p = loc.provenance
    return {
        "kind": p.kind,
        "path": p.path,
        "line": loc.line,
        "column": loc.column,
        "repository": p.repository,
        "origin": p.origin,
        "commit": p.commit,
        "author": p.author,
        "committed_at": p.committed_at.isoformat() if p.committed_at else None,
        "url": p.url,
    }


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "fingerprint": f.fingerprint,
        "rule": f.rule_id,
        "credential_type": f.credential_type,
        "key_id": f.key_id,
        "secret": REDACTED if f.has_secret else None,
        "secret_sha256": f.secret_fingerprint or None,
        "account_id": f.account_id,
        "severity": f.severity,
        "confidence": f.confidence,
        "confidence_reason": f.confidence_reason,
        "canary": f.canary,
        "session_token_sha256": f.token_fingerprint or None,
        "suppressed": f.suppressed,
        "live": f.live,
        "at_head": f.at_head,
        "removed_in": f.removed_in,
        "locations": [location_dict(loc) for loc in f.locations],
    }


def print_jsonl(console: Console, report: ScanReport, below: int = 0) -> None:
    """One record per finding, then the documentation examples ignored (``suppressed`` says why), then
    the summary.  ``below``: findings left out by ``--min-confidence``, counted in the summary."""
    for finding in [*report.findings, *report.suppressed]:
        console.out(json.dumps(finding_dict(finding), sort_keys=True), highlight=False)
    console.out(json.dumps(summary_dict(report, below), sort_keys=True), highlight=False)


def describe_location(loc: Location) -> str:
    p = loc.provenance
    text = f"{t(p.path or p.url or p.kind)}:{loc.line}"
    if p.commit:
        text += f"  [dim](commit {t(p.commit[:12])} by {t(p.author)} on {when(p.committed_at)})[/]"
    elif p.kind == "git" and p.blob:
        text += f"  [dim](git object {t(p.blob[:12])}, not reachable from a commit's diff)[/]"
    if p.kind == "stdin" and p.at_head is False:
        text += "  [dim](a line the patch removes)[/]"
    if loc.decoding:
        text += f"  [dim]decoded: {t(loc.decoding)}[/]"
    return text


def describe_finding(f: Finding) -> str:
    if f.credential_type == "aws_access_key":
        what = "AWS access key with secret" if f.has_secret else "AWS access key ID (no secret nearby)"
        if f.token_fingerprint:
            what += " and session token"
        account = f"account {f.account_id}" if f.account_id else "account unknown offline"
        text = f"{what}, {account}"
    else:
        text = f"{t(f.rule_id)} ({t(f.credential_type)})"
    if f.canary:
        text += f"  [yellow]{t(f.canary)}[/]"
    if f.live:
        text += {
            "live": "  [bold red]LIVE: AWS accepts it[/]",
            "rejected": "  [green]rejected by AWS[/]",
        }.get(f.live, "  [dim]live check: no answer[/]")
    return text


SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def print_finding(console: Console, f: Finding, note: str = "") -> None:
    style = SEVERITY_STYLE.get(f.severity, "red")
    confidence = f"{t(f.confidence)} confidence" + (
        f" ({t(f.confidence_reason)})" if f.confidence_reason else ""
    )
    console.print(
        f"[{style}]{t(f.key_id)}[/]  {t(f.severity)} severity, {confidence}  {describe_finding(f)}{note}"
    )
    if f.has_secret:
        console.print(f"  secret: {REDACTED} (sha256 {f.secret_fingerprint[:16]}…)")
    for loc in f.locations:
        console.print(f"  at {describe_location(loc)}")
    if f.at_head is not None:
        style = "dim" if f.at_head else "yellow"
        console.print(f"  [{style}]{t(history_status(f))}[/]")


def print_report(
    console: Console,
    report: ScanReport,
    baselined: int = 0,
    below: list[Finding] | None = None,
    show_below: bool = False,
) -> None:
    """``below``: findings under ``--min-confidence``: counted, and listed with ``show_below`` (-v), as
    are the files passed over (too large, binary, …); what could not be read is always listed."""
    below = below or []
    for f in report.findings:
        print_finding(console, f)
    if show_below:
        for f in below:
            print_finding(console, f, "  [dim](below --min-confidence: not counted)[/]")
    for f in report.suppressed:
        places = ", ".join(f"{t(loc.provenance.path)}:{loc.line}" for loc in f.locations)
        console.print(f"[dim]ignored {t(f.key_id)}: {t(f.suppressed)} ({places})[/]")
    for s in report.skipped:
        if s.damaged:  # always listed: it makes the scan incomplete
            console.print(f"[yellow]could not read {t(s.provenance.describe())}: {t(s.reason)}[/]")
        elif show_below:
            console.print(f"[dim]skipped {t(s.provenance.describe())}: {t(s.reason)}[/]")
    found = len(report.findings)
    verdict = f"[bold red]{found} credential finding(s)[/]" if found else "[green]no credentials found[/]"
    known = f", {baselined} known from the baseline" if baselined else ""
    if report.excluded:
        known += f", {report.excluded} excluded (--exclude, .keysentryignore, \\[scan] of keysentry.toml)"
    if below:
        shown = "listed above" if show_below else "-v to list them"
        known += f", {len(below)} below --min-confidence ({shown})"
    passed_over = len(report.skipped) - len(report.damaged)
    skipped = f"{passed_over} skipped" + (" (-v to list them)" if passed_over and not show_below else "")
    console.print(
        f"{verdict}; scanned {report.blobs_scanned} blob(s), {report.bytes_scanned:,} bytes; "
        f"{len(report.suppressed)} example(s) ignored, {skipped}{known}"
    )
    if report.incomplete:
        console.print(f"[bold yellow]{incomplete_line(report)}[/]")


def incomplete_line(report: ScanReport) -> str:
    """What an incomplete scan says, in every format: how much could not be read, and that what was
    read is all that was checked."""
    return (
        f"INCOMPLETE: {len(report.damaged)} input(s) could not be read (missing or corrupt objects, "
        "unreadable files or archives); only what was read was checked"
    )


def summary_dict(report: ScanReport, below: int = 0) -> dict[str, Any]:
    """The JSON Lines output's last record: what the scan covered, and whether it is complete."""
    return {
        "type": "summary",
        "complete": not report.incomplete,
        "findings": len(report.findings),
        "examples_ignored": len(report.suppressed),
        "below_min_confidence": below,
        "excluded": report.excluded,
        "blobs_scanned": report.blobs_scanned,
        "bytes_scanned": report.bytes_scanned,
        "skipped": len(report.skipped),
        "unreadable": [{"where": s.provenance.describe(), "reason": s.reason} for s in report.damaged],
    }


def print_steps(console: Console, results: list[StepResult], key_of: dict[int, str]) -> None:
    for r in results:
        key = t(key_of.get(r.exposure_id, f"#{r.exposure_id}"))
        if r.error:
            console.print(f"  [red]✗[/] {key}: {r.step} failed ({t(r.error)})")
        else:
            console.print(f"  [green]✓[/] {key}: {r.step}: {r.from_state} → {r.to_state}")


OUTCOME_STYLE = {"good": "green", "warn": "yellow", "bad": "bold red", "quiet": "dim", "pending": "cyan"}
WIDE = 150  # a terminal this wide gets every column; narrower ones fewer; below 80, one block each


def outcome_text(e: Exposure) -> str:
    """The outcome as a word with its colour (the word says it without the colour)."""
    o = outcome_of(e.state, e.containment, e.state_reason)
    return f"[{OUTCOME_STYLE[o.tone]}]{o.word}[/]"


def print_exposures(console: Console, exposures: list[Exposure]) -> None:
    """The exposures as a table that fits the terminal: key IDs are never shortened; what does not fit
    is left out (``exposures show`` has it all), and below 80 columns each is a block of lines."""
    width = console.width
    if width < 80:
        for e in exposures:
            o = outcome_of(e.state, e.containment, e.state_reason)
            console.print(f"#{e.id} {t(e.key_id)}", highlight=False, soft_wrap=False)
            console.print(f"  {outcome_text(e)}: {t(o.reason)}", highlight=False, soft_wrap=False)
            assigned = f" · {t(e.assignee)}" if e.assignee else ""
            console.print(
                f"  {e.state}{assigned} · {t(_account(e))} · detected {when(e.detected_at)}",
                highlight=False,
                soft_wrap=False,
            )
        if not exposures:
            console.print("no exposures")
        return
    wide = width >= WIDE
    table = Table(title="Exposures", show_lines=False, pad_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("key", no_wrap=True, min_width=20)
    table.add_column("outcome", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("account", overflow="fold")
    if wide:
        for col in ("assignee", "principal", "seen at", "detected", "contained", "notified"):
            table.add_column(col, overflow="fold")
    else:
        table.add_column("detected", no_wrap=True)
    for e in exposures:
        cells = [str(e.id), t(e.key_id), outcome_text(e), e.state, t(_account(e))]
        if wide:
            first = e.sightings[0] if e.sightings else None
            where = f"{first.path}:{first.line}" if first else "-"
            principal = e.principal_name or e.principal_type or "-"
            cells += [
                t(e.assignee or "-"),
                t(principal),
                t(where),
                when(e.detected_at),
                when(e.contained_at),
                when(e.notified_at),
            ]
        else:
            cells.append(e.detected_at.strftime("%Y-%m-%d %H:%M"))
        table.add_row(*cells)  # cells are parsed as markup too
    console.print(table)


def _account(e: Exposure) -> str:
    return f"{e.account_id or '-'}" + (f" ({e.account_name})" if e.account_name else "")


def print_exposure(console: Console, e: Exposure) -> None:
    o = outcome_of(e.state, e.containment, e.state_reason)
    console.print(f"[bold]Exposure #{e.id}[/]  {t(e.key_id)}")
    console.print(f"  outcome       {outcome_text(e)}: {t(o.reason)}")
    console.print(f"  state         {e.state}" + (f" ({t(e.state_reason)})" if e.state_reason else ""))
    if e.resolution:
        console.print(f"  resolution    {t(RESOLUTIONS.get(e.resolution, e.resolution))}")
    console.print(f"  assigned to   {t(e.assignee or 'nobody')}")
    console.print(f"  secret        {REDACTED} (sha256 {e.secret_fingerprint[:16]}…)")
    console.print(
        f"  account       {t(e.account_id or '-')}" + (f" ({t(e.account_name)})" if e.account_name else "")
    )
    console.print(
        f"  principal     {t(e.principal_arn or e.principal_type or '-')}"
        + (f", key {t(e.key_status)}" if e.key_status else "")
    )
    for s in e.sightings:
        source = f"{t(s.path)}:{s.line}"
        if s.commit:
            source += (
                f" in {t(s.repository)} commit {t(s.commit[:12])} by {t(s.author)} ({when(s.committed_at)})"
            )
        elif s.url:
            source += f" ({t(s.url)})"
        console.print(f"  source        {t(f'[{s.source_kind}]')} {source}")
    console.print(f"  first seen    {when(e.first_seen_at)}")
    console.print(f"  detected      {when(e.detected_at)}")
    console.print(f"  contained     {when(e.contained_at)}{after(e.detected_at, e.contained_at)}")
    console.print(f"  notified      {when(e.notified_at)}{after(e.detected_at, e.notified_at)}")
    c = e.containment or {}
    if c.get("applied") and c.get("kind") == "revoke-role-sessions":
        console.print(
            f"  containment   sessions of {t(c['target'])} issued before {t(c['issued_before'])} revoked"
        )
    elif c.get("applied") and c.get("policy_arn"):
        console.print(
            f"  containment   {t(c['policy_arn'])} ({t(c.get('policy_kind'))}, denies "
            f"{t(c.get('denied_actions'))} actions) on {t(c['target'])}"
        )
    elif c.get("applied"):  # revoked by its issuer
        console.print(f"  containment   {t(o.reason)}")
    elif c:
        console.print(f"  containment   none: {t(c.get('reason'))}")
    if c.get("released_at"):
        console.print(
            f"  released      {t(c['released_at'])} by {t(c.get('released_by'))}: "
            f"{t(c.get('release_reason'))}"
        )
    latest = (e.investigation or {}).get("latest")
    if latest:
        flagged = ", ".join(sorted({f["event"] for f in latest.get("flagged", [])})) or "nothing flagged"
        console.print(f"  activity      {t(latest['events'])} CloudTrail event(s); flagged: {t(flagged)}")
    console.print("  timeline")
    for event in e.timeline:
        console.print(f"    {when(event.at)}  {t(sentence(event.kind, event.detail, event.actor))}")
