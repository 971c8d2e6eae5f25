"""The ``keysentry`` command: scan, respond, exposures, serve, emulator, demo, db."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keysentry import __version__
from keysentry.cli import config as config_cli
from keysentry.cli import emulator as emulator_cli
from keysentry.cli import exposures as exposures_cli
from keysentry.cli import scan as scan_cli
from keysentry.cli import serve as serve_cli
from keysentry.cli import tokens as tokens_cli
from keysentry.cli import watch as watch_cli
from keysentry.cli import worker as worker_cli
from keysentry.cli.common import EXIT_CLEAN, EXIT_FOUND, exits_cleanly, out, settings_from
from keysentry.cli.help_text import name_values, plain_help

app = typer.Typer(
    name="keysentry",
    help=(
        "Find exposed cloud credentials, contain them within seconds without breaking production, "
        "and tell the owner exactly what happened.\n\n"
        "Start with:\n\n"
        "  keysentry demo              # the whole loop, on a local AWS emulator\n\n"
        "Then:\n\n"
        "  keysentry scan PATH         # find\n\n"
        "  keysentry respond PATH      # find, contain, announce\n\n"
        "  keysentry serve             # the service, its API and dashboard\n\n"
        "  keysentry COMMAND --help    # each command, with examples"
    ),
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
app.command()(scan_cli.scan)
app.command()(scan_cli.respond)
app.add_typer(exposures_cli.app, name="exposures")
app.command()(emulator_cli.emulator)
app.command()(serve_cli.serve)
app.add_typer(tokens_cli.app, name="tokens")
app.add_typer(config_cli.app, name="config")
app.command()(watch_cli.watch)
app.command()(worker_cli.worker)

db_app = typer.Typer(
    help="The store's schema (Alembic migrations).\n\nExample:\n\n  keysentry db upgrade",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


def _version(value: bool) -> None:
    if value:
        out.print(f"keysentry {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """keysentry."""


@app.command()
def demo(
    keep: Annotated[
        Path | None,
        typer.Option(
            help="Keep the demo's repository, database and logs in this folder instead of a temporary one."
        ),
    ] = None,
) -> None:
    """Run the whole loop once, for real, on a local AWS emulator (about 15 s).

    Starts the emulator, seeds an organization with IAM enforcement on, commits
    a real (emulator) key pair to a small git repository, scans it, attributes
    and quarantines the key, publishes a Health-compatible event, and proves
    with the leaked key that resource creation is denied while reads still
    work.  Exit code 0 when every check holds.

    Example:

      keysentry demo --keep ./demo-out
    """
    run_demo_command(keep)


@exits_cleanly
def run_demo_command(keep: Path | None) -> None:
    from keysentry.cli.demo.run import run_demo  # the demo pulls in the emulator; load it only when asked

    settings_from()
    ok = run_demo(out, keep)
    raise typer.Exit(EXIT_CLEAN if ok else EXIT_FOUND)


@db_app.command("upgrade")
def db_upgrade(database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL.")] = None) -> None:
    """Create or migrate the database to the newest schema.

    Example:

      keysentry db upgrade --database-url postgresql+psycopg://keysentry@db/ks
    """
    run_db_upgrade(database_url)


@exits_cleanly
def run_db_upgrade(database_url: str | None) -> None:
    from keysentry.app.wiring import build_store

    store = build_store(settings_from(database_url=database_url))
    out.print(f"{store.url} is at revision {store.current_revision()} (head {store.head_revision()})")
    store.dispose()


plain_help(app)  # click's plain --help: fits 80 columns, cuts nothing, examples as written


def main() -> None:
    """The console entry point.  Whatever escapes a command's own handling still exits 2 (an error),
    never 1: a CI job reads 1 as "credentials found"."""
    exits_cleanly(_run)()


def _run() -> None:
    command = typer.main.get_command(app)
    name_values(command)
    command()
