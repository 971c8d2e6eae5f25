"""Other scanners' output, accepted as it is: what to scan, and where it was found.

* trufflehog ``--json`` (one object per line): ``Raw`` and ``RawV2`` (for AWS, the key ID followed by
  its secret), ``DetectorName``, ``SourceMetadata.Data.<Git|Github|Filesystem…>`` for the place;
* gitleaks ``--report-format json`` (an array): ``RuleID``, ``Secret``, ``Match``, ``File``,
  ``StartLine``, ``StartColumn``, ``Commit``, ``Author``, ``Email``, ``Date``, ``Link``;
* gitleaks ``--report-format sarif``: ``runs[].results[]``, the secret in ``region.snippet.text``, the
  commit, author and date in ``partialFingerprints``;
* betterleaks 2 (``-o report.json`` or ``.jsonl``): ``{"schema_version", "findings": [...], "scan"}``
  or one ``{"finding"}`` per line; each finding's ``match``, ``location``, ``attributes`` (``git.sha``,
  ``git.author_*``, ``git.date``, ``git.remote_url``, ``url``) and the ``component_sets`` that hold the
  other parts of a credential (an AWS key ID's secret);
* keysentry's own manual report: ``{"key_id", "secret", "url", "repository", "commit", "path", "line"}``
  (one object or an array).

Each item becomes a :class:`Reported`: the segments of text that hold the credential (scanned by the
engine, in memory, never stored), each with the line the scanner gave, and its :class:`Provenance`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keysentry.clock import parse_timestamp
from keysentry.content import Provenance
from keysentry.errors import KeysentryError
from keysentry.intake.bounded_json import TooDeep, check_depth, without_nul

MAX_ITEMS = 10_000
REDACTED = "REDACTED"  # what gitleaks and betterleaks write for a value with --redact


class UnreadableReport(KeysentryError):
    """The body is in none of the formats we accept."""


@dataclass(frozen=True)
class Segment:
    """Text that held (part of) a credential, and where the scanner says it starts in its file."""

    text: bytes
    line: int | None = None  # 1-based; None: the scanner did not say
    column: int | None = None

    def __repr__(self) -> str:  # the text holds a secret
        return f"Segment(line={self.line}, column={self.column}, text='***')"


@dataclass(frozen=True)
class Reported:
    segments: tuple[Segment, ...]
    provenance: Provenance
    detector: str
    # Why this item holds nothing to scan (the scanner redacted it …); None when it does.
    unscannable: str | None = None

    @property
    def text(self) -> bytes:
        return b"\n".join(s.text for s in self.segments)

    @property
    def place(self) -> tuple[str | None, ...]:
        """Where it was found, without its line: items of one place are scanned together (a key ID and
        its secret reported as two findings are paired).  A link's ``#L3`` names the line, not the
        place."""
        p = self.provenance
        return (p.repository, p.commit, p.path, (p.url or "").split("#", 1)[0] or None)

    def __repr__(self) -> str:  # the text holds a secret
        return f"Reported(detector={self.detector!r}, provenance={self.provenance!r}, text='***')"


def _when(value: Any) -> datetime | None:
    return parse_timestamp(value, naive_is_utc=False)  # a scanner's time without a zone is unknown


MAX_LINE = 2**31 - 1  # no file has more lines (nor a line more columns); the store holds 32 bits


def _line(value: Any) -> int | None:
    whole = isinstance(value, int) and not isinstance(value, bool)
    return value if whole and 0 < value <= MAX_LINE else None


def _segment(text: Any, line: Any = None, column: Any = None) -> Segment | None:
    if not isinstance(text, str) or not text:
        return None
    return Segment(text.encode(), _line(line), _line(column))


def _segments(*segments: Segment | None) -> tuple[Segment, ...]:
    return tuple(s for s in segments if s is not None)


def _str(value: Any) -> str | None:
    return str(value) if isinstance(value, str) and value else None


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object of the report, or an empty one where the report holds something else."""
    return value if isinstance(value, dict) else {}


