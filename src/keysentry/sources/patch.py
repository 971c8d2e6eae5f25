"""A patch on standard input (``git diff | keysentry scan -``, ``git show``, ``git log -p``, ``diff -u``):
each file's lines, placed at their line numbers in the file, so that a finding names the file and its
line in it, not a line of the patch.

A file's new version becomes one blob: its added and context lines, each on the line it has in the new
file (the lines the patch does not show are left empty, so the numbers hold).  Its removed lines become
a second blob at their old line numbers, with ``at_head=False`` ("removed by the patch"): a patch
that is published publishes what it removes too.  ``git show`` and ``git log -p`` headers give each
file its commit and author; the text around the hunks (a commit message) is scanned at its line in
the patch.  Hunks are read by their counts (``@@ -a,b +c,d @@``), so a content
line that looks like a header (``--- x`` removed, ``+++ y`` added) is content.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from keysentry.content import Blob, Provenance

HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
COMMIT = re.compile(rb"^commit ([0-9a-f]{40})\b")
MAX_GAP = 1_000_000  # lines left empty between two hunks at most (a patch's line numbers are its own)


def looks_like_patch(data: bytes) -> bool:
    """A unified diff: a ``diff --git`` or ``---``/``+++`` header followed by a hunk."""
    head = data[:65536]
    has_header = head.startswith((b"diff --git ", b"--- ", b"commit ")) or b"\ndiff --git " in head
    return has_header and re.search(rb"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@", head, re.M) is not None


@dataclass
class _File:
    old: str | None = None
    new: str | None = None
    added: dict[int, bytes] = field(default_factory=dict)  # new line number -> text (added or context)
    removed: dict[int, bytes] = field(default_factory=dict)  # old line number -> text


def _path(raw: bytes) -> str | None:
    text = raw.decode("utf-8", errors="replace").split("\t", 1)[0].strip()
    if text == "/dev/null":
        return None
    if len(text) > 1 and text[0] == text[-1] == '"':  # git quotes unusual paths, C style
        text = text[1:-1].encode("latin-1", errors="replace").decode("unicode_escape", errors="replace")
    return text[2:] if text.startswith(("a/", "b/")) else text


def _lines(numbered: dict[int, bytes]) -> bytes | None:
    """The lines at their numbers, the others empty; None if the gaps are too wide to fill."""
    if not numbered:
        return None
    last = max(numbered)
    if last - len(numbered) > MAX_GAP:
        return None
    return b"\n".join(numbered.get(n, b"") for n in range(1, last + 1)) + b"\n"


def split_patch(data: bytes, source: Provenance) -> Iterator[Blob]:
    """The files of a patch as blobs (see the module's description); the patch as it is if a file's
    line numbers would need more than ``MAX_GAP`` empty lines."""
    commit = author = None
    files: list[tuple[_File, str | None, str | None]] = []
    current: _File | None = None
    old_line = new_line = old_left = new_left = 0
    # Everything outside the hunks (a commit message, a mail's text, headers): scanned too, at its line
    # in the patch, so that nothing standard input brought goes unread.
    around: dict[int, bytes] = {}
    for number, line in enumerate(data.split(b"\n"), start=1):
        if old_left <= 0 and new_left <= 0:
            around[number] = line
        if old_left > 0 or new_left > 0:  # inside a hunk: counted content
            assert current is not None
            marker, text = line[:1], line[1:]
            if marker == b"\\":  # "\ No newline at end of file"
                continue
            if marker in (b" ", b""):
                current.added[new_line] = text
                old_line, new_line, old_left, new_left = (
                    old_line + 1,
                    new_line + 1,
                    old_left - 1,
                    new_left - 1,
                )
            elif marker == b"+":
                current.added[new_line] = text
                new_line, new_left = new_line + 1, new_left - 1
            elif marker == b"-":
                current.removed[old_line] = text
                old_line, old_left = old_line + 1, old_left - 1
            continue
        if match := COMMIT.match(line):
            commit, author = match.group(1).decode(), None
        elif line.startswith(b"Author: ") and commit:
            author = line[8:].decode("utf-8", errors="replace").strip()
        elif line.startswith(b"diff --git "):
            current = _File()
            files.append((current, commit, author))
        elif line.startswith(b"--- ") and (current is None or current.added or current.removed):
            current = _File(old=_path(line[4:]))  # a plain unified diff: no "diff --git" line
            files.append((current, commit, author))
        elif line.startswith(b"--- ") and current is not None:
            current.old = _path(line[4:])
        elif line.startswith(b"+++ ") and current is not None:
            current.new = _path(line[4:])
        elif (hunk := HUNK.match(line)) and current is not None:
            old_line, new_line = int(hunk.group(1)), int(hunk.group(3))
            old_left = int(hunk.group(2)) if hunk.group(2) is not None else 1
            new_left = int(hunk.group(4)) if hunk.group(4) is not None else 1
    blobs: list[Blob] = []
    for f, sha, who in files:
        for numbered, path, gone in ((f.added, f.new, None), (f.removed, f.old, False)):
            if path is None or not any(numbered.values()):
                continue
            lines = _lines(numbered)
            if lines is None:
                yield Blob(data, source)  # line numbers out of reach: the patch, as it came
                return
            where = Provenance(kind="stdin", path=path, commit=sha, author=who, at_head=gone)
            blobs.append(Blob(lines, where))
    outside = _lines(around) if any(around.values()) else None
    if outside is not None:
        blobs.append(Blob(outside, source))
    yield from blobs
