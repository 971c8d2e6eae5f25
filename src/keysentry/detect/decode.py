"""Decoders: find content that hides a credential under an encoding, and hand back the decoded bytes.

Each decoder adds trigger patterns to the engine's one Hyperscan pass:

* ``base64``: the base64 encodings (all three alignments, standard and URL-safe alphabets) of strings
  that credentials contain (``base64_sentinels.toml``); around a hit the whole base64 run is found,
  lines of a wrapped block included, and decoded (JSON/YAML values such as a Kubernetes secret, a
  base64 credentials file).  A blob that is base64 through and through is decoded whole;
* ``url``: percent-encoded ``+ / = : @`` anywhere: the blob is scanned again URL-decoded;
* ``json-escape``: ``\\/`` or ``\\u00XX`` escapes, or a value quoted with ``\\"`` (a notebook's code,
  JSON kept in a JSON string): the blob is scanned again with them resolved;
* ``string-concatenation``: a private key pasted into code as string literals joined by ``+`` (or
  ``.``, ``&``, or nothing but a newline): the literals are joined and the key read whole;
* UTF-16 text is recognised before the pass and converted to UTF-8.

Decoded segments are bounded per blob, and decoding recurses at most twice (base64 inside base64).
"""

from __future__ import annotations

import base64
import binascii
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from urllib.parse import unquote_to_bytes

import hyperscan

from keysentry.content import looks_utf16

MIN_BASE64 = 32
MAX_DECODED_PER_BLOB = 16 * 1024 * 1024
PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\n\r"
UPPER = bytes(range(ord("A"), ord("Z") + 1))
LOWER = bytes(range(ord("a"), ord("z") + 1))
DIGITS = b"0123456789"

B64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"


def encoded_signatures(literal: bytes) -> set[str]:
    """The base64 characters fully determined by ``literal`` at each of the three byte alignments."""
    found = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + literal)
        first = (shift * 8 + 5) // 6  # characters touched by the alignment padding
        last = ((shift + len(literal)) * 8) // 6  # characters fully inside the literal
        signature = encoded[first:last].decode()
        if len(signature) >= 4:
            found.add(signature)
            found.add(signature.replace("+", "-").replace("/", "_"))
    return found