def _author(name: Any, email: Any) -> str | None:
    who, address = _str(name), _str(email)
    if who and address:
        return f"{who} <{address}>"
    return who or address


def _redacted(*values: Any) -> str | None:
    if any(v == REDACTED for v in values):
        return "redacted by the scanner: nothing to scan (run it without --redact)"
    return None


def _trufflehog(item: dict[str, Any]) -> Reported:
    raw, raw_v2 = _str(item.get("Raw")) or "", _str(item.get("RawV2")) or ""
    detector = str(item.get("DetectorName") or "trufflehog")
    data = _obj(_obj(item.get("SourceMetadata")).get("Data"))
    place = _obj(next(iter(data.values()), {}))
    line = place.get("line")
    if detector.upper() == "AWS" and raw and raw_v2.startswith(raw):  # ID then secret, run together
        segments = _segments(
            _segment(f"aws_access_key_id = {raw}", line),
            _segment(f"aws_secret_access_key = {raw_v2[len(raw) :]}", line),
        )
    else:
        segments = _segments(_segment(raw, line), _segment(raw_v2, line))
    stamp = place.get("timestamp")
    provenance = Provenance(
        "report",
        path=_str(place.get("file")) or _str(place.get("path")),
        repository=_str(place.get("repository")),
        commit=_str(place.get("commit")),
        author=_str(place.get("email")),
        committed_at=_when(stamp.replace(" +0000 UTC", "+00:00")) if isinstance(stamp, str) else None,
        url=_str(place.get("link")),
    )
    return Reported(segments, provenance, f"trufflehog:{detector}")


def _gitleaks(item: dict[str, Any]) -> Reported:
    provenance = Provenance(
        "report",
        path=_str(item.get("File")),
        commit=_str(item.get("Commit")),
        author=_author(item.get("Author"), item.get("Email")),
        committed_at=_when(item.get("Date")),
        url=_str(item.get("Link")),
    )
    match, secret = _str(item.get("Match")), _str(item.get("Secret"))
    line, column = item.get("StartLine"), item.get("StartColumn")
    segments = _segments(
        _segment(match, line, column),
        # The secret is inside the match as a rule captures it; alone only when it is not.
        _segment(secret, line) if secret and (not match or secret not in match) else None,
    )
    detector = f"gitleaks:{item.get('RuleID', '?')}"
    return Reported(segments, provenance, detector, _redacted(match, secret))


def _betterleaks(item: dict[str, Any]) -> Reported:
    attributes, location = _obj(item.get("attributes")), _obj(item.get("location"))
    path = _str(location.get("path"))
    provenance = Provenance(
        "report",
        path=path[2:] if path and path.startswith("./") else path,
        repository=_str(attributes.get("git.remote_url")),
        commit=_str(attributes.get("git.sha")),
        author=_author(attributes.get("git.author_name"), attributes.get("git.author_email")),
        committed_at=_when(attributes.get("git.date")),
        url=_str(attributes.get("url")),
    )
    parts: list[tuple[Any, Any]] = [(item.get("match"), location)]
    sets = item.get("component_sets")
    for group in sets if isinstance(sets, list) else []:
        components = _obj(group).get("components")
        for component in components if isinstance(components, list) else []:
            parts.append((_obj(component).get("match"), _obj(component).get("location")))
    segments: list[Segment | None] = []
    values: list[Any] = []
    for match, where in parts:
        if not isinstance(match, dict) or not isinstance(where, dict):
            continue
        values.append(match.get("value"))
        segments.append(_segment(match.get("full") or match.get("value"), where.get("start_line"), None))
    detector = f"betterleaks:{item.get('rule_id', '?')}"
    return Reported(_segments(*segments), provenance, detector, _redacted(*values))


