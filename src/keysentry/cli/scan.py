"""``keysentry scan`` and ``keysentry respond``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from keysentry import __version__
from keysentry.cli.common import (
    EXIT_CLEAN,
    EXIT_FOUND,
    EXIT_INCOMPLETE,
    err,
    exits_cleanly,
    out,
    settings_from,
    with_executor,
)
from keysentry.cli.render import incomplete_line, print_jsonl, print_report, print_steps, when
from keysentry.config.settings import Settings, load_settings
from keysentry.detect.findings import Finding
from keysentry.detect.rules import load_rules
from keysentry.detect.scanner import ScanReport
from keysentry.errors import ConfigError
from keysentry.escaping import terminal
from keysentry.report import apply_baseline, load_baseline, sarif_log
from keysentry.report.confidence import MinConfidence, apply_min_confidence
from keysentry.report.ignore import apply_ignores
from keysentry.report.scan_config import scan_choices
from keysentry.scan.pipeline import ScanOptions, scan_targets
from keysentry.sources.files import DEFAULT_MAX_FILE_SIZE

if TYPE_CHECKING:
    from keysentry.respond.responder import StepResult


class Format(StrEnum):
    text = "text"
    jsonl = "jsonl"
    sarif = "sarif"


NoHistory = Annotated[
    bool,
    typer.Option("--no-history", help="In a git repository, scan only the files on disk, not every commit."),
]
MaxSize = Annotated[
    int, typer.Option("--max-file-size", help="Skip (and report) files larger than this, in bytes.")
]
Jobs = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        min=0,
        help="Worker processes; 0 (default) picks one per CPU for large inputs and 1 for small ones.",
    ),
]
DatabaseUrl = Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store (default: SQLite file).")]
CheckLive = Annotated[
    bool | None,
    typer.Option(
        "--check-live/--no-check-live",
        help="Ask AWS whether each key pair still works (sts:GetCallerIdentity signed with it, during the "
        "scan; never for canary accounts). Default: the check_live setting, off.",
    ),
]
Endpoint = Annotated[str | None, typer.Option(help="Send AWS calls here (the local emulator).")]


def respond_and_print(console: Console, settings: Settings, report: ScanReport | None) -> list[StepResult]:
    """Record the report's credentials (or nothing); advance what they touched (or all pending)."""
    from keysentry.app.wiring import build_responder
    from keysentry.store.queries import key_ids  # loaded here: plain scans need no database or AWS

    responder = build_responder(settings)
    ids = responder.record_report(report) if report is not None else None
    results = responder.advance_all(ids)
    with responder.store.session() as session:
        known = key_ids(session, sorted({r.exposure_id for r in results}))
    keys = {r.exposure_id: known.get(r.exposure_id, f"#{r.exposure_id}") for r in results}
    console.print(f"store: {responder.store.url}")
    print_steps(console, results, keys)
    waiting, next_at = responder.dispatcher.waiting()
    if waiting:
        console.print(
            f"{waiting} notification(s) wait for a retry, the next at {when(next_at)}: "
            "run `keysentry respond` again then, or let `keysentry serve` deliver them"
        )
    elif not results:
        console.print("nothing to do: every exposure is already handled")
    responder.store.dispose()
    return results


