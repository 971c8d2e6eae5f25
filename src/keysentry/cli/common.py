"""Shared CLI plumbing: settings, consoles, and turning errors into exit code 2."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from keysentry.app.logs import configure_logging
from keysentry.config.settings import Settings, load_settings
from keysentry.errors import KeysentryError
from keysentry.escaping import terminal

EXIT_CLEAN = 0
EXIT_FOUND = 1
EXIT_ERROR = 2  # keysentry could not do what was asked (bad settings, a target that cannot be read)
EXIT_INCOMPLETE = 2  # the scan ran, but part of the input could not be read: its findings are not all

# No emoji codes, no highlighting: a ":smile:" or a number in a leaked path prints as it is.
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
log = logging.getLogger("keysentry.cli")

P = ParamSpec("P")
R = TypeVar("R")


def settings_from(**overrides: object) -> Settings:
    given = {k: v for k, v in overrides.items() if v is not None}
    settings = load_settings(**given)
    configure_logging(settings.log_level, settings.log_file, settings.log_format)
    if settings.cache_dir:  # from keysentry.toml too: the engine (and each worker process) reads it here
        os.environ["KEYSENTRY_CACHE_DIR"] = settings.cache_dir
    return settings


def with_executor(settings: Settings, **changes: object) -> Settings:
    """``settings`` with these ``[executor]`` keys changed (those given), the rest of the table kept."""
    given = {k: v for k, v in changes.items() if v is not None}
    if not given:
        return settings
    executor = type(settings.executor).model_validate({**settings.executor.model_dump(), **given})
    return settings.model_copy(update={"executor": executor})


def exits_cleanly(func: Callable[P, R]) -> Callable[P, R]:
    """Errors keysentry understands print one clear line and exit 2; anything else too, with the log."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeysentryError as exc:
            err.print(f"[bold red]error:[/] {terminal(exc, lines=True)}")
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(EXIT_ERROR) from None
        except Exception as exc:
            log.exception("unexpected error")
            err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {terminal(exc, lines=True)}")
            raise typer.Exit(EXIT_ERROR) from None

    return wrapper