def _sarif(result: dict[str, Any], tool: str) -> Reported:
    places = result.get("locations")
    physical = _obj(_obj(places[0] if isinstance(places, list) and places else {}).get("physicalLocation"))
    region, facts = _obj(physical.get("region")), _obj(result.get("partialFingerprints"))
    provenance = Provenance(
        "report",
        path=_str(_obj(physical.get("artifactLocation")).get("uri")),
        commit=_str(facts.get("commitSha")),
        author=_author(facts.get("author"), facts.get("email")),
        committed_at=_when(facts.get("date")),
    )
    snippet = _str(_obj(region.get("snippet")).get("text"))
    unscannable = _redacted(snippet) or (
        None if snippet else "the SARIF result carries no snippet: nothing to scan"
    )
    segments = _segments(_segment(snippet, region.get("startLine"), region.get("startColumn")))
    return Reported(segments, provenance, f"{tool}:{result.get('ruleId', '?')}", unscannable)


def _manual(item: dict[str, Any]) -> Reported:
    key_id, secret, line = _str(item.get("key_id")), _str(item.get("secret")), item.get("line")
    segments = _segments(
        _segment(f"aws_access_key_id = {key_id}", line) if key_id else None,
        _segment(f"aws_secret_access_key = {secret}", line) if secret else None,
        _segment(item.get("text"), line),
    )
    provenance = Provenance(
        "report",
        path=_str(item.get("path")),
        repository=_str(item.get("repository")),
        commit=_str(item.get("commit")),
        author=_str(item.get("author")),
        committed_at=_when(item.get("committed_at")),
        url=_str(item.get("url")),
    )
    return Reported(segments, provenance, "manual")


def _kind(item: dict[str, Any]) -> str:
    if "DetectorName" in item:
        return "trufflehog"
    if "RuleID" in item:
        return "gitleaks"
    if "rule_id" in item and "match" in item:
        return "betterleaks"
    if "key_id" in item or "secret" in item or "text" in item:
        return "manual"
    raise UnreadableReport(
        "an item is neither trufflehog (DetectorName), gitleaks (RuleID), betterleaks 2 (rule_id, "
        "match), SARIF (runs[].results[]) nor a keysentry report (key_id, secret or text)"
    )


# The fields each format's items may carry, by the JSON type they must have when present (null is
# always allowed): a value of another type is refused with the field's name, before anything is read.
_TEXT, _NUMBER, _OBJECT, _LIST = (str,), (int,), (dict,), (list,)
FIELD_TYPES: dict[str, dict[str, tuple[type, ...]]] = {
    "manual": {
        **dict.fromkeys(
            ("key_id", "secret", "text", "url", "repository", "commit", "path", "author", "committed_at"),
            _TEXT,
        ),
        "line": _NUMBER,
    },
    "gitleaks": {
        **dict.fromkeys(
            ("RuleID", "Secret", "Match", "File", "Commit", "Author", "Email", "Date", "Link"), _TEXT
        ),
        **dict.fromkeys(("StartLine", "StartColumn"), _NUMBER),
    },
    "trufflehog": {**dict.fromkeys(("DetectorName", "Raw", "RawV2"), _TEXT), "SourceMetadata": _OBJECT},
    "betterleaks report": {"schema_version": _TEXT, "findings": _LIST, "scan": _OBJECT},
    "sarif": {"version": _TEXT, "runs": _LIST},
    "betterleaks line": {"schema_version": _TEXT, "finding": _OBJECT, "scan": _OBJECT},
}
_NAMES = {str: "a string", int: "a whole number", dict: "an object", list: "an array"}
# Fields that are never null when present (what tells the format is always present).
NOT_NULL = {
    "trufflehog": ("DetectorName",),
    "gitleaks": ("RuleID",),
    "sarif": ("runs",),
    "betterleaks report": ("schema_version", "findings"),
    "betterleaks line": ("schema_version", "finding", "scan"),
}