def scan(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files, folders, archives, git repositories (a path or a clone URL); '-' reads "
            "standard input. Default: '.'"
        ),
    ] = None,
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="text for people; jsonl or sarif for machines.")
    ] = Format.text,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here, not stdout.")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="Hide findings listed in this file (a previous jsonl or "
            "sarif report, or a JSON list of fingerprints)."
        ),
    ] = None,
    staged: Annotated[
        bool,
        typer.Option("--staged", help="Scan only what is staged for the next commit (the pre-commit hook)."),
    ] = False,
    respond: Annotated[
        bool, typer.Option("--respond", help="Also attribute, contain and announce what is found.")
    ] = False,
    no_history: NoHistory = False,
    jobs: Jobs = 0,
    max_file_size: MaxSize = DEFAULT_MAX_FILE_SIZE,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="Progress bar with bytes/s (default: when stderr is a terminal)."
        ),
    ] = None,
    min_confidence: Annotated[
        MinConfidence | None,
        typer.Option(
            "--min-confidence",
            help="Report findings at least this sure: high (a checksum or structure holds, or a "
            "verified pair), medium (a typed rule), low (a generic password or secret, a failed "
            "checksum, a malformed key). Those below are counted, not reported, and do not change "
            "the exit code. Default: [scan] min_confidence of keysentry.toml, else medium.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Text output: also list the findings below --min-confidence and the files skipped "
            "(too large, binary, …).",
        ),
    ] = False,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            "-x",
            metavar="GLOB",
            help="Leave out findings in these paths (relative to what is scanned; repeatable): "
            "'tests/fixtures/', '*.min.js'. A .keysentryignore in a scanned folder adds globs and "
            "fingerprints. What is left out is counted.",
        ),
    ] = None,
    no_config: Annotated[
        bool,
        typer.Option(
            "--no-config",
            help="Read no .keysentryignore and no [scan] of a keysentry.toml in or above the scanned "
            "folders (for a checkout of someone else's repository).",
        ),
    ] = False,
    database_url: DatabaseUrl = None,
    aws_endpoint_url: Endpoint = None,
    check_live: CheckLive = None,
    executor: Annotated[
        str | None,
        typer.Option(
            help="celery: hand each target to `keysentry worker` processes (queue scan; a large local "
            "history in parts), record what they find and follow them to the end. Default: scan here.",
            rich_help_panel="Scanning on workers",
        ),
    ] = None,
    broker_url: Annotated[
        str | None,
        typer.Option(help="With --executor celery: the broker.", rich_help_panel="Scanning on workers"),
    ] = None,
    targets_from: Annotated[
        Path | None,
        typer.Option(
            help="Also scan the targets listed in this file, one per line ('-': standard input).",
            rich_help_panel="Scanning on workers",
        ),
    ] = None,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="With --executor celery: queue the jobs and exit.",
            rich_help_panel="Scanning on workers",
        ),
    ] = False,
    follow: Annotated[
        str | None,
        typer.Option(
            metavar="BATCH",
            help="Follow a batch queued earlier (with --detach) to its end.",
            rich_help_panel="Scanning on workers",
        ),
    ] = None,
) -> None:
    """Find exposed credentials in files, folders, archives, git history or standard input.

    AWS access keys (with their secret and session token, the account decoded
    offline, canary keys recognised) and 200 other credential types; base64,
    URL-encoded, escaped and UTF-16 content is decoded.  Secrets are never
    printed: each finding shows an ID, a SHA-256 fingerprint of the secret and
    every place it was seen.  Documentation examples are reported as ignored.

    Every finding has a confidence.  Tokens with a checksum (GitHub's ghp_…,
    npm_…) are high when it holds; a made-up token that fails it is low ("fails
    GitHub's checksum, probably a test value") and is listed only with -v or
    --min-confidence low.  Findings are listed by severity, then confidence.

    Exit codes: 0 nothing found, 1 credentials found, 2 error or incomplete.

    Examples:

      keysentry scan .                           # a folder; a repo's history

      keysentry scan https://github.com/org/repo.git   # cloned to a temp folder

      keysentry scan dist/pkg-1.0.tar.gz -j 2    # archives, two processes

      keysentry scan . -f sarif -o keysentry.sarif     # for GitHub code scanning

      keysentry scan . -f jsonl > known.jsonl    # today's findings, then later:

      keysentry scan . --baseline known.jsonl    # only what is new

      git diff | keysentry scan -                # standard input

      keysentry scan --staged                    # what the next commit would add

      keysentry scan . --min-confidence low      # failed checksums too

      keysentry scan . -x 'tests/fixtures/' -x '*.min.js'   # not there (counted)

      keysentry scan --executor celery --targets-from repos.txt   # on workers
    """
    if executor not in (None, "inline", "celery"):
        raise typer.BadParameter(f"{executor!r} is not inline or celery", param_hint="--executor")
    if executor == "celery" or follow:
        on_workers(
            read_targets(targets or [], targets_from),
            follow,
            detach,
            fmt,
            no_history,
            max_file_size,
            database_url,
            aws_endpoint_url,
            broker_url,
            refused={
                "--staged": staged,
                "--baseline": baseline is not None,
                "--output": output is not None,
                "--format sarif": fmt is Format.sarif,
                "--respond (workers always record and answer)": respond,
                "--exclude": bool(exclude),
                "--check-live": bool(check_live),
            },
        )
        return
    if targets_from is not None:
        targets = read_targets(targets or [], targets_from)
    options = ScanOptions(history=not no_history, staged=staged, max_file_size=max_file_size, jobs=jobs)
    options = with_live_check(options, check_live, database_url, aws_endpoint_url)
    run_scan(
        targets or ["."],
        fmt,
        output,
        baseline,
        options,
        respond,
        progress,
        database_url,
        aws_endpoint_url,
        min_confidence.value if min_confidence else None,
        verbose,
        tuple(exclude or ()),
        not no_config,
    )


