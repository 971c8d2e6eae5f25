"""``--help`` as a terminal shows it: click's plain layout (it wraps at the terminal's width, at most 80
columns, never cuts an option's name or its help, and shows no type after a flag), with each command's
examples kept as written.

Typer's Rich panels were tried first: at 80 columns they cut long option names ("--aws-endpoint-u…") and
their help, and print ``<bool>`` after every flag.  Help texts here keep one convention: a paragraph
whose lines are indented (the examples) is printed verbatim; the others are wrapped."""

from __future__ import annotations

from typing import Any

import typer

VERBATIM = "\b"  # click: the paragraph after this line is not re-wrapped


def verbatim_examples(doc: str | None) -> str | None:
    """``doc`` with a verbatim mark before each indented paragraph (after the first, the summary)."""
    if not doc:
        return doc
    import inspect

    paragraphs = inspect.cleandoc(doc).split("\n\n")
    marked = [paragraphs[0]]
    for paragraph in paragraphs[1:]:
        lines = paragraph.split("\n")
        indented = all(line.startswith("  ") for line in lines if line.strip())
        marked.append(
            f"{VERBATIM}\n{paragraph}" if indented and not paragraph.startswith(VERBATIM) else paragraph
        )
    return "\n\n".join(marked)


def plain_help(app: typer.Typer) -> None:
    """Give ``app``, its commands and its groups click's plain help, examples verbatim."""
    app.rich_markup_mode = None
    app.info.help = verbatim_examples(app.info.help) if isinstance(app.info.help, str) else app.info.help
    callback = app.registered_callback.callback if app.registered_callback else None
    if callback is not None and callback.__doc__:
        callback.__doc__ = verbatim_examples(callback.__doc__)
    for command in app.registered_commands:
        if isinstance(command.help, str):
            command.help = verbatim_examples(command.help)
        if command.callback is not None and command.callback.__doc__:
            command.callback.__doc__ = verbatim_examples(command.callback.__doc__)
    for group in app.registered_groups:
        if isinstance(group.help, str):
            group.help = verbatim_examples(group.help)
        if group.typer_instance is not None:
            plain_help(group.typer_instance)


def metavar_for(param: Any) -> str | None:
    """A value's name in ``--help`` when the command gave none: ``--database-url URL``, ``TARGET...``,
    rather than typer's ``<str>`` and ``<list[str]>``; choices keep their list."""
    described = getattr(param, "type_descriptor", None)
    if param.metavar is not None or getattr(param, "is_flag", False) or (described and described.is_choice):
        return None
    name = str(param.name or "value").upper()
    if param.param_type_name == "argument":
        return name.removesuffix("S") if param.nargs == -1 else name
    longest = str(max(param.opts, key=len)).lstrip("-")
    word = longest.rsplit("-", 1)[-1].upper()
    return {"SIZE": "BYTES", "JOBS": "N", "CONCURRENCY": "N", "TIMEOUT": "SECONDS"}.get(word, word)


def name_values(command: Any) -> None:
    """Give every parameter of ``command`` (a click command typer built) and of its subcommands a
    readable metavar (see above)."""
    for param in command.params:
        metavar = metavar_for(param)
        if metavar is not None:
            param.metavar = metavar
        if param.param_type_name == "argument":  # its name says it; typer would add "<list[str]>"
            param.display_type_rich = lambda ctx: None
    for sub in getattr(command, "commands", {}).values():
        name_values(sub)
