"""Whether two places of a blob sit in one structure: the same JSON object, or the same block of
assignments (an env file, an INI section, a YAML mapping), however far apart they are.

Pairing asks this of an ID and a secret its keyword names when they are too far apart to be paired by
nearness: a pretty-printed JSON document whose ``AccessKeyId`` and ``SecretAccessKey`` are 200 lines
apart, an ``[profile prod]`` section with a hundred settings between the two keys, a ``.env`` file that
sets the ID at the top and the secret at the bottom.

Both tests are linear in the bytes between the two places and read nothing else, so asking them of a
100 MB blob costs what lies between the two places, not the blob.
"""

from __future__ import annotations

import re

# A JSON string value: `"name": "` (or the same escaped inside a string, `\"name\": \"`) right before.
_JSON_VALUE = re.compile(rb'(?:"|\\")\s*:\s*(?:"|\\")\Z')
_JSON_TOKEN = re.compile(rb'"(?:[^"\\\n]|\\.)*"|[{}\[\]]')
# One assignment: `NAME=value`, `export NAME=value`, `name = value`, `name: value`, `"name": value`,
# `- name: value` (a YAML list item that is a mapping).
_ASSIGNMENT = re.compile(rb'[ \t]*(?:export[ \t]+|-[ \t]+)?["\']?[A-Za-z_][\w.\-]*["\']?[ \t]*[:=]')
_COMMENT = re.compile(rb"[ \t]*(?:#|;|//)")


def same_structure(data: bytes, first: tuple[int, int], second: tuple[int, int]) -> bool:
    """Whether the spans ``first`` and ``second`` (start, end; ``first`` before ``second``) are values of
    one JSON object or of one block of assignments."""
    return same_json_object(data, first, second) or same_block(data, first[0], second[0])


def same_json_object(data: bytes, first: tuple[int, int], second: tuple[int, int]) -> bool:
    """Both are string values (``"key": "value"``) and every bracket opened between them is closed
    between them: the same object, at the same depth."""
    if not (_is_json_value(data, first[0]) and _is_json_value(data, second[0])):
        return False
    escaped = data[first[0] - 2 : first[0]] == b'\\"'
    start, end = first[1] + 1, second[0] - 1  # after the first value's closing quote, before the second's
    if escaped:  # JSON inside a string: its quotes are \"
        return _balanced(data[start + 1 : end - 1].replace(b'\\"', b'"'))
    return _balanced(data[start:end])


def _is_json_value(data: bytes, start: int) -> bool:
    return _JSON_VALUE.search(data, max(0, start - 16), start) is not None


def _balanced(between: bytes) -> bool:
    depth = 0
    for token in _JSON_TOKEN.finditer(between):
        mark = token.group()
        if mark in (b"{", b"["):
            depth += 1
        elif mark in (b"}", b"]"):
            depth -= 1
            if depth < 0:  # the object the first value is in ends before the second
                return False
    return depth == 0


def same_block(data: bytes, first: int, second: int) -> bool:
    """Both are on assignment lines of one indentation, and every line between them is blank, a
    comment, more indented (a nested mapping), or another assignment at that indentation: an INI section
    header, a line of code, or a shallower line ends the block."""
    first_start = data.rfind(b"\n", 0, first) + 1
    second_start = data.rfind(b"\n", 0, second) + 1
    if first_start == second_start:
        return False  # one line: not a block (a long line is the named pairing's business)
    base = _key_column(data, first_start)
    if base is None or _key_column(data, second_start) != base or _starts_an_item(data, second_start):
        return False  # a different indentation, or a new list item: another mapping
    at = data.find(b"\n", first, second_start) + 1
    while 0 < at < second_start:
        end = data.find(b"\n", at, second_start)
        end = second_start - 1 if end < 0 else end
        line = data[at:end]
        if line.strip() and not _COMMENT.match(line):
            indent = len(line) - len(line.lstrip(b" \t"))
            if indent < base or (indent == base and not _ASSIGNMENT.match(line)):
                return False
        at = end + 1
    return True


def _starts_an_item(data: bytes, line_start: int) -> bool:
    return re.match(rb"[ \t]*-[ \t]", data[line_start : line_start + 256]) is not None


def _key_column(data: bytes, line_start: int) -> int | None:
    """Where the name of an assignment line starts (after ``- `` for a YAML list item); None when the
    line is not an assignment."""
    line_end = data.find(b"\n", line_start)
    line = data[line_start : line_end if line_end >= 0 else len(data)]
    if not _ASSIGNMENT.match(line):
        return None
    indent = len(line) - len(line.lstrip(b" \t"))
    rest = line[indent:]
    if rest.startswith(b"- ") or rest.startswith(b"-\t"):
        return indent + len(rest) - len(rest[1:].lstrip(b" \t"))
    return indent