def read_targets(targets: list[str], targets_from: Path | None) -> list[str]:
    """The targets named on the command line, then those listed in ``targets_from`` (one per line; blank
    lines and # comments skipped; '-' reads the list from standard input)."""
    listed: list[str] = list(targets)
    if targets_from is not None:
        text = typer.get_text_stream("stdin").read() if str(targets_from) == "-" else targets_from.read_text()
        listed += [
            line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")
        ]
    return listed


@exits_cleanly
def on_workers(
    targets: list[str],
    batch: str | None,
    detach: bool,
    fmt: Format,
    no_history: bool,
    max_file_size: int,
    database_url: str | None,
    endpoint: str | None,
    broker_url: str | None,
    refused: dict[str, bool],
) -> None:
    given = [name for name, used in refused.items() if used]
    if given:
        raise ConfigError(f"{', '.join(given)}: not with --executor celery (workers record what they find)")
    from keysentry.cli.fanout import fan_out, follow

    settings = with_executor(
        settings_from(database_url=database_url, aws_endpoint_url=endpoint), broker_url=broker_url
    )
    as_json = fmt is Format.jsonl
    if batch is not None:
        code = follow(settings, batch, as_json)
    else:
        code = fan_out(settings, targets, not no_history, max_file_size, detach, as_json)
    raise typer.Exit(code)


ProgressHooks = tuple[Callable[[int], None] | None, Callable[[int | None], None] | None]


