"""The detection engine: one Hyperscan pass over a whole blob, then confirm only around candidates.

Every rule contributes its anchor to one block-mode Hyperscan database: the
anchor part's pattern (compiled in prefilter mode, so lookarounds are allowed
and over-approximated), or, for rules that need keywords, the keywords
themselves.  Decoders add trigger patterns to the same database.  Hyperscan
reports end offsets; around each one the rule's Python pattern runs in a small
window to extract the exact value, which is checked, paired, hashed and
dropped.  There is no per-line loop: Python only ever touches the few windows
where a candidate is.

Why Hyperscan rather than RE2 or Python ``re``: ``bench/engine_choice.py``
measures the three on the same corpus and patterns.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import hyperscan

from keysentry.detect import automaton_cache, decode
from keysentry.detect.aws_keys import fingerprint
from keysentry.detect.checks import is_example_secret, named_otherwise, suppression, value_passes
from keysentry.detect.documentation import mark_documented
from keysentry.detect.findings import Held, Holder, Match, Verifier
from keysentry.detect.pairing import Span, keyword_pattern, keyword_regex, pair, pair_by_structure
from keysentry.detect.rules import Rule, RuleError

PREFILTER = hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_ALLOWEMPTY
STARTS = hyperscan.HS_FLAG_SOM_LEFTMOST
NAME_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
NAME_REACH = 48  # how far before a prefilter's start the name it is part of may begin
KEYWORD = hyperscan.HS_FLAG_CASELESS
GUARD = 16  # bytes a confirm window reaches past the candidate, so lookaheads see real context
MAX_DECODE_DEPTH = 2


@dataclass(frozen=True)
class CompiledRule:
    index: int
    rule: Rule
    anchor: re.Pattern[bytes]
    secret: re.Pattern[bytes] | None
    token: re.Pattern[bytes] | None
    keywords: re.Pattern[bytes] | None
    pairing_keywords: re.Pattern[bytes] | None
    token_keywords: re.Pattern[bytes] | None
    checks: tuple[Callable[[str], bool], ...]
    failing_checks: tuple[Callable[[str], bool], ...] = ()

    @property
    def has_id(self) -> bool:
        return self.secret is not None


def _validators(names: Iterable[str], rule_id: str) -> tuple[Callable[[str], bool], ...]:
    names = tuple(names)
    if not names:
        return ()
    from keysentry.detect.validators import VALIDATORS  # only rules with checks need it

    missing = [n for n in names if n not in VALIDATORS]
    if missing:
        raise RuleError(f"rule {rule_id}: unknown validators {missing}")
    return tuple(VALIDATORS[n] for n in names)


_BOUNDED = re.compile(r"\{(\d+),(\d+)\}")
RELAX_ABOVE = 64


def automaton_pattern(pattern: str) -> str:
    """The rule pattern as the automaton gets it: long bounded repeats made open-ended.

    ``{40,16384}`` costs Hyperscan seconds to compile and buys nothing in a
    prefilter: the exact pattern is confirmed in Python afterwards.
    """
    return _BOUNDED.sub(
        lambda m: f"{{{m.group(1)},}}" if int(m.group(2)) > RELAX_ABOVE else m.group(0), pattern
    )


def _compile(pattern: str, rule_id: str) -> re.Pattern[bytes]:
    try:
        compiled = re.compile(pattern.encode())
    except re.error as exc:
        raise RuleError(f"rule {rule_id}: bad pattern {pattern!r}: {exc}") from exc
    if compiled.groups != 1:
        raise RuleError(f"rule {rule_id}: pattern {pattern!r} needs exactly one capturing group")
    return compiled


def _chars(data: bytes, start: int, end: int) -> int:
    """Characters (code points) in ``data[start:end]``: bytes for ASCII, decoded UTF-8 otherwise."""
    piece = data[start:end]
    return len(piece) if piece.isascii() else len(piece.decode("utf-8", errors="replace"))


def position(data: bytes, start: int, end: int, line: int, byte_column: int) -> tuple[int, int, int, int]:
    """Line and character column where ``data[start:end]`` begins (``line`` and ``byte_column`` of
    ``start`` already known), and the line and column just after it ends."""
    line_start = start - byte_column + 1
    column = _chars(data, line_start, start) + 1
    breaks = data.count(b"\n", start, end)
    if not breaks:
        return line, column, line, column + _chars(data, start, end)
    last = data.rfind(b"\n", start, end) + 1
    return line, column, line + breaks, _chars(data, last, end) + 1


class LineCounter:
    """1-based line and column of offsets asked for in increasing order, counting newlines in C."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._offset = 0
        self._line = 1

    def at(self, offset: int) -> tuple[int, int]:
        if offset < self._offset:
            self._offset, self._line = 0, 1
        self._line += self.data.count(b"\n", self._offset, offset)
        self._offset = offset
        line_start = self.data.rfind(b"\n", 0, offset) + 1
        return self._line, offset - line_start + 1


