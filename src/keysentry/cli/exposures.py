"""``keysentry exposures``: what the store knows."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from keysentry.cli.common import exits_cleanly, out, settings_from
from keysentry.cli.render import exposures_table, print_exposure
from keysentry.errors import KeysentryError
from keysentry.escaping import terminal

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
    from keysentry.app.wiring import build_store
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


_register(
    "ack", "acknowledge", "Acknowledge a notified exposure: someone is on it.", "keysentry exposures ack 12"
)
_register(
    "remediate",
    "remediate",
    "Mark an exposure remediated (key rotated, activity reviewed).",
    'keysentry exposures remediate AKIA… -r "rotated, CloudTrail reviewed"',
)
_register(
    "close",
    "close",
    "Close an exposure once it is remediated (or not ours, or an example).",
    "keysentry exposures close 12",
)
_register(
    "false-positive",
    "false_positive",
    "Mark an exposure a false positive (a reason is required).",
    'keysentry exposures false-positive 12 -r "test fixture, never a real key"',
)
_register(
    "reopen",
    "reopen",
    "Reopen a resolved exposure and respond again (a reason is required).",
    'keysentry exposures reopen 12 -r "seen in a new fork"',
)
_register(
    "release",
    "release",
    "Take the quarantine off the owner (a reason is required; recorded).",
    'keysentry exposures release 12 -r "key deactivated, workloads moved"',
)
