"""``keysentry watch``: poll git repositories and scan only what is new."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from keysentry.cli.common import EXIT_CLEAN, EXIT_FOUND, exits_cleanly, out, settings_from


def watch(
    repositories: Annotated[
        list[str], typer.Argument(help="Clone URLs or paths of git repositories to watch.")
    ],
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 60.0,
    once: Annotated[bool, typer.Option("--once", help="Poll once and exit (for cron or CI).")] = False,
    respond: Annotated[
        bool, typer.Option("--respond/--no-respond", help="Attribute, contain and announce what is found.")
    ] = True,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
    aws_endpoint_url: Annotated[
        str | None, typer.Option(help="Send AWS calls here (the local emulator).")
    ] = None,
) -> None:
    """Watch git repositories: keep a bare mirror of each (in the data folder), fetch, and scan only the
    commits that arrived since the last poll.  The first poll scans the whole history.

    Exit codes with --once: 0 nothing new found, 1 credentials found, 2 error.

    Examples:

      keysentry watch https://github.com/acme/app.git --interval 120

      keysentry watch ../service --once --no-respond
    """
    run_watch(repositories, interval, once, respond, database_url, aws_endpoint_url)


@exits_cleanly
def run_watch(
    repositories: list[str],
    interval: float,
    once: bool,
    respond: bool,
    database_url: str | None,
    endpoint: str | None,
) -> None:
    from keysentry.cli.render import print_report
    from keysentry.cli.scan import respond_and_print
    from keysentry.watch.git_remote import RepositoryWatch

    settings = settings_from(database_url=database_url, aws_endpoint_url=endpoint)
    watches = [RepositoryWatch(source, settings.data_dir / "watch") for source in repositories]
    found = False
    while True:
        for w in watches:
            poll = w.poll()
            if poll.report is None:
                continue
            out.print(f"{w.source}: {poll.new_tips} new tip(s)")
            print_report(out, poll.report)
            found = found or bool(poll.report.findings)
            if respond and poll.report.findings:
                respond_and_print(out, settings, poll.report)
        if once:
            raise typer.Exit(EXIT_FOUND if found else EXIT_CLEAN)
        time.sleep(interval)