def _merge(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    windows.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in windows:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


MIN_TYPED_PREFIX = 3


def typed_prefixes(rules: Sequence[Rule]) -> tuple[bytes, ...]:
    """The fixed prefixes of the typed rules' credentials (``ghp_``, ``xoxb-``, ``sk_live_``): what a rule
    shows of its findings (``[display] prefix_chars``), as its true examples have it.  A value with one
    of them belongs to that rule: where the rule does not report it (truncated, a test key), a catch-all
    rule does not either."""
    found: set[bytes] = set()
    for r in rules:
        n = r.display.prefix_chars
        if r.catch_all or n < MIN_TYPED_PREFIX:
            continue
        pattern = re.compile(r.parts["secret"].pattern)
        for example in r.examples.true:
            match = pattern.search(example.text)
            if match is not None:
                found.add(match.group(1)[:n].encode())
    return tuple(sorted(found))


class Engine:
    """Compiled rules.  Build once per process; :meth:`scan` is safe to call repeatedly."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = [
            CompiledRule(
                index=i,
                rule=r,
                anchor=_compile(r.parts[r.anchor].pattern, r.id),
                secret=_compile(r.parts["secret"].pattern, r.id) if r.anchor == "id" else None,
                token=_compile(r.parts["token"].pattern, r.id) if "token" in r.parts else None,
                keywords=keyword_pattern(r.keywords),
                pairing_keywords=keyword_pattern(r.pairing.keywords),
                token_keywords=keyword_pattern(r.pairing.token_keywords),
                checks=_validators(r.validate_.checks, r.id),
                failing_checks=_validators(r.validate_.failing_must_pass, r.id),
            )
            for i, r in enumerate(rules)
        ]
        self._catch_all = frozenset(c.rule.id for c in self.rules if c.rule.catch_all)
        self._typed_prefixes = typed_prefixes(rules) if self._catch_all else ()
        self._entries: list[tuple[str, int, int | None, str]] = []  # pattern, flags, rule index, role
        for c in self.rules:
            if c.rule.keywords:
                for word in c.rule.keywords:
                    self._entries.append((keyword_regex(word, exact=False), KEYWORD, c.index, "keyword"))
            elif c.rule.parts[c.rule.anchor].prefilter:
                # Exact (its bounds kept: SOM needs them), with the start of each match: the confirm
                # step then matches from there only.
                prefilter = c.rule.parts[c.rule.anchor].prefilter or ""
                self._entries.append((prefilter, STARTS, c.index, "start"))
            else:
                pattern = automaton_pattern(c.rule.parts[c.rule.anchor].pattern)
                self._entries.append((pattern, PREFILTER, c.index, "anchor"))
        for pattern, flags, role in decode.TRIGGERS:
            self._entries.append((pattern, flags, None, role))
        # Whether a blob has an allow marker at all, found in the same pass (most have none).
        self._entries.append((ALLOW_ANY, KEYWORD | hyperscan.HS_FLAG_SINGLEMATCH, None, "allow"))
        expressions = [e[0].encode() for e in self._entries]
        all_flags = [e[1] for e in self._entries]

        def compile_() -> hyperscan.Database:
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            try:
                db.compile(expressions=expressions, ids=list(range(len(expressions))), flags=all_flags)
            except hyperscan.error as exc:
                raise RuleError(
                    f"the rules' anchor patterns do not compile into one automaton: {exc}"
                ) from exc
            return db

        self._db = automaton_cache.database(expressions, all_flags, compile_)
        self._scratch = hyperscan.Scratch(self._db)

    def automaton_patterns(self) -> list[tuple[str, str]]:
        """(pattern, owner) for every expression in the automaton: for benchmarks and diagnostics."""
        return [(p, self.rules[i].rule.id if i is not None else role) for p, _, i, role in self._entries]

    # --- the pass ---------------------------------------------------------------------------
    def _candidates(self, data: bytes) -> tuple[dict[int, list[int]], dict[str, list[tuple[int, int]]]]:
        by_rule: dict[int, list[int]] = defaultdict(list)
        triggers: dict[str, list[tuple[int, int]]] = defaultdict(list)
        entries = self._entries

        def on_match(ident: int, start: int, end: int, _flags: int, _ctx: object) -> None:
            _, _, rule_index, role = entries[ident]
            if rule_index is not None:
                by_rule[rule_index].append(start if role == "start" else end)
            else:
                triggers[role].append((start, end))

        self._db.scan(data, match_event_handler=on_match, scratch=self._scratch)
        return by_rule, triggers

    def scan(
        self,
        data: bytes,
        decoding: str | None = None,
        depth: int = 0,
        verify: Verifier | None = None,
        hold: Holder | None = None,
    ) -> list[Match]:
        """Every credential in ``data``; decoded content is scanned too, and says how it was decoded.
        With ``verify``, each paired credential is also asked whether it still works (``Match.live``);
        with ``hold``, each secret its issuer can revoke is handed over (:class:`Held`).  Here is the
        only place that holds the secret."""
        if depth == 0:
            utf16 = decode.from_utf16(data)
            if utf16 is not None:
                found = self.scan(utf16, "utf-16", depth + 1, verify, hold)
                return [replace(m, decoding="utf-16") for m in found]
        by_rule, triggers = self._candidates(data)
        lines = LineCounter(data)
        matches: list[Match] = []
        for rule_index, ends in by_rule.items():
            matches.extend(self._confirm(self.rules[rule_index], data, ends, lines, decoding, verify, hold))
        if depth < MAX_DECODE_DEPTH:
            for segment in self._decoded(data, triggers):
                label = segment.label if decoding is None else f"{decoding}>{segment.label}"
                inner = self.scan(segment.data, label, depth + 1, verify, hold)
                if inner and segment.offset >= 0:  # the encoded text is where the finding is
                    end = segment.end if segment.end >= 0 else len(data)
                    line, column, end_line, end_column = position(
                        data, segment.offset, end, *lines.at(segment.offset)
                    )
                    inner = [
                        replace(
                            m,
                            line=line,
                            column=column,
                            end_line=end_line,
                            end_column=end_column,
                            secret_line=0,
                        )
                        for m in inner
                    ]
                matches.extend(inner)
        if not matches:
            return matches
        if "allow" in triggers:
            matches = _allowed(data, matches)
        return _deduplicate(mark_documented(data, matches), self._catch_all)

    def _decoded(self, data: bytes, triggers: dict[str, list[tuple[int, int]]]) -> Iterable[decode.Segment]:
        whole = decode.whole_blob_base64(data)
        if whole is not None:
            return [decode.Segment(whole, 0, "base64", len(data))]
        return decode.segments(data, triggers) if triggers.keys() - {"allow"} else []

    # --- confirming ---------------------------------------------------------------------------
    def _windows(self, c: CompiledRule, ends: list[int], size: int) -> list[tuple[int, int]]:
        part = c.rule.parts[c.rule.anchor]
        reach = part.max_length + (c.rule.keyword_window if c.rule.keywords else 0)
        ahead = GUARD + (c.rule.keyword_window + part.max_length if c.rule.keywords else 0)
        return _merge([(max(0, e - reach), min(size, e + ahead)) for e in ends])

    def _find(self, pattern: re.Pattern[bytes], data: bytes, windows: list[tuple[int, int]]) -> list[Span]:
        size = len(data)
        found: dict[int, Span] = {}
        for lo, hi in windows:
            for m in pattern.finditer(data, lo, hi):
                if m.end() > hi - GUARD // 2 and hi < size:
                    continue  # the match may continue past the window: the next window sees it whole
                found.setdefault(
                    m.start(1), Span(m.start(1), m.end(1), m.group(1), 0, matched_from=m.start())
                )
        return [found[k] for k in sorted(found)]

    def _find_from(
        self, pattern: re.Pattern[bytes], data: bytes, starts: list[int], reach: int
    ) -> list[Span]:
        """Matches of a rule with a prefilter, which says where each candidate starts: from the beginning
        of the name it is in (``DB_PASSWORD`` for a prefilter that started at ``PASSWORD``), or there."""
        size = len(data)
        found: dict[int, Span] = {}
        for start in sorted(set(starts)):
            begin, limit = start, max(0, start - NAME_REACH)
            while begin > limit and data[begin - 1] in NAME_BYTES:
                begin -= 1
            for at in dict.fromkeys((begin, start)):
                m = pattern.match(data, at, min(size, start + reach))
                if m is not None:
                    found.setdefault(m.start(1), Span(m.start(1), m.end(1), m.group(1), 0, matched_from=at))
                    break
        return [found[k] for k in sorted(found)]

    def _near_keyword(self, c: CompiledRule, data: bytes, span: Span) -> bool:
        if c.keywords is None:
            return True
        w = c.rule.keyword_window
        return c.keywords.search(data, max(0, span.start - w), min(len(data), span.end + w)) is not None

    def _confirm(
        self,
        c: CompiledRule,
        data: bytes,
        ends: list[int],
        lines: LineCounter,
        decoding: str | None,
        verify: Verifier | None = None,
        hold: Holder | None = None,
    ) -> list[Match]:
        rule = c.rule
        part = rule.parts[rule.anchor]
        spans = (
            self._find_from(c.anchor, data, ends, part.max_length)
            if part.prefilter
            else self._find(c.anchor, data, self._windows(c, ends, len(data)))
        )
        anchors = [
            s
            for s in spans
            if self._near_keyword(c, data, s)
            and value_passes(rule.parts[rule.anchor], s.value)
            and not named_otherwise(rule.context, data, s)
            and not (rule.catch_all and s.value.startswith(self._typed_prefixes))
        ]
        if not anchors:
            return []
        if not c.has_id:
            found = []
            for s in anchors:
                if self._valid(c, s.value):
                    m = self._secret_only(
                        c, data, s, lines, decoding, rule.confidence, rule.confidence_reason
                    )
                    revocation = rule.issuer.revocation
                    if hold is not None and revocation and m.suppressed is None:
                        hold(Held(rule.credential_type, revocation, m.secret_fingerprint, s.value))
                elif self._still_reported(c, s.value):
                    # Not revocable as it is (the issuer would refuse it): reported, never held.
                    reason = rule.validate_.failing_reason
                    m = self._secret_only(c, data, s, lines, decoding, "low", reason)
                else:
                    continue
                found.append(m)
            return found
        return self._paired(c, data, anchors, lines, decoding, verify)

    def _valid(self, c: CompiledRule, value: bytes) -> bool:
        if not c.checks:
            return True
        text = value.decode("latin-1")
        return all(check(text) for check in c.checks)

    def _still_reported(self, c: CompiledRule, value: bytes) -> bool:
        """A value failing the rule's checks that the rule still reports, at low confidence."""
        if not c.rule.validate_.failing_reason:
            return False
        text = value.decode("latin-1")
        return all(check(text) for check in c.failing_checks)

    def _secrets(
        self,
        c: CompiledRule,
        data: bytes,
        ids: list[Span],
        reach: int,
        lines: LineCounter,
        line_of: dict[int, tuple[int, int]],
    ) -> list[Span]:
        """The candidate secrets within ``reach`` bytes of the ids, with their lines."""
        rule = c.rule
        assert c.secret is not None
        part = rule.parts["secret"]
        windows = _merge([(max(0, s.start - reach), min(len(data), s.end + reach + GUARD)) for s in ids])
        found = [
            s
            for s in self._find(c.secret, data, windows)
            if value_passes(part, s.value) and self._valid(c, s.value) and c.anchor.search(s.value) is None
        ]
        for s in found:
            line_of.setdefault(s.start, lines.at(s.start))
        return [replace(s, line=line_of[s.start][0], example=is_example_secret(rule, s.value)) for s in found]

    def _tokens(self, c: CompiledRule, data: bytes, ids: list[Span], lines: LineCounter) -> dict[int, Span]:
        """The third part (a session token) near each id, paired the same way as secrets."""
        if c.token is None:
            return {}
        part = c.rule.parts["token"]
        reach = c.rule.pairing.max_distance_bytes + part.max_length
        windows = _merge([(max(0, s.start - reach), min(len(data), s.end + reach + GUARD)) for s in ids])
        tokens = [
            replace(t, line=lines.at(t.start)[0])
            for t in self._find(c.token, data, windows)
            if value_passes(part, t.value)
        ]
        return pair(data, ids, tokens, c.rule.pairing, c.token_keywords)

    def _secret_only(
        self,
        c: CompiledRule,
        data: bytes,
        s: Span,
        lines: LineCounter,
        decoding: str | None,
        confidence: str,
        confidence_reason: str | None,
    ) -> Match:
        digest = fingerprint(s.value)
        shown = s.value[: c.rule.display.prefix_chars].decode("latin-1")
        line, column, end_line, end_column = position(data, s.start, s.end, *lines.at(s.start))
        return Match(
            rule_id=c.rule.id,
            credential_type=c.rule.credential_type,
            key_id=f"{shown}…{digest[:8]}",
            secret_fingerprint=digest,
            line=line,
            column=column,
            suppressed=suppression(c.rule, None, s.value),
            decoding=decoding,
            severity=c.rule.severity,
            end_line=end_line,
            end_column=end_column,
            confidence=confidence,
            confidence_reason=confidence_reason,
        )

    def _paired(
        self,
        c: CompiledRule,
        data: bytes,
        ids: list[Span],
        lines: LineCounter,
        decoding: str | None,
        verify: Verifier | None = None,
    ) -> list[Match]:
        rule = c.rule
        assert c.secret is not None
        pairing = rule.pairing
        reach = (
            max(pairing.max_distance_bytes, pairing.named_max_distance_bytes)
            + rule.parts["secret"].max_length
        )
        line_of = {s.start: lines.at(s.start) for s in ids}
        ids = [
            replace(
                s, line=line_of[s.start][0], example=suppression(rule, s.value.decode(), None) is not None
            )
            for s in ids
        ]
        secrets = self._secrets(c, data, ids, reach, lines, line_of)
        paired = pair(data, ids, secrets, rule.pairing, c.pairing_keywords)
        unpaired = [i for i in range(len(ids)) if i not in paired]
        if unpaired and pairing.structure_max_distance_bytes > reach:
            # Farther than nearness reaches: the secret of the id's own structure (read only for the ids
            # still alone, so the common case scans no more than before).
            taken = {s.start for s in paired.values()}
            far = self._secrets(
                c, data, [ids[i] for i in unpaired], pairing.structure_max_distance_bytes, lines, line_of
            )
            candidates = [s for s in far if s.start not in taken]
            paired |= pair_by_structure(data, ids, unpaired, candidates, pairing, c.pairing_keywords)
        tokens = self._tokens(c, data, ids, lines)
        matches = []
        for i, kid in enumerate(ids):
            secret = paired.get(i)
            if secret is None and not rule.pairing.report_unpaired_id:
                continue
            key_id = kid.value.decode("latin-1")
            line, column, end_line, end_column = position(data, kid.start, kid.end, *line_of[kid.start])
            token = tokens.get(i) if secret is not None else None
            suppressed = suppression(rule, key_id, secret.value if secret else None)
            live = None
            if verify is not None and secret is not None and suppressed is None:
                live = verify(rule.credential_type, key_id, secret.value, token.value if token else None)
            matches.append(
                Match(
                    rule_id=rule.id,
                    credential_type=rule.credential_type,
                    key_id=key_id,
                    secret_fingerprint=fingerprint(secret.value) if secret else "",
                    line=line,
                    column=column,
                    suppressed=suppressed,
                    decoding=decoding,
                    severity=rule.severity if secret else rule.pairing.unpaired_id_severity,
                    token_fingerprint=fingerprint(token.value) if token else "",
                    live=live,
                    end_line=end_line,
                    end_column=end_column,
                    kind="pair" if secret else "id",
                    confidence="high" if live == "live" else rule.confidence,
                    secret_line=secret.line if secret else 0,
                )
            )
        return matches


# Markers a team writes on a line to say "this one is known and accepted": ours, and the ones gitleaks and
# detect-secrets users already have in their code (case-insensitive).
ALLOW_MARKERS = re.compile(rb"(?i)keysentry:allow|gitleaks:allow|pragma:\s*allowlist\s+secret")
ALLOW_NEXT_LINE = re.compile(rb"(?i)pragma:\s*allowlist\s+nextline\s+secret")
ALLOW_ANY = r"keysentry:allow|gitleaks:allow|pragma:\s*allowlist\s"  # for the automaton: either kind
ALLOWED = "allowed in source by an allow marker"


def _allowed(data: bytes, matches: list[Match]) -> list[Match]:
    """Matches on a line with an allow marker (any line of a pair, or a marker for the next line on the
    line above) become ignored examples with that reason: listed, never silently dropped."""
    if not matches or (ALLOW_MARKERS.search(data) is None and ALLOW_NEXT_LINE.search(data) is None):
        return matches
    lines = data.split(b"\n")

    def marked(number: int) -> bool:
        here = 0 < number <= len(lines) and ALLOW_MARKERS.search(lines[number - 1]) is not None
        above = 1 < number <= len(lines) + 1 and ALLOW_NEXT_LINE.search(lines[number - 2]) is not None
        return here or above

    return [
        replace(m, suppressed=ALLOWED)
        if m.suppressed is None
        and (
            any(marked(n) for n in range(m.line, max(m.line, m.end_line) + 1))
            or (m.secret_line > 0 and marked(m.secret_line))
        )
        else m
        for m in matches
    ]


def _overlap(a: Match, b: Match) -> bool:
    if not (a.end_line and b.end_line):
        return a.line == b.line and a.column == b.column
    return (a.line, a.column) < (b.end_line, b.end_column) and (b.line, b.column) < (a.end_line, a.end_column)


def _left_to_typed(matches: list[Match], catch_all: frozenset[str]) -> list[Match]:
    """A catch-all rule's match where a typed rule found the same secret, or a match overlapping it, is
    dropped: the typed finding says more (``password = "ghp_…"`` is a GitHub token, not a password)."""
    loose = [m for m in matches if m.rule_id in catch_all]
    if not loose or len(loose) == len(matches):
        return matches
    typed = [m for m in matches if m.rule_id not in catch_all]
    secrets = {m.secret_fingerprint for m in typed if m.secret_fingerprint}
    dropped = {id(m) for m in loose if m.secret_fingerprint in secrets or any(_overlap(m, t) for t in typed)}
    return [m for m in matches if id(m) not in dropped]


def _deduplicate(matches: list[Match], catch_all: frozenset[str] = frozenset()) -> list[Match]:
    """One match per credential and line; an id seen alone is dropped where it is also seen paired; a
    catch-all match is dropped where a typed rule saw the same secret (one catch-all match a place)."""
    matches = _left_to_typed(matches, catch_all)
    paired_ids = {(m.rule_id, m.key_id) for m in matches if m.secret_fingerprint}
    paired_secrets = {m.secret_fingerprint for m in matches if m.kind == "pair"}
    paired_secrets |= {m.token_fingerprint for m in matches if m.kind == "pair" and m.token_fingerprint}
    seen: set[tuple[str, str, str, int]] = set()
    kept = []
    for m in sorted(matches, key=lambda m: (m.line, m.column, m.decoding is not None)):
        if not m.secret_fingerprint and (m.rule_id, m.key_id) in paired_ids:
            continue
        if m.kind == "secret" and m.secret_fingerprint in paired_secrets:
            continue  # a secret or token a pair already holds (a lone-secret rule seeing the pair's)
        rule = "*" if m.rule_id in catch_all else m.rule_id
        key = (rule, m.key_id, m.secret_fingerprint, m.line)
        if key in seen:
            continue
        seen.add(key)
        kept.append(m)
    return kept
