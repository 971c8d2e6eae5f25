"""``keysentry exposures``: what the store knows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated

import typer

from keysentry.cli.common import exits_cleanly, out, settings_from
from keysentry.cli.render import print_exposure, print_exposures
from keysentry.errors import KeysentryError
from keysentry.escaping import terminal
from keysentry.respond.states import OPERATOR_ACTIONS, RESOLUTIONS, OperatorAction

app = typer.Typer(no_args_is_help=False)

DatabaseUrl = Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store (default: SQLite file).")]


@app.callback(invoke_without_command=True)
def exposures(
    ctx: typer.Context,
    state: Annotated[
        list[str] | None, typer.Option("--state", "-s", help="Only these states (repeatable).")
    ] = None,
    outcome: Annotated[
        str | None,
        typer.Option(
            metavar="OUTCOME",
            help="Only this outcome: contained, revoked, released, 'not contained', 'not acted on', pending.",
        ),
    ] = None,
    assignee: Annotated[
        str | None,
        typer.Option(metavar="PERSON", help="Only those assigned to PERSON ('none': to nobody)."),
    ] = None,
    severity: Annotated[
        str | None, typer.Option(metavar="LEVEL", help="Only this severity: critical, high, medium, low.")
    ] = None,
    account: Annotated[str | None, typer.Option(metavar="ID", help="Only this AWS account.")] = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search", "-q", metavar="TEXT", help="A key ID (or its start), or text in a repository or path."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines instead of a table.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List exposures, or show one with its sightings and timeline.

    Examples:

      keysentry exposures

      keysentry exposures --state failed --state unowned

      keysentry exposures --outcome "not contained" --assignee none

      keysentry exposures -q AKIAIOSFODNN7 --json

      keysentry exposures show 12      # one exposure, by number or key ID
    """
    if ctx.invoked_subcommand is None:
        chosen = Listing(state or [], outcome, assignee, severity, account, search)
        list_command(chosen, as_json, database_url)


@dataclass(frozen=True)
class Listing:
    states: list[str]
    outcome: str | None = None
    assignee: str | None = None
    severity: str | None = None
    account: str | None = None
    search: str | None = None


@exits_cleanly
def list_command(chosen: Listing, as_json: bool, database_url: str | None) -> None:
    from keysentry.app.wiring import build_store
    from keysentry.detect.rules import SEVERITIES
    from keysentry.respond.outcome import WORDS, outcome_is, outcome_of
    from keysentry.store.queries import ExposureFilter, each_exposure

    if chosen.outcome is not None and chosen.outcome not in WORDS:
        raise KeysentryError(f"no outcome {chosen.outcome!r}; one of: {', '.join(WORDS)}")
    if chosen.severity is not None and chosen.severity not in SEVERITIES:
        raise KeysentryError(f"no severity {chosen.severity!r}; one of: {', '.join(SEVERITIES)}")
    f = ExposureFilter(
        state=chosen.states or None,
        account=chosen.account,
        severity=chosen.severity,
        search=chosen.search,
        assignee=chosen.assignee,
        where=(outcome_is(chosen.outcome),) if chosen.outcome else (),
    )
    store = build_store(settings_from(database_url=database_url))
    with store.session() as session:
        rows = list(each_exposure(session, f))
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
                            "assignee": e.assignee,
                            "resolution": e.resolution,
                            "severity": e.severity,
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


Resolution = Annotated[
    str,
    typer.Option(
        "--as",
        metavar="RESOLUTION",
        help="Why: " + ", ".join(r.replace("_", "-") for r in RESOLUTIONS) + ".",
    ),
]
Assignee = Annotated[str, typer.Option("--to", metavar="PERSON", help="A name or an address; '' unassigns.")]


def _act(
    ident: str,
    action: str,
    actor: str | None,
    reason: str | None,
    database_url: str | None,
    endpoint: str | None = None,
    **decision: str | None,
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
    state = responder.act(exposure_id, action, who, reason, **decision)
    done = action
    if action == "assign":
        done = f"assigned to {terminal(decision['assignee'])}" if decision.get("assignee") else "unassigned"
    elif decision.get("resolution"):
        done = f"{action} as {decision['resolution']}"
    out.print(f"exposure #{exposure_id} {terminal(key_id)}: {done} by {terminal(who)} → {state}")
    responder.store.dispose()


Ident = Annotated[str, typer.Argument(help="Exposure number or access key ID.")]


def _register(a: OperatorAction) -> None:
    if a.needs == "resolution":

        @exits_cleanly
        def command(
            ident: Ident,
            resolution: Resolution,
            reason: Reason = None,
            actor: Actor = None,
            database_url: DatabaseUrl = None,
        ) -> None:
            _act(ident, a.name, actor, reason, database_url, resolution=resolution)

    elif a.needs == "assignee":

        @exits_cleanly
        def command(  # type: ignore[misc]
            ident: Ident,
            assignee: Assignee,
            reason: Reason = None,
            actor: Actor = None,
            database_url: DatabaseUrl = None,
        ) -> None:
            _act(ident, a.name, actor, reason, database_url, assignee=assignee)

    else:

        @exits_cleanly
        def command(  # type: ignore[misc]
            ident: Ident,
            reason: Reason = None,
            actor: Actor = None,
            database_url: DatabaseUrl = None,
            aws_endpoint_url: Endpoint = None,
        ) -> None:
            _act(ident, a.name, actor, reason, database_url, aws_endpoint_url)

    command.__doc__ = f"{a.summary}\n\nExample:\n\n  {a.example}"
    app.command(a.command)(command)


for _action in OPERATOR_ACTIONS.values():  # one command per operator action, from the one table
    _register(_action)
