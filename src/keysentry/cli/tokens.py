"""``keysentry tokens``: API tokens for the service, with roles."""

from __future__ import annotations

from typing import Annotated

import typer

from keysentry.cli.common import exits_cleanly, out, settings_from
from keysentry.escaping import printable

app = typer.Typer(
    help="API tokens for `keysentry serve` (viewer, responder, admin).\n\n"
    "Examples:\n\n"
    "  keysentry tokens create ci-pipeline --role responder\n\n"
    "  keysentry tokens list\n\n"
    "  keysentry tokens revoke ci-pipeline",
    no_args_is_help=True,
)
DatabaseUrl = Annotated[str | None, typer.Option(help="SQLAlchemy URL of the store.")]


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Who or what will use it (recorded on every action it takes).")],
    role: Annotated[
        str, typer.Option(help="viewer (read), responder (report and act), admin (everything).")
    ] = "viewer",
    database_url: DatabaseUrl = None,
) -> None:
    """Create a token and print it once; only its SHA-256 is stored.

    Example:

      keysentry tokens create ci-pipeline --role responder
    """
    run_create(name, role, database_url)


@exits_cleanly
def run_create(name: str, role: str, database_url: str | None) -> None:
    from keysentry.app.wiring import build_store
    from keysentry.store.tokens import create_token

    store = build_store(settings_from(database_url=database_url))
    token = create_token(store, name, role)
    store.dispose()
    out.print(token, highlight=False)


@app.command("list")
def list_(database_url: DatabaseUrl = None) -> None:
    """List tokens (names, roles, when created or revoked; never the tokens).

    Example:

      keysentry tokens list --database-url postgresql+psycopg://db/ks
    """
    run_list(database_url)


@exits_cleanly
def run_list(database_url: str | None) -> None:
    from keysentry.app.wiring import build_store
    from keysentry.store.tokens import list_tokens

    store = build_store(settings_from(database_url=database_url))
    tokens = list_tokens(store)
    store.dispose()
    if not tokens:
        out.print("no tokens")
        return
    names = [printable(t.name) for t in tokens]
    wide = max(4, *map(len, names))
    # name, role, created, revoked: one line each when they fit, else a block per token
    if wide + 2 + 9 + 2 + 16 + 2 + 16 <= out.width:
        out.print(f"{'name':<{wide}}  {'role':<9}  {'created (UTC)':<16}  revoked", markup=False)
        for name, t in zip(names, tokens, strict=True):
            revoked = f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "-"
            line = f"{name:<{wide}}  {t.role:<9}  {t.created_at:%Y-%m-%d %H:%M}  {revoked}"
            out.print(line, markup=False, soft_wrap=False, overflow="ignore", crop=False)
        return
    for name, t in zip(names, tokens, strict=True):
        out.print(name, markup=False)
        out.print(f"  {t.role}, created {t.created_at:%Y-%m-%d %H:%M} UTC", markup=False)
        if t.revoked_at:
            out.print(f"  revoked {t.revoked_at:%Y-%m-%d %H:%M} UTC", markup=False)


@app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")], database_url: DatabaseUrl = None
) -> None:
    """Revoke every token of that name.

    Example:

      keysentry tokens revoke ci-pipeline
    """
    run_revoke(name, database_url)


@exits_cleanly
def run_revoke(name: str, database_url: str | None) -> None:
    from keysentry.app.wiring import build_store
    from keysentry.store.tokens import revoke_token

    store = build_store(settings_from(database_url=database_url))
    out.print(f"revoked {revoke_token(store, name)} token(s) named {name}")
    store.dispose()