@contextmanager
def progress_bar(enabled: bool) -> Iterator[ProgressHooks]:
    """A Rich bar with bytes/s on a terminal; plain lines every few seconds when forced into a log."""
    if not enabled:
        yield None, None
        return
    if err.is_terminal:
        columns = [
            TextColumn("scanning"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
        ]
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("scan", total=None)
            yield (lambda n: bar.advance(task, n)), (lambda total: bar.update(task, total=total))
        return
    started = last = time.monotonic()
    done = 0

    def line() -> str:
        elapsed = max(time.monotonic() - started, 1e-6)
        return f"scanning: {done / 1e6:,.1f} MB in {elapsed:.1f} s ({done / 1e6 / elapsed:,.1f} MB/s)"

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        if time.monotonic() - last >= 2:
            last = time.monotonic()
            err.print(line())

    yield advance, None
    err.print(line())


@exits_cleanly
def run_scan(
    targets: list[str],
    fmt: Format,
    output: Path | None,
    baseline: Path | None,
    options: ScanOptions,
    respond: bool,
    progress: bool | None,
    database_url: str | None,
    endpoint: str | None,
    min_confidence: str | None = None,
    verbose: bool = False,
    exclude: tuple[str, ...] = (),
    read_config: bool = True,
) -> None:
    settings = settings_from(database_url=database_url, aws_endpoint_url=endpoint)
    known = load_baseline(baseline) if baseline else frozenset()
    choices = scan_choices(targets, exclude, min_confidence, read_files=read_config)
    for path in choices.config_files:
        err.print(f"using \\[scan] of {terminal(str(path))}", highlight=False)
    show_progress = err.is_terminal if progress is None else progress
    with progress_bar(show_progress) as (on_progress, on_total):
        report = scan_targets(targets, options, on_progress=on_progress, on_total=on_total)
    report, _ = apply_ignores(report, choices.ignores)
    baselined: list[Finding] = []
    if known:
        report, baselined = apply_baseline(report, known)
    report, below = apply_min_confidence(report, choices.min_confidence)
    target = (
        Console(file=output.open("w", encoding="utf-8"), highlight=False, soft_wrap=True, emoji=False)
        if output
        else out
    )
    try:
        if fmt is Format.jsonl:
            print_jsonl(target, report, len(below))
        elif fmt is Format.sarif:
            target.out(
                json.dumps(sarif_log(report, load_rules(), __version__, baselined), indent=2), highlight=False
            )
        else:
            print_report(target, report, len(baselined), below, verbose)
    finally:
        if output:
            target.file.close()
    if output and fmt is not Format.text:
        err.print(f"{len(report.findings)} finding(s) written to {output}")
    if respond:
        # Machine-readable output stays clean on stdout; the response story goes to stderr.
        respond_and_print(err if fmt is not Format.text or output else out, settings, report)
    if report.incomplete and (fmt is not Format.text or output):
        err.print(incomplete_line(report), highlight=False)
    raise typer.Exit(exit_code(report))


def exit_code(report: ScanReport) -> int:
    """2 when the scan could not read everything (even with findings: a CI gate must not pass on half a
    history), else 1 with findings, else 0."""
    if report.incomplete:
        return EXIT_INCOMPLETE
    return EXIT_FOUND if report.findings else EXIT_CLEAN


def respond(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Scan these first; with none, resume every unfinished exposure in the store."),
    ] = None,
    no_history: NoHistory = False,
    database_url: DatabaseUrl = None,
    aws_endpoint_url: Endpoint = None,
    check_live: CheckLive = None,
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

      keysentry respond                      # retry what failed or was cut off

      KEYSENTRY_AWS_ENDPOINT_URL=http://127.0.0.1:5000 keysentry respond repo/
    """
    options = with_live_check(ScanOptions(history=not no_history), check_live, database_url, aws_endpoint_url)
    run_respond(targets or [], options, database_url, aws_endpoint_url)


@exits_cleanly
def with_live_check(
    options: ScanOptions, check_live: bool | None, database_url: str | None, endpoint: str | None
) -> ScanOptions:
    """The scan options with the live check on when the flag (or else the setting) says so."""
    if check_live is False:
        return options
    given = {k: v for k, v in {"database_url": database_url, "aws_endpoint_url": endpoint}.items() if v}
    if check_live or load_settings(**given).check_live:
        from keysentry.app.wiring import build_live_check

        return replace(options, live_check=build_live_check(settings_from(**given)))
    return options


@exits_cleanly
def run_respond(
    targets: list[str], options: ScanOptions, database_url: str | None, endpoint: str | None
) -> None:
    settings = settings_from(database_url=database_url, aws_endpoint_url=endpoint)
    report = None
    if targets:
        report = scan_targets(targets, options)
        print_report(out, report)
    results = respond_and_print(out, settings, report)
    raise typer.Exit(EXIT_FOUND if any(r.error for r in results) else EXIT_CLEAN)
