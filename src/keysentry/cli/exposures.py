"""``keysentry exposures``: what the store knows."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from keysentry.cli.common import exits_cleanly, out, settings_from
from keysentry.cli.render import print_exposure, print_exposures
from keysentry.errors import KeysentryError
from keysentry.escaping import terminal
from keysentry.respond.states import OPERATOR_ACTIONS

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

      keysentry exposures show 12      # one exposure, by number or key ID
    """
    if ctx.invoked_subcommand is None:
        list_command(state or [], as_json, database_url)


@exits_cleanly
def list_command(states: list[str], as_json: bool, database_url: str | None) -> None:
    from keysentry.app.wiring import build_store
    from keysentry.respond.outcome import outcome_of
    from keysentry.store.exposures import list_exposures

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
                            **outcome_of(e.state, e.containment, e.state_reason).as_dict(),
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
            print_exposures(out, rows)
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
    from keysentry.app.wiring import build_store
    from keysentry.store.exposures import get_exposure

    store = build_store(settings_from(database_url=database_url))
    with store.session() as session:
        exposure = get_exposure(session, ident)
        if exposure is None:
            raise KeysentryError(f"no exposure {ident!r} in {store.url}")
        print_exposure(out, exposure)
    store.dispose()


Actor = Annotated[
    str | None, typer.Option(help="Who decides (recorded on the timeline). Default: your login.")
]
Reason = Annotated[str | None, typer.Option("--reason", "-r", help="Why (recorded on the timeline).")]
Endpoint = Annotated[str | None, typer.Option(help="Send AWS calls here (the local emulator).")]


def _act(
    ident: str,
    action: str,
    actor: str | None,
    reason: str | None,
    database_url: str | None,
    endpoint: str | None = None,
) -> None:
    import getpass

    from keysentry.app.wiring import build_responder
    from keysentry.store.exposures import get_exposure

    settings = settings_from(database_url=database_url, aws_endpoint_url=endpoint)
    responder = build_responder(settings)
    with responder.store.session() as session:
        exposure = get_exposure(session, ident)
        if exposure is None:
            raise KeysentryError(f"no exposure {ident!r} in {responder.store.url}")
        exposure_id, key_id = exposure.id, exposure.key_id
    who = actor or f"cli:{getpass.getuser()}"
    state = responder.act(exposure_id, action, who, reason)
    out.print(f"exposure #{exposure_id} {terminal(key_id)}: {action} by {terminal(who)} → {state}")
    responder.store.dispose()


def _register(name: str, action: str, summary: str, example: str) -> None:
    @exits_cleanly
    def command(
        ident: Annotated[str, typer.Argument(help="Exposure number or access key ID.")],
        reason: Reason = None,
        actor: Actor = None,
        database_url: DatabaseUrl = None,
        aws_endpoint_url: Endpoint = None,
    ) -> None:
        _act(ident, action, actor, reason, database_url, aws_endpoint_url)

    command.__doc__ = f"{summary}\n\nExample:\n\n  {example}"
    app.command(name)(command)


for _action in OPERATOR_ACTIONS.values():  # one command per operator action, from the one table
    _register(_action.command, _action.name, _action.summary, _action.example)
