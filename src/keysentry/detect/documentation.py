"""Credentials written inside documentation: examples, never live.

**API models.**
API models (botocore's ``service-2.json``, Smithy models) carry each operation's documentation as a
JSON string, HTML included, and their examples show made-up values shaped like real ones: an Azure SAS
URL in DataSync's model, passwords in IAM's.  A match inside the string value of a
``"documentation"`` key is reported as an ignored example with that reason.  JSON strings do not
span lines, so the key is looked for on the match's own line.

**Generic values in documentation files.**  A generic rule's finding (a value under a name that says
password or token, no issuer's format behind it) in a Markdown, reStructuredText or AsciiDoc file, or
in a file named as an example or sample (``.env.example``, ``config.sample.yml``, botocore's
``examples-1.json``), is an example: such files show readers what to write.  Typed rules are not
affected: a real key pasted into a README is reported.
"""

from __future__ import annotations

import re
from dataclasses import replace

from keysentry.detect.findings import Match

REASON = "in an API model's documentation string"
GENERIC_REASON = "a generic value in documentation or an example file"
DOCUMENTATION_SUFFIXES = (".md", ".markdown", ".mdx", ".rst", ".adoc", ".asciidoc", ".textile", ".pod")
_EXAMPLE_NAME = re.compile(r"(?i)(?:^|[._-])(?:example|examples|sample|samples|template|dist)(?:$|[._-])")
_KEYS = (b'"documentation"', b'"smithy.api#documentation"')
_OPENING = re.compile(r'"(?:documentation|smithy\.api#documentation)"\s*:\s*"')
_STRING_END = re.compile(r'(?<!\\)(?:\\\\)*"')


def _inside_documentation(line: str, column: int) -> bool:
    """Whether the 1-based character ``column`` of ``line`` is inside a documentation string."""
    before = line[: max(0, column - 1)]
    openings = list(_OPENING.finditer(before))
    return bool(openings) and _STRING_END.search(before, openings[-1].end()) is None


def mark_documented(data: bytes, matches: list[Match]) -> list[Match]:
    """The matches inside an API model's documentation strings become ignored examples."""
    if not matches or not any(key in data for key in _KEYS):
        return matches
    lines = data.split(b"\n")
    marked = []
    for m in matches:
        if m.suppressed is None and 0 < m.line <= len(lines):
            line = lines[m.line - 1].decode("utf-8", errors="replace")
            if _inside_documentation(line, m.column):
                m = replace(m, suppressed=REASON)
        marked.append(m)
    return marked


def documentation_file(path: str | None) -> bool:
    """Whether a file (by its name, inside an archive too) is documentation or an example to copy."""
    if not path:
        return False
    name = path.replace("\\", "/").rsplit("/", 1)[-1].rsplit("!", 1)[-1].lower()
    return name.endswith(DOCUMENTATION_SUFFIXES) or _EXAMPLE_NAME.search(name) is not None
