"""Text from a leak, made safe for the place it lands.

Everything keysentry says about an exposure is built from what whoever published the leak controls: the
file's path, the URL, the repository's name, the commit's author and message, even an account's name.
Each place such text lands has one function here, and the templates and consoles apply them by
construction (``notify/message.py`` renders each template format through its own escaper,
``cli/render.py`` prints hostile values only through :func:`terminal`), so a template author cannot
forget one.

* :func:`printable`: control characters (C0, DEL, C1), Unicode bidirectional controls ("Trojan Source")
  and line separators become visible escapes such as ``\\x1b`` and ``\\u202e``: a value can neither
  move the cursor, recolour a terminal, reorder what is shown, nor start a line of its own.
* :func:`terminal`: printable, and Rich's markup brackets escaped.
* :func:`slack`, :func:`slack_code`, :func:`slack_link`: Slack's rule (``&``, ``<``, ``>`` as entities),
  so ``<!channel>`` or ``<https://evil|docs>`` in a value stay text.
* :func:`markdown`, :func:`markdown_code`, :func:`markdown_link`: CommonMark backslash escapes, code
  spans whose fence outgrows any backtick run in the value, and ``|`` escaped for tables.
* :func:`http_url`: only ``http``/``https`` URLs with a host become links anywhere.
* :func:`spreadsheet_cell`: a CSV export's cell never starts a spreadsheet formula.

HTML is escaped by Jinja2's autoescape (``markupsafe``), on for every HTML template.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from markupsafe import Markup
from rich.markup import escape as _rich_escape

if TYPE_CHECKING:  # Jinja2 is imported by the code that renders templates, not by every command
    from jinja2 import BaseLoader, Environment

__all__ = [
    "Literal",
    "http_url",
    "map_strings",
    "markdown",
    "markdown_code",
    "markdown_link",
    "printable",
    "slack",
    "slack_code",
    "slack_link",
    "spreadsheet_cell",
    "template_environment",
    "template_format",
    "terminal",
]

# C0 controls, DEL and C1 controls; the bidi embedding, override and isolate controls and marks; the
# line and paragraph separators.  Each is shown as an escape instead of acting.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that start markup
# inline (emphasis, code, links, images, raw HTML and entities, tables, strikethrough, headings).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>!|~#&{}])")
_BACKTICKS = re.compile(r"`+")


class Literal(str):
    """Text already made safe for its format (a code span or a link built here): not escaped again."""

    __slots__ = ()


def _visible(m: re.Match[str]) -> str:
    char = m.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object) -> str:
    """``value`` as text with every control, bidi and line-separator character shown as an escape."""
    return _CONTROL.sub(_visible, str(value))


def map_strings(value: Any, change: Callable[[str], str], keys: bool = False) -> Any:
    """``value`` (nested dicts and lists, as JSON holds them) with ``change`` applied to every string
    (with ``keys``, to the objects' keys too)."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {(change(k) if keys else k): map_strings(v, change, keys) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [map_strings(v, change, keys) for v in value]
    return value


def nul_free(text: str) -> str:
    """``text`` with each NUL character shown as U+FFFD: PostgreSQL's text cannot hold one, and no
    path, URL, name or comment has one."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def terminal(value: object, lines: bool = False) -> str:
    """For a Rich console line: printable, with markup brackets escaped (``[bold]`` prints as is).
    With ``lines``, a multi-line message (an error of ours) keeps its line breaks."""
    if lines:
        return "\n".join(_rich_escape(printable(line)) for line in str(value).split("\n"))
    return _rich_escape(printable(value))


def http_url(value: object) -> str | None:
    """``value`` if it is an absolute ``http``/``https`` URL with a host and nothing hidden in it, else
    None: ``javascript:``, ``data:``, relative and scheme-less values never become links."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or _CONTROL.search(text) or any(c.isspace() for c in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return text


# --- spreadsheets --------------------------------------------------------------------------------
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text that would start a formula (``=HYPERLINK(…)``,
    ``+cmd|…``, ``@SUM``) gets a leading ``'`` (OWASP's advice); other values are left as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


