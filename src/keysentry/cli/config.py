"""``keysentry config``: check a configuration file and show what keysentry would run with."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr

from keysentry.cli.common import EXIT_CLEAN, exits_cleanly, out
from keysentry.config.durations import format_duration
from keysentry.escaping import map_strings, terminal

app = typer.Typer(
    help="The configuration: keysentry.toml and KEYSENTRY_* variables.\n\n"
    "Example:\n\n  keysentry config check --file keysentry.toml",
    no_args_is_help=True,
)

# A URL's password (postgresql://user:pw@host, https://user:token@host): shown as ***.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/:@\s]*:)(?P<password>[^@\s/]+)(?=@)")


@app.command("check")
def check(
    file: Annotated[
        Path | None,
        typer.Argument(help="The file to check. Default: $KEYSENTRY_CONFIG, else ./keysentry.toml."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The effective configuration as JSON.")] = False,
) -> None:
    """Validate the configuration and print the effective settings, secrets masked.

    Every key of the file and every KEYSENTRY_* variable is checked: an unknown one is an error that
    names the closest valid key ("did you mean smtp_host?"), as is a value of the wrong type.  Exit
    code 0 when valid, 2 when not (the service refuses to start on the same errors).

    Examples:

      keysentry config check

      keysentry config check /etc/keysentry/keysentry.toml

      KEYSENTRY_LOG_LEVEL=debug keysentry config check --json
    """
    run_check(file, as_json)


@exits_cleanly
def run_check(file: Path | None, as_json: bool) -> None:
    from keysentry.config.settings import config_path, load_settings_from, origins, read_config_file

    path = file if file is not None else config_path()[0]
    settings = load_settings_from(file)
    data = read_config_file(path) if path.is_file() else {}
    effective = _masked(_plain(settings.model_dump()))
    if as_json:
        out.out(json.dumps(effective, indent=2, sort_keys=True), highlight=False)
        raise typer.Exit(EXIT_CLEAN)
    came_from = origins(data, path)
    if path.is_file():
        out.print(f"{terminal(path)} is valid.")
    else:
        out.print(f"no configuration file ({terminal(path)} does not exist): defaults and environment only.")
    out.print("Effective configuration (secrets masked; after # where each value came from):")
    for key, value in _flatten(effective):
        top = key.split(".", 1)[0].split("[", 1)[0]
        source = came_from.get(top, "default")
        if source == str(path) and not _present(data, key):
            source = "default"
        out.print(f"  {terminal(key)} = {terminal(json.dumps(value))}  [dim]# {terminal(source)}[/]")
    raise typer.Exit(EXIT_CLEAN)


def _plain(value: Any) -> Any:
    """A dumped model as JSON-ready values written the way the file takes them (``90s``, ``15m``)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, SecretStr):
        return "**********"
    if isinstance(value, Path):
        return str(value)
    return value


def _masked(value: Any) -> Any:
    """Secrets out of a dumped configuration: SecretStr fields are already ``**********``; URL
    passwords, and anything the detection engine recognises as a credential, are masked here."""
    from keysentry.app.logs import redact_secrets

    return map_strings(value, lambda text: redact_secrets(_URL_PASSWORD.sub(r"\g<head>***", text)))


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        return [
            item for k, v in sorted(value.items()) for item in _flatten(v, f"{prefix}.{k}" if prefix else k)
        ]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [item for n, v in enumerate(value) for item in _flatten(v, f"{prefix}[{n}]")]
    return [(prefix, value)]


def _present(data: dict[str, Any], key: str) -> bool:
    """Whether the dotted ``key`` (``notify.webhooks[0].url``) was written in the file."""
    node: Any = data
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(node, list) or index >= len(node):
                return False
            node = node[index]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


__all__ = ["app"]
