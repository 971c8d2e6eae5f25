"""``keysentry watch``: poll public sources (git repositories, GitHub's events, PyPI, npm) and scan only
what is new."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer

from keysentry.cli.common import EXIT_CLEAN, EXIT_FOUND, EXIT_INCOMPLETE, exits_cleanly, out, settings_from
from keysentry.errors import ConfigError
from keysentry.escaping import terminal

if TYPE_CHECKING:
    from keysentry.watch.base import Watcher, WatchPoll


def watch(
    repositories: Annotated[
        list[str] | None, typer.Argument(help="Clone URLs or paths of git repositories to watch.")
    ] = None,
    github_events: Annotated[
        bool, typer.Option("--github-events", help="Watch GitHub's public events: the commits of each push.")
    ] = False,
    pypi: Annotated[bool, typer.Option("--pypi", help="Watch PyPI's new releases (sdists, wheels).")] = False,
    npm: Annotated[bool, typer.Option("--npm", help="Watch npm's new releases (tarballs).")] = False,
    interval: Annotated[
        float | None,
        typer.Option(help="Seconds between polls of repositories, PyPI and npm (GitHub sets its own pace)."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Poll once and exit (for cron or CI).")] = False,
    respond: Annotated[
        bool, typer.Option("--respond/--no-respond", help="Attribute, contain and announce what is found.")
    ] = True,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")] = None,
    aws_endpoint_url: Annotated[
        str | None, typer.Option(help="Send AWS calls here (the local emulator).")
    ] = None,
) -> None:
    """Watch public places and scan what appears there, as it appears.

    Git repositories are kept as bare mirrors (in the data folder) and only commits that arrived since
    the last poll are scanned (the first poll scans the whole history).  GitHub's events are polled the
    way GitHub asks (ETag, X-Poll-Interval, rate limits) and every pushed commit is read.  PyPI and npm
    releases are downloaded, checked against their published hashes, and scanned as archives.  Where
    each watcher stands is kept in the store, so a restart misses nothing and repeats nothing.  What
    `[watch]` in keysentry.toml enables is watched too; `keysentry serve` runs the same watchers.

    Exit codes with --once: 0 nothing new found, 1 credentials found, 2 error.

    Examples:

      keysentry watch https://github.com/acme/app.git --interval 120

      keysentry watch --github-events --pypi --npm

      keysentry watch ../service --once --no-respond
    """
    run_watch(
        repositories or [], github_events, pypi, npm, interval, once, respond, database_url, aws_endpoint_url
    )


@exits_cleanly
def run_watch(
    repositories: list[str],
    github_events: bool,
    pypi: bool,
    npm: bool,
    interval: float | None,
    once: bool,
    respond: bool,
    database_url: str | None,
    endpoint: str | None,
) -> None:
    from keysentry.app.wiring import build_store
    from keysentry.cli.render import print_report
    from keysentry.cli.scan import respond_and_print
    from keysentry.store.cursors import Cursors
    from keysentry.watch.build import build_watchers
    from keysentry.watch.runner import WatchRunner

    settings = settings_from(database_url=database_url, aws_endpoint_url=endpoint)
    if interval is not None:
        paces = {"repository_interval": interval, "pypi_interval": interval, "npm_interval": interval}
        settings.watch = settings.watch.model_copy(update=paces)
    watchers = build_watchers(settings, repositories, github_events, pypi, npm)
    if not watchers:
        raise ConfigError(
            "nothing to watch: name git repositories, or --github-events, --pypi, --npm, "
            "or enable them in [watch] of keysentry.toml"
        )
    found = False
    printing = threading.Lock()

    def sink(watcher: Watcher, poll: WatchPoll) -> None:
        nonlocal found
        if poll.report is None:
            return
        with printing:
            out.print(f"{terminal(watcher.name)}: {terminal(poll.summary)}")
            print_report(out, poll.report)
            found = found or bool(poll.report.findings)
            if respond and poll.report.findings:
                respond_and_print(out, settings, poll.report)

    store = build_store(settings)
    runner = WatchRunner(watchers, Cursors(store), sink)
    try:
        if once:
            for watcher in watchers:
                runner.poll(watcher)
            if runner.incomplete:
                raise typer.Exit(EXIT_INCOMPLETE)
            raise typer.Exit(EXIT_FOUND if found else EXIT_CLEAN)
        out.print(f"watching {terminal(', '.join(w.name for w in watchers))}; Ctrl-C stops")
        runner.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            runner.stop()
    finally:
        store.dispose()
