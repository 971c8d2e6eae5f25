"""``keysentry exposures``: what the store knows."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from keysentry.cli.common import exits_cleanly, out, settings_from
from keysentry.cli.render import exposures_table, print_exposure
from keysentry.errors import KeysentryError

app = typer.Typer(no_args_is_help=False)

DatabaseUrl = Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store (default: SQLite file).")]


@app.callback(invoke_without_command=True)
def exposures(
    ctx: typer.Context,
    state: Annotated[
        list[str] | None, typer.Option("--state", "-s", help="Only these states (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines instead of a table.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List exposures, or show one with its sightings and timeline.

    Examples:

      keysentry exposures

      keysentry exposures --state failed --state unowned

      keysentry exposures show AKIA…            # one exposure, by key ID or number
    """
    if ctx.invoked_subcommand is None:
        list_command(state or [], as_json, database_url)


@exits_cleanly
def list_command(states: list[str], as_json: bool, database_url: str | None) -> None:
    from keysentry.store.exposures import list_exposures
    from keysentry.wiring import build_store

    store = build_store(settings_from(database_url=database_url))
    with store.session() as session:
        rows = list_exposures(session, states)
        if as_json:
            for e in rows:
                out.out(
                    json.dumps(
                        {
                            "id": e.id,
                            "key_id": e.key_id,
                            "state": e.state,
                            "reason": e.state_reason,
                            "account_id": e.account_id,
                            "principal_arn": e.principal_arn,
                            "detected_at": e.detected_at.isoformat(),
                            "contained_at": e.contained_at.isoformat() if e.contained_at else None,
                            "notified_at": e.notified_at.isoformat() if e.notified_at else None,
                            "containment": e.containment,
                        }
                    ),
                    highlight=False,
                )
        else:
            out.print(exposures_table(rows))
    store.dispose()


@app.command()
def show(
    ident: Annotated[str, typer.Argument(help="Exposure number or access key ID.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Show one exposure: owner, sources, timestamps, containment and its whole timeline.

    Example:

      keysentry exposures show 1
    """
    show_command(ident, database_url)


@exits_cleanly
def show_command(ident: str, database_url: str | None) -> None:
    from keysentry.store.exposures import get_exposure
    from keysentry.wiring import build_store

    store = build_store(settings_from(database_url=database_url))
    with store.session() as session:
        exposure = get_exposure(session, ident)
        if exposure is None:
            raise KeysentryError(f"no exposure {ident!r} in {store.url}")
        print_exposure(out, exposure)
    store.dispose()