# --- Slack ----------------------------------------------------------------------------------------
def slack(value: object) -> str:
    """Slack mrkdwn text: ``&``, ``<`` and ``>`` as entities, so nothing becomes a mention or a link."""
    return printable(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_code(value: object) -> Literal:
    """An inline code span in Slack: a backtick in the value cannot close it (Slack has no escape)."""
    return Literal("`" + slack(value).replace("`", "'") + "`")


def slack_link(url: object, label: object | None = None) -> Literal:
    """``<url|label>`` for an http(s) URL (``|`` and spaces percent-encoded so the label cannot be
    forged); any other value is shown as a code span, not a link."""
    target = http_url(url)
    if target is None:
        return slack_code(url)
    target = quote(target, safe="/:?#[]@!$&'()*+,;=%~-._")  # encodes |, <, >, " and the like
    shown = slack(label if label is not None else url).replace("|", "¦")
    return Literal(f"<{slack(target)}|{shown}>")


# --- Markdown -------------------------------------------------------------------------------------
def markdown(value: object) -> str:
    """Inline Markdown text: every character that could start markup is backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", printable(value))


def markdown_code(value: object) -> Literal:
    """An inline code span that holds ``value`` verbatim, usable in a table cell: the fence is longer
    than any run of backticks inside, and ``|`` is escaped (GFM reads ``\\|`` as ``|`` in tables)."""
    text = printable(value).replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return Literal(f"{fence}{pad}{text}{pad}{fence}")


def markdown_link(url: object, label: object | None = None) -> Literal:
    """``[label](<url>)`` for an http(s) URL; any other value as a code span."""
    target = http_url(url)
    if target is None:
        return markdown_code(url)
    target = quote(target, safe="/:?#[]@!$&'()*+,;=%~-._")
    return Literal(f"[{markdown(label if label is not None else url)}](<{target}>)")


# --- templates ------------------------------------------------------------------------------------
# A template's format is the suffix before ``.j2`` (``email.html.j2``, ``case.md.j2``): each format is
# rendered by an environment whose every ``{{ … }}`` goes through that format's escaper.  HTML
# templates (``.html`` or ``.html.j2``) always autoescape, whatever their extension.
_ESCAPERS = {"html": printable, "txt": printable, "md": markdown, "slack": slack}
_FILTERS: dict[str, dict[str, Callable[..., Any]]] = {
    "html": {"http_url": http_url},
    "txt": {},
    "md": {"code": markdown_code, "link": markdown_link},
    "slack": {"code": slack_code, "link": slack_link},
}


def template_format(name: str) -> str:
    """``email.html.j2`` → ``html``; ``base.html`` → ``html``.  Unknown formats are refused, so a new
    template cannot be rendered without an escaper."""
    stem = name[: -len(".j2")] if name.endswith(".j2") else name
    fmt = stem.rsplit(".", 1)[-1] if "." in stem else ""
    if fmt not in _ESCAPERS:
        raise ValueError(
            f"template {name!r}: no escaper for its format {fmt!r} (use one of {sorted(_ESCAPERS)})"
        )
    return fmt


def template_environment(loader: BaseLoader, fmt: str, **options: Any) -> Environment:
    """A Jinja2 environment for templates of one format: autoescaped for HTML, and every expression's
    value passed through the format's escaper (values built by the format's own filters excepted)."""
    from jinja2 import Environment, StrictUndefined

    escape = _ESCAPERS[fmt]

    def finalize(value: Any) -> Any:
        if isinstance(value, Literal | Markup):
            return value
        return escape(value)

    options.setdefault("undefined", StrictUndefined)
    # Non-HTML formats are escaped by ``finalize``, for their own syntax, not by markupsafe.
    env = Environment(loader=loader, autoescape=fmt == "html", finalize=finalize, **options)  # noqa: S701
    env.filters.update(_FILTERS[fmt])
    return env