def _typed(item: dict[str, Any], kind: str) -> dict[str, Any]:
    """``item`` if every field it has of ``kind``'s is of its type (and a line is at least 1)."""
    for name in NOT_NULL.get(kind, ()):
        if name in item and item[name] is None:
            raise UnreadableReport(f"a {kind} item's {name} must not be null")
    for name, types in FIELD_TYPES[kind].items():
        value = item.get(name)
        if value is None:
            continue
        if types is _NUMBER and isinstance(value, float) and value.is_integer():
            value = item[name] = int(value)  # 12.0 is a whole number in JSON
        if not isinstance(value, types) or isinstance(value, bool):
            raise UnreadableReport(f"a {kind} item's {name} must be {_NAMES[types[0]]}")
        if isinstance(value, int) and not 1 <= value <= MAX_LINE:
            raise UnreadableReport(f"a {kind} item's {name} must be from 1 to {MAX_LINE}")
    if kind == "manual" and isinstance(item.get("committed_at"), str) and _when(item["committed_at"]) is None:
        raise UnreadableReport("a manual item's committed_at must be an ISO 8601 time with its time zone")
    return item


READERS = {"trufflehog": _trufflehog, "gitleaks": _gitleaks, "betterleaks": _betterleaks, "manual": _manual}


def _parse(text: str) -> list[Any]:
    """The JSON values of a body: one document, or one per line (JSON Lines)."""
    try:
        check_depth(text)
    except TooDeep as exc:
        raise UnreadableReport(str(exc)) from None
    try:
        return [without_nul(json.loads(text))]
    except json.JSONDecodeError:
        try:
            return [without_nul(json.loads(line)) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise UnreadableReport(f"neither JSON nor JSON Lines: {exc}") from None


def _items(documents: list[Any]) -> Iterator[Reported]:
    """The items of each document: a list of items (gitleaks), or one (a line of JSON Lines, a
    keysentry report, SARIF, betterleaks 2's report)."""
    for document in documents:
        for item in document if isinstance(document, list) else [document]:
            yield from _item(item)


def _item(document: Any) -> Iterator[Reported]:
    if not isinstance(document, dict):
        raise UnreadableReport("every item must be a JSON object")
    if "runs" in document:  # SARIF
        for run in _typed(document, "sarif")["runs"]:
            if not isinstance(run, dict):
                raise UnreadableReport("a SARIF run must be a JSON object")
            tool = str(_obj(_obj(run.get("tool")).get("driver")).get("name") or "sarif").lower()
            results = run.get("results")
            if results is not None and not isinstance(results, list):
                raise UnreadableReport("a SARIF run's results must be an array")
            for result in results or []:
                if not isinstance(result, dict):
                    raise UnreadableReport("a SARIF result must be a JSON object")
                yield _sarif(result, tool)
    elif "schema_version" in document and "findings" in document:  # betterleaks 2's report
        for finding in _typed(document, "betterleaks report")["findings"]:
            if not isinstance(finding, dict):
                raise UnreadableReport("a betterleaks finding must be a JSON object")
            yield _betterleaks(finding)
    elif "schema_version" in document and ("finding" in document or "scan" in document):  # its JSONL
        line = _typed(document, "betterleaks line")
        if isinstance(line.get("finding"), dict):
            yield _betterleaks(line["finding"])
        elif not isinstance(line.get("scan"), dict):
            raise UnreadableReport("a betterleaks line holds a finding or the closing summary (scan)")
        # (the closing summary line: no finding in it)
    else:
        kind = _kind(document)
        yield READERS[kind](_typed(document, kind))


def read_report(body: bytes) -> list[Reported]:
    """Every item of a report body: a JSON array or object, JSON Lines, SARIF or betterleaks 2's
    report."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise UnreadableReport("the body is not UTF-8") from None
    if not text.strip():
        raise UnreadableReport("the body is empty")
    items: list[Reported] = []
    for item in _items(_parse(text)):
        items.append(item)
        if len(items) > MAX_ITEMS:
            raise UnreadableReport(f"more than {MAX_ITEMS} items in one report")
    return items  # (none: a scanner's report of a scan that found nothing, gitleaks' [])
