"""The first detector: find key IDs, then pair each with the secret that belongs to it.

For every key ID the detector looks at secret candidates within a few lines
and bytes, prefers one introduced by a secret keyword (``secret_access_key =``,
``"secretAccessKey":``), then the nearest, then one that follows the ID.  Each
secret pairs with one ID.  The secret bytes are hashed on the spot and dropped.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from keysentry.detect.aws_keys import fingerprint
from keysentry.detect.findings import Match
from keysentry.detect.rules import Rule

CLASS_TESTS = {
    "upper": re.compile(rb"[A-Z]"),
    "lower": re.compile(rb"[a-z]"),
    "digit": re.compile(rb"[0-9]"),
}


@dataclass(frozen=True, slots=True)
class Candidate:
    start: int
    end: int
    value: bytes


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    key_id: re.Pattern[bytes]
    secret: re.Pattern[bytes] | None
    keyword: re.Pattern[bytes] | None


_COMPILED: dict[int, CompiledRule] = {}


def compile_rule(rule: Rule) -> CompiledRule:
    cached = _COMPILED.get(id(rule))
    if cached is not None and cached.rule is rule:
        return cached
    secret_part = rule.parts.get("secret")
    keywords = rule.pairing.keywords
    keyword = (
        re.compile(b"(?i)(?:" + b"|".join(re.escape(k.encode()) for k in keywords) + b")")
        if keywords
        else None
    )
    compiled = CompiledRule(
        rule=rule,
        key_id=re.compile(rule.parts["key_id"].pattern.encode()),
        secret=re.compile(secret_part.pattern.encode()) if secret_part else None,
        keyword=keyword,
    )
    _COMPILED[id(rule)] = compiled
    return compiled


def _has_classes(value: bytes, classes: list[str]) -> bool:
    return all(CLASS_TESTS[c].search(value) for c in classes)


def _suppressed(rule: Rule, key_id: str, secret: bytes | None) -> str | None:
    s = rule.suppress
    if any(key_id.endswith(suffix) for suffix in s.key_id_suffixes):
        return "documentation example key ID"
    if secret is not None and any(sub.encode() in secret for sub in s.secret_substrings):
        return "documentation example secret"
    if s.min_distinct_body_chars and len(set(key_id[4:])) < s.min_distinct_body_chars:
        return "placeholder key ID"
    return None


def _line_of(data: bytes, offset: int, newline_offsets: list[int]) -> tuple[int, int]:
    """1-based line and column of a byte offset."""
    lo, hi = 0, len(newline_offsets)
    while lo < hi:  # count newlines before offset
        mid = (lo + hi) // 2
        if newline_offsets[mid] < offset:
            lo = mid + 1
        else:
            hi = mid
    line_start = newline_offsets[lo - 1] + 1 if lo else 0
    return lo + 1, offset - line_start + 1


def scan_rule(rule: Rule, data: bytes) -> list[Match]:
    compiled = compile_rule(rule)
    ids = [Candidate(m.start(1), m.end(1), m.group(1)) for m in compiled.key_id.finditer(data)]
    if not ids:
        return []
    newlines = [m.start() for m in re.finditer(rb"\n", data)]
    secrets: list[Candidate] = []
    if compiled.secret is not None:
        classes = rule.parts["secret"].requires_classes
        for m in compiled.secret.finditer(data):
            value = m.group(1)
            if _has_classes(value, classes) and not compiled.key_id.search(value):
                secrets.append(Candidate(m.start(1), m.end(1), value))

    pairing = rule.pairing
    line_of = {c.start: _line_of(data, c.start, newlines)[0] for c in ids + secrets}

    def keyword_before(secret: Candidate) -> bool:
        if compiled.keyword is None:
            return False
        window = data[max(0, secret.start - pairing.keyword_window_bytes) : secret.start]
        return compiled.keyword.search(window) is not None

    # Score every plausible (ID, secret) pair, then assign greedily, best first.  In order of weight:
    # no other ID sits between them; same line; the secret follows a secret keyword; the secret comes
    # after the ID; nearness.  Example IDs pair only with example secrets and real ones with real ones.
    id_starts = [c.start for c in ids]
    example_id = [_suppressed(rule, c.value.decode(), None) is not None for c in ids]
    example_secret = [
        any(sub.encode() in c.value for sub in rule.suppress.secret_substrings) for c in secrets
    ]
    scored: list[tuple[tuple[int, int, int, int, int], int, int]] = []
    for i, kid in enumerate(ids):
        for j, sec in enumerate(secrets):
            if sec.start < kid.end and sec.end > kid.start:
                continue
            if example_id[i] != example_secret[j] and example_secret[j]:
                continue
            after = sec.start >= kid.end
            distance = sec.start - kid.end if after else kid.start - sec.end
            lines = abs(line_of[sec.start] - line_of[kid.start])
            if distance > pairing.max_distance_bytes or lines > pairing.max_distance_lines:
                continue
            lo, hi = (kid.end, sec.start) if after else (sec.end, kid.start)
            crossing = bisect.bisect_left(id_starts, hi) - bisect.bisect_left(id_starts, lo)
            score = (
                crossing,
                0 if lines == 0 else 1,
                0 if keyword_before(sec) else 1,
                0 if after else 1,
                distance,
            )
            scored.append((score, i, j))
    scored.sort()
    pair_of: dict[int, Candidate] = {}
    used: set[int] = set()
    for _, i, j in scored:
        if i in pair_of or j in used:
            continue
        pair_of[i] = secrets[j]
        used.add(j)

    matches = []
    for i, kid in enumerate(ids):
        key_id = kid.value.decode()
        secret = pair_of.get(i)
        line, column = _line_of(data, kid.start, newlines)
        matches.append(
            Match(
                rule_id=rule.id,
                credential_type=rule.credential_type,
                key_id=key_id,
                secret_fingerprint=fingerprint(secret.value) if secret else "",
                line=line,
                column=column,
                suppressed=_suppressed(rule, key_id, secret.value if secret else None),
            )
        )
    return matches
