"""Other scanners' output, accepted as it is: what to scan, and where it was found.

* trufflehog ``--json`` (one object per line): ``Raw`` and ``RawV2`` (for AWS, the key ID followed by
  its secret), ``DetectorName``, ``SourceMetadata.Data.<Git|Github|Filesystem…>`` for the place;
* gitleaks and betterleaks ``--report-format json`` (an array): ``Secret``, ``Match``, ``File``,
  ``StartLine``, ``Commit``, ``Author``, ``Email``, ``Date``, ``Link``;
* keysentry's own manual report: ``{"key_id", "secret", "url", "repository", "commit", "path", "line"}``
  (one object or an array).

Each item becomes a :class:`Reported`: text that holds the credential (scanned by the engine, in
memory, never stored) and its :class:`Provenance`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from keysentry.clock import parse_timestamp
from keysentry.content import Provenance
from keysentry.errors import KeysentryError

MAX_ITEMS = 10_000


class UnreadableReport(KeysentryError):
    """The body is in none of the formats we accept."""


@dataclass(frozen=True)
class Reported:
    text: bytes
    provenance: Provenance
    detector: str
    # Where it was found, without its line: items of one place are scanned together (a key ID and its
    # secret reported as two findings are paired).
    place: tuple[str | None, ...] = ()

    def __repr__(self) -> str:  # the text holds a secret
        return f"Reported(detector={self.detector!r}, provenance={self.provenance!r}, text='***')"


def _when(value: Any) -> datetime | None:
    return parse_timestamp(value, naive_is_utc=False)  # a scanner's time without a zone is unknown


def _text(*parts: Any) -> bytes:
    return "\n".join(str(p) for p in parts if isinstance(p, str) and p).encode()


def _trufflehog(item: dict[str, Any]) -> Reported:
    raw, raw_v2 = item.get("Raw") or "", item.get("RawV2") or ""
    detector = str(item.get("DetectorName") or "trufflehog")
    if detector.upper() == "AWS" and raw and raw_v2.startswith(raw):  # ID then secret, run together
        text = _text(f"aws_access_key_id = {raw}", f"aws_secret_access_key = {raw_v2[len(raw) :]}")
    else:
        text = _text(raw, raw_v2)
    data = (item.get("SourceMetadata") or {}).get("Data") or {}
    place: dict[str, Any] = next(iter(data.values()), {}) if isinstance(data, dict) and data else {}
    line = place.get("line")
    provenance = Provenance(
        "report",
        path=place.get("file") or place.get("path"),
        repository=place.get("repository"),
        commit=place.get("commit"),
        author=place.get("email"),
        committed_at=_when(place.get("timestamp", "").replace(" +0000 UTC", "+00:00"))
        if isinstance(place.get("timestamp"), str)
        else None,
        url=place.get("link"),
    )
    return _reported(text, provenance, line, f"trufflehog:{detector}")


def _gitleaks(item: dict[str, Any]) -> Reported:
    author = item.get("Author")
    if author and item.get("Email"):
        author = f"{author} <{item['Email']}>"
    provenance = Provenance(
        "report",
        path=item.get("File"),
        commit=item.get("Commit") or None,
        author=author or None,
        committed_at=_when(item.get("Date")),
        url=item.get("Link") or None,
    )
    detector = f"gitleaks:{item.get('RuleID', '?')}"
    return _reported(
        _text(item.get("Match"), item.get("Secret")), provenance, item.get("StartLine"), detector
    )


def _manual(item: dict[str, Any]) -> Reported:
    key_id, secret = item.get("key_id"), item.get("secret")
    text = _text(
        f"aws_access_key_id = {key_id}" if key_id else None,
        f"aws_secret_access_key = {secret}" if secret else None,
    )
    if isinstance(item.get("text"), str):
        text = _text(text.decode(), item["text"])
    provenance = Provenance(
        "report",
        path=item.get("path"),
        repository=item.get("repository"),
        commit=item.get("commit"),
        author=item.get("author"),
        committed_at=_when(item.get("committed_at")),
        url=item.get("url"),
    )
    return _reported(text, provenance, item.get("line"), "manual")


def _reported(text: bytes, provenance: Provenance, line: Any, detector: str) -> Reported:
    place = (provenance.repository, provenance.commit, provenance.path, provenance.url)
    return Reported(text, _with_line(provenance, line), detector, place)


def _with_line(provenance: Provenance, line: Any) -> Provenance:
    """Provenance has no line of its own (the engine counts lines in the reported text), so a line the
    report gives travels in the path, ``file:line``."""
    if isinstance(line, int) and line > 0 and provenance.path:
        return replace(provenance, path=f"{provenance.path}:{line}")
    return provenance


def _kind(item: dict[str, Any]) -> str:
    if "SourceMetadata" in item or "DetectorName" in item:
        return "trufflehog"
    if "RuleID" in item and ("Secret" in item or "Match" in item):
        return "gitleaks"
    if "key_id" in item or "secret" in item or "text" in item:
        return "manual"
    raise UnreadableReport(
        "an item is neither trufflehog (SourceMetadata, DetectorName), gitleaks/betterleaks (RuleID, "
        "Secret) nor a keysentry report (key_id, secret)"
    )


READERS = {"trufflehog": _trufflehog, "gitleaks": _gitleaks, "manual": _manual}


def read_report(body: bytes) -> list[Reported]:
    """Every item of a report body: a JSON array or object, or JSON Lines (trufflehog)."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise UnreadableReport("the body is not UTF-8") from None
    try:
        data: Any = json.loads(text)
        items = data if isinstance(data, list) else [data]
    except json.JSONDecodeError:
        try:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise UnreadableReport(f"neither JSON nor JSON Lines: {exc}") from None
    if not items:
        raise UnreadableReport("the report is empty")
    if len(items) > MAX_ITEMS:
        raise UnreadableReport(f"more than {MAX_ITEMS} items in one report")
    if not all(isinstance(i, dict) for i in items):
        raise UnreadableReport("every item must be a JSON object")
    return [READERS[_kind(item)](item) for item in items]
