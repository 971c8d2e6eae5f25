"""JSON from other people's programs, parsed within bounds: a body nested deeper than ``MAX_DEPTH``
levels is refused, naming the limit, before the decoder sees it (Python's decoder recurses once per
level: 5,000 nested arrays in a 40 KB body end in a ``RecursionError`` otherwise, and so would every
walk over the decoded value).  The reports keysentry reads nest a few levels (SARIF, the deepest,
about eight)."""

from __future__ import annotations

import json
import re
from typing import Any

from keysentry.escaping import map_strings, nul_free

MAX_DEPTH = 64
# A string (skipped whole, escapes and all) or one bracket: only brackets outside strings count.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


class TooDeep(ValueError):
    """The JSON nests deeper than the limit."""


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`TooDeep` if ``text``'s arrays and objects nest deeper than ``limit``."""
    if text.count("[") + text.count("{") <= limit:  # (cheap: too few brackets to be too deep)
        return
    depth = 0
    for token in _TOKENS.finditer(text):
        c = token.group()
        if c in "[{":
            depth += 1
            if depth > limit:
                raise TooDeep(f"the JSON nests deeper than {limit} levels")
        elif c in "]}":
            depth -= 1


def loads(text: str | bytes, limit: int = MAX_DEPTH) -> Any:
    """``json.loads`` for a body that nests at most ``limit`` levels (:class:`TooDeep` otherwise),
    without NUL characters (:func:`without_nul`)."""
    if isinstance(text, bytes | bytearray):
        text = text.decode()
    check_depth(text, limit)
    return without_nul(json.loads(text))


def without_nul(value: Any) -> Any:
    """``value`` with every NUL character in its strings (keys too) shown as U+FFFD: JSON can carry
    ``\\u0000``, PostgreSQL's text cannot.  (Bounded: the value nests at most ``MAX_DEPTH`` levels.)"""
    return map_strings(value, nul_free, keys=True)