def _sentinels() -> list[str]:
    text = resources.files(__package__).joinpath("base64_sentinels.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    found = {sig for lit in data["literals"] for sig in encoded_signatures(lit.encode())}
    for lit in data.get("nested", []):
        for sig in encoded_signatures(lit.encode()):
            found |= encoded_signatures(sig.encode())
    return sorted(found)


# (pattern, Hyperscan flags, role)
TRIGGERS: list[tuple[str, int, str]] = [
    *((re.escape(sig), 0, "base64") for sig in _sentinels()),
    (r"%(?:2[BbFf]|3[AaDd]|40)", hyperscan.HS_FLAG_SINGLEMATCH, "url"),
    (r"\\(?:/|u00[0-9A-Fa-f]{2})", hyperscan.HS_FLAG_SINGLEMATCH, "json-escape"),
    # A quoted value inside a JSON string (a notebook's source lines, JSON kept in a string): \"k\": \"v\".
    # Every hit: only the lines that have one are decoded, not the whole blob.
    (r'(?:[=:]|\\"\])[ \t]{0,4}\\"[A-Za-z0-9+/_.~-]', 0, "json-quote"),
    # A private key's BEGIN line that ends a string literal which another one continues: a key pasted
    # into code as "line\n" + "line\n" (JavaScript, Java, C#, Go, Python's implicit concatenation).
    (r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:\\r)?(?:\\n)?[\"'`]", 0, "concatenation"),
]

_RUN = re.compile(rb"[A-Za-z0-9+/_\-]*={0,2}")
_RUN_REVERSED = re.compile(rb"={0,2}[A-Za-z0-9+/_\-]*")
_WRAPPED_LINE = re.compile(rb"\r?\n[ \t]*([A-Za-z0-9+/_\-]{16,}={0,2})[ \t]*(?=\r?\n|\Z)")
MAX_RUN = 4 * 1024 * 1024
_ESCAPE = re.compile(rb'\\(/|"|u00([0-9A-Fa-f]{2}))')


@dataclass(frozen=True, slots=True)
class Segment:
    data: bytes
    offset: int  # where the encoded text starts in the outer blob; -1: the whole blob, same lines
    label: str
    end: int = -1  # where the encoded text ends in the outer blob (with offset >= 0)


def from_utf16(data: bytes) -> bytes | None:
    encoding = looks_utf16(data[:4096])
    if encoding is None:
        return None
    return data.decode(encoding, errors="replace").lstrip("\ufeff").encode("utf-8")


def _printable(data: bytes) -> bool:
    if len(data) < 16:
        return False
    return len(data.translate(None, PRINTABLE)) <= 0.1 * len(data)


def _mixed(run: bytes) -> bool:
    """Base64 of text has upper and lower case letters and digits; identifiers and hex digests do not."""
    n = len(run)
    return (
        len(run.translate(None, UPPER)) < n
        and len(run.translate(None, LOWER)) < n
        and (len(run.translate(None, DIGITS)) < n)
    )


def decode_base64(run: bytes) -> bytes | None:
    """The decoded text of a base64 or base64url run, or None if it is not base64 of text."""
    body = run.rstrip(b"=")
    if not _mixed(body):
        return None
    body = body[: len(body) - (len(body) % 4 == 1)]
    padded = body + b"=" * (-len(body) % 4)
    try:
        if b"-" in body or b"_" in body:
            decoded = base64.urlsafe_b64decode(padded)
        else:
            decoded = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if _printable(decoded) else None


def _unescape(data: bytes) -> bytes:
    def one(m: re.Match[bytes]) -> bytes:
        return m.group(1) if m.group(2) is None else bytes([int(m.group(2), 16)])

    return _ESCAPE.sub(one, data)


def enclosing_run(data: bytes, hit: int) -> tuple[int, int, bytes]:
    """Start, end and text (newlines removed) of the base64 run around offset ``hit``, across wrapped
    lines."""
    back = data[max(0, hit - MAX_RUN) : hit][::-1]
    start = hit - _RUN_REVERSED.match(back).end()  # type: ignore[union-attr]
    end = _RUN.match(data, hit).end()  # type: ignore[union-attr]
    pieces = [data[start:end]]
    while len(pieces[-1]) >= 60 and end - start < MAX_RUN:  # a wrapped block (base64 -w 76, PEM)
        more = _WRAPPED_LINE.match(data, end)
        if more is None:
            break
        pieces.append(more.group(1))
        end = more.end()
    return start, end, b"".join(pieces)


def whole_blob_base64(data: bytes) -> bytes | None:
    """A file that is nothing but (possibly wrapped) base64, decoded."""
    if len(data) < MIN_BASE64 or len(data) > MAX_RUN:
        return None
    if data[:256].translate(None, B64_CHARS + b"=\r\n \t"):
        return None
    if data.translate(None, B64_CHARS + b"=\r\n \t"):
        return None
    return decode_base64(data.translate(None, b"\r\n \t"))


_BEGIN = re.compile(rb"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_END = re.compile(rb"-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
# What joins one string literal to the next: its closing quote, an operator (+ . & || ,) or none,
# whitespace and newlines, a line-continuation backslash, and the next literal's opening quote.
_GLUE = re.compile(rb"""["'`][ \t]*(?:\+|\.|&|\|\||,)?[ \t]*\\?[ \t]*\r?\n?[ \t]*(?:\+|\.|&)?[ \t]*["'`]""")
MAX_CONCATENATED = 64 * 1024


def joined_literals(data: bytes, hit: int) -> tuple[int, int, bytes] | None:
    """A private key written as concatenated string literals, the literals joined: start and end in
    ``data``, and the joined text (its escaped newlines left for the key's own checks to read)."""
    begin = data.rfind(b"-----BEGIN ", max(0, hit - 64), hit)
    if begin < 0 or _BEGIN.match(data, begin) is None:
        return None
    end = _END.search(data, begin, begin + MAX_CONCATENATED)
    if end is None:
        return None
    original = data[begin : end.end()]
    joined = _GLUE.sub(b"", original)
    if joined == original:  # one literal, or none: the plain scan reads it as it is
        return None
    return begin, end.end(), joined


def segments(data: bytes, triggers: dict[str, list[tuple[int, int]]]) -> Iterator[Segment]:
    budget = MAX_DECODED_PER_BLOB
    done: set[int] = set()
    for _start, end in triggers.get("concatenation", []):
        found = joined_literals(data, end)
        if found is None or found[0] in done:
            continue
        done.add(found[0])
        budget -= len(found[2])
        if budget < 0:
            return
        yield Segment(found[2], found[0], "string-concatenation", found[1])
    for _start, end in triggers.get("base64", []):
        start, run_end, run = enclosing_run(data, end)
        if start in done or len(run) < MIN_BASE64:
            continue
        done.add(start)
        decoded = decode_base64(run)
        if decoded is None:
            continue
        budget -= len(decoded)
        if budget < 0:
            return
        yield Segment(decoded, start, "base64", run_end)
    if "url" in triggers and len(data) <= budget:
        decoded = unquote_to_bytes(data)
        if decoded != data:
            budget -= len(decoded)
            yield Segment(decoded, -1, "url")
    if "json-escape" in triggers and len(data) <= budget:
        decoded = _unescape(data)
        if decoded != data:
            budget -= len(decoded)
            yield Segment(decoded, -1, "json-escape")
    elif "json-quote" in triggers:
        for start, end in _lines_of(data, triggers["json-quote"]):
            decoded = _unescape(data[start:end])
            budget -= len(decoded)
            if budget < 0:
                return
            yield Segment(decoded, start, "json-escape", end)


def _lines_of(data: bytes, hits: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """The (start, end) of each distinct line that holds a hit, in order."""
    last_end = -1
    for _start, hit in sorted(hits):
        if hit <= last_end:
            continue
        start = data.rfind(b"\n", 0, hit) + 1
        end = data.find(b"\n", hit)
        last_end = len(data) if end < 0 else end
        yield start, last_end
