"""``keysentry scan`` and ``keysentry respond``."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from keysentry.cli.common import EXIT_CLEAN, EXIT_FOUND, err, exits_cleanly, out, settings_from
from keysentry.cli.render import print_jsonl, print_report, print_steps
from keysentry.detect.scanner import ScanReport
from keysentry.scanning import scan_targets
from keysentry.settings import Settings
from keysentry.sources.files import DEFAULT_MAX_FILE_SIZE

if TYPE_CHECKING:
    from keysentry.respond.responder import StepResult


class Format(StrEnum):
    text = "text"
    jsonl = "jsonl"


NoHistory = Annotated[
    bool,
    typer.Option("--no-history", help="In a git repository, scan only the files on disk, not every commit."),
]
MaxSize = Annotated[
    int, typer.Option("--max-file-size", help="Skip (and report) files larger than this, in bytes.")
]
DatabaseUrl = Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store (default: SQLite file).")]
Endpoint = Annotated[str | None, typer.Option(help="Send AWS calls here (the local emulator).")]


def respond_and_print(console: Console, settings: Settings, report: ScanReport | None) -> list[StepResult]:
    """Record the report's findings (or nothing) and advance every exposure it touched (or all pending)."""
    from keysentry.store.models import Exposure  # loaded here: plain scans need no database or AWS
    from keysentry.wiring import build_responder

    responder = build_responder(settings)
    ids = responder.record_report(report) if report is not None else None
    results = responder.advance_all(ids)
    with responder.store.session() as session:
        keys = {}
        for r in results:
            exposure = session.get(Exposure, r.exposure_id)
            keys[r.exposure_id] = exposure.key_id if exposure else f"#{r.exposure_id}"
    console.print(f"store: {responder.store.url}")
    print_steps(console, results, keys)
    if not results:
        console.print("nothing to do: every exposure is already handled")
    responder.store.dispose()
    return results


def scan(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files, folders or git repositories to scan; '-' reads standard input. Default: '.'"
        ),
    ] = None,
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="text for people, jsonl for machines.")
    ] = Format.text,
    respond: Annotated[
        bool, typer.Option("--respond", help="Also attribute, contain and announce what is found.")
    ] = False,
    no_history: NoHistory = False,
    max_file_size: MaxSize = DEFAULT_MAX_FILE_SIZE,
    database_url: DatabaseUrl = None,
    aws_endpoint_url: Endpoint = None,
) -> None:
    """Find exposed credentials in files, folders, git history or standard input.

    Secrets are never printed: each finding shows the key ID, the account it
    belongs to (decoded offline), a SHA-256 fingerprint of the secret and every
    place it was seen.  Documentation examples are reported as ignored.

    Exit codes: 0 nothing found, 1 credentials found, 2 error.

    Examples:

      keysentry scan .                       # this folder; a git repo's whole history too

      keysentry scan config/ --format jsonl  # one JSON object per finding

      git diff | keysentry scan -            # standard input

      keysentry scan repo/ --respond         # contain and announce what is found
    """
    run_scan(targets or ["."], fmt, respond, no_history, max_file_size, database_url, aws_endpoint_url)


@exits_cleanly
def run_scan(
    targets: list[str],
    fmt: Format,
    respond: bool,
    no_history: bool,
    max_file_size: int,
    database_url: str | None,
    endpoint: str | None,
) -> None:
    settings = settings_from(database_url=database_url, aws_endpoint_url=endpoint)
    report = scan_targets(targets, history=not no_history, max_size=max_file_size)
    if fmt is Format.jsonl:
        print_jsonl(out, report)
    else:
        print_report(out, report)
    if respond:
        # Machine-readable output stays clean on stdout; the response story goes to stderr.
        respond_and_print(err if fmt is Format.jsonl else out, settings, report)
    raise typer.Exit(EXIT_FOUND if report.findings else EXIT_CLEAN)


def respond(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Scan these first; with none, resume every unfinished exposure in the store."),
    ] = None,
    no_history: NoHistory = False,
    database_url: DatabaseUrl = None,
    aws_endpoint_url: Endpoint = None,
) -> None:
    """Attribute, contain and announce exposed AWS keys.

    For each credential found: documentation examples are dropped without any
    AWS call; the owning account comes from the key ID (or STS
    GetAccessKeyInfo), the owning user from IAM GetAccessKeyLastUsed in that
    account (through AssumeRole into member accounts); the user gets the AWS
    managed AWSCompromisedKeyQuarantineV3 policy; a Health-compatible event goes
    to the EventBridge bus.  Every step is recorded on the exposure's timeline.
    Running it again changes nothing that is already done.

    Exit codes: 0 every exposure handled, 1 some step failed (run again to retry), 2 error.

    Examples:

      keysentry respond leaked-repo/

      keysentry respond                      # retry whatever failed or was interrupted

      KEYSENTRY_AWS_ENDPOINT_URL=http://127.0.0.1:5000 keysentry respond repo/
    """
    run_respond(targets or [], no_history, database_url, aws_endpoint_url)


@exits_cleanly
def run_respond(targets: list[str], no_history: bool, database_url: str | None, endpoint: str | None) -> None:
    settings = settings_from(database_url=database_url, aws_endpoint_url=endpoint)
    report = None
    if targets:
        report = scan_targets(targets, history=not no_history)
        print_report(out, report)
    results = respond_and_print(out, settings, report)
    raise typer.Exit(EXIT_FOUND if any(r.error for r in results) else EXIT_CLEAN)
