"""Pair each id with the secret that belongs to it.

Every plausible (id, secret) pair is scored; pairs are taken greedily, best
first, each id and each secret at most once.  In order of weight: no other id
sits between them; same line; the secret follows a pairing keyword; the secret
comes after the id; nearness.  Example ids pair only with example secrets.

Beyond ``max_distance_bytes``, and up to ``named_max_distance_bytes``, a secret is
paired only when it is on the id's own line, a pairing keyword names it, and no
other id sits between them: one object of a long line of JSON, however long.

An id still without a secret then takes, up to ``structure_max_distance_bytes``
away, the nearest secret a keyword names, with no other id between them, that
sits in the same structure (one JSON object, one env block, INI section or YAML
mapping: :mod:`keysentry.detect.structure`), however many lines apart.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from keysentry.detect.rules import Pairing
from keysentry.detect.structure import same_structure

# Secrets a keyword names, nearest first, whose structure is examined for one id: the examination reads
# the bytes between them, so a blob of many named secrets costs a bounded number of reads per id.
MAX_STRUCTURE_CANDIDATES = 8


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    value: bytes
    line: int
    example: bool = False
    matched_from: int = -1  # where the pattern's whole match began (the name before a value), -1: not known


def pair(
    data: bytes,
    ids: Sequence[Span],
    secrets: Sequence[Span],
    rules: Pairing,
    keyword: re.Pattern[bytes] | None,
) -> dict[int, Span]:
    """Index into ``ids`` → the secret paired with it."""
    id_starts = sorted(i.start for i in ids)

    def keyword_before(secret: Span) -> bool:
        return _named(data, secret, rules, keyword)

    # Only secrets within reach of an id are scored: sorted starts and bisection keep this linear in
    # the size of the blob, however many ids and secrets it holds.
    order = sorted(range(len(secrets)), key=lambda j: secrets[j].start)
    starts = [secrets[j].start for j in order]
    longest = max((s.end - s.start for s in secrets), default=0)
    far = max(rules.max_distance_bytes, rules.named_max_distance_bytes)
    scored: list[tuple[tuple[int, int, int, int, int], int, int]] = []
    for i, kid in enumerate(ids):
        lo = bisect.bisect_left(starts, kid.start - far - longest)
        hi = bisect.bisect_right(starts, kid.end + far)
        for j in (order[k] for k in range(lo, hi)):
            sec = secrets[j]
            if sec.start < kid.end and sec.end > kid.start:
                continue
            if sec.example and not kid.example:
                continue
            after = sec.start >= kid.end
            distance = sec.start - kid.end if after else kid.start - sec.end
            lines = abs(sec.line - kid.line)
            gap_start, gap_end = (kid.end, sec.start) if after else (sec.end, kid.start)
            crossing = bisect.bisect_left(id_starts, gap_end) - bisect.bisect_left(id_starts, gap_start)
            near = distance <= rules.max_distance_bytes and lines <= rules.max_distance_lines
            named = distance <= far and lines == 0 and crossing == 0 and keyword_before(sec)
            if not (near or named):
                continue
            score = (
                crossing,
                0 if lines == 0 else 1,
                0 if keyword_before(sec) else 1,
                0 if after else 1,
                distance,
            )
            scored.append((score, i, j))
    scored.sort()
    paired: dict[int, Span] = {}
    used: set[int] = set()
    for _, i, j in scored:
        if i in paired or j in used:
            continue
        paired[i] = secrets[j]
        used.add(j)
    return paired


def _named(data: bytes, secret: Span, rules: Pairing, keyword: re.Pattern[bytes] | None) -> bool:
    if keyword is None:
        return False
    return keyword.search(data, max(0, secret.start - rules.keyword_window_bytes), secret.start) is not None


def pair_by_structure(
    data: bytes,
    ids: Sequence[Span],
    unpaired: Sequence[int],
    secrets: Sequence[Span],
    rules: Pairing,
    keyword: re.Pattern[bytes] | None,
) -> dict[int, Span]:
    """Index into ``ids`` (of those ``unpaired``) → the secret of its structure (see the module)."""
    reach = rules.structure_max_distance_bytes
    if not reach or not unpaired:
        return {}
    id_starts = sorted(i.start for i in ids)
    named = sorted((s for s in secrets if _named(data, s, rules, keyword)), key=lambda s: s.start)
    starts = [s.start for s in named]
    found: list[tuple[int, int, int]] = []  # (distance, id index, secret index)
    for i in unpaired:
        kid = ids[i]
        n = bisect.bisect_left(id_starts, kid.start)
        lo_edge = max(kid.start - reach, id_starts[n - 1] if n > 0 else 0)
        hi_edge = min(kid.end + reach, id_starts[n + 1] if n + 1 < len(id_starts) else len(data))
        lo, hi = bisect.bisect_left(starts, lo_edge), bisect.bisect_left(starts, hi_edge)
        near = sorted(range(lo, hi), key=lambda j: abs(named[j].start - kid.start))
        for j in [j for j in near if named[j].start != kid.start][:MAX_STRUCTURE_CANDIDATES]:
            sec = named[j]
            spans = sorted([(kid.start, kid.end), (sec.start, sec.end)])
            if (sec.example and not kid.example) or sec.end > hi_edge:
                continue
            if same_structure(data, spans[0], spans[1]):
                found.append((abs(sec.start - kid.start), i, j))
                break
    paired: dict[int, Span] = {}
    used: set[int] = set()
    for _, i, j in sorted(found):
        if i not in paired and j not in used:
            paired[i] = named[j]
            used.add(j)
    return paired


def keyword_regex(word: str, *, exact: bool = True) -> str:
    """A keyword as it is looked for, case ignored.  A keyword of several words (``codecov_token``)
    also matches with ``-``, ``.``, a space or nothing between them (``CODECOV-TOKEN``, ``codecovToken``),
    but not inside a longer word (``gserviceaccount`` is not ``service_account``).  ``exact=False``
    leaves that last check out, for the automaton, which cannot look behind (the confirm step checks)."""
    parts = re.split(r"[_\- ]", word)
    if len(parts) == 1:
        return re.escape(word)
    joined = r"[ _.-]?".join(re.escape(part) for part in parts)
    return f"(?<![A-Za-z]){joined}" if exact and parts[0] else joined


def keyword_pattern(words: Sequence[str]) -> re.Pattern[bytes] | None:
    if not words:
        return None
    return re.compile(("(?i)(?:" + "|".join(keyword_regex(w) for w in words) + ")").encode())
