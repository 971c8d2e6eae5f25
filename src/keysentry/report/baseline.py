"""Baselines: credentials someone already knows about, so that a scan shows only what is new.

A baseline is a set of finding fingerprints (``Finding.fingerprint``: rule, key ID
and a hash of the secret, so a rotated secret under the same key ID is new again).
It is read from whatever keysentry already writes, so there is no separate format
to learn: the JSON Lines of ``keysentry scan --format jsonl``, a SARIF log from
``sarif_log``, or a hand-written JSON array of fingerprints (or of objects with a
``fingerprint``).

A baseline that cannot be read is an error, never an empty set: silently
misreading a file could hide new findings or bring back known ones.  An empty
file is a valid baseline of nothing: it is what ``--format jsonl`` writes for a
clean tree, which is where most baselines start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keysentry.detect.findings import Finding
from keysentry.detect.scanner import ScanReport
from keysentry.errors import KeysentryError
from keysentry.report.sarif import FINGERPRINT_KEY

EXPECTED = (
    "expected the JSON Lines of `keysentry scan --format jsonl`, a SARIF log written by keysentry, "
    "or a JSON array of fingerprints"
)
# Finding.fingerprint is a truncated SHA-256 hex digest; accept any plausible length of one.
_FINGERPRINT = re.compile(r"^[0-9a-f]{16,64}$")


class BaselineError(KeysentryError):
    """A baseline file is missing, unreadable or not in a format keysentry writes."""


def load_baseline(path: Path) -> frozenset[str]:
    """The finding fingerprints listed in ``path``; raises BaselineError saying where and what is wrong."""
    text = _read_text(path)
    return frozenset(_fingerprints(text, path))


def apply_baseline(report: ScanReport, fingerprints: frozenset[str]) -> tuple[ScanReport, list[Finding]]:
    """A copy of ``report`` without the baselined findings, and the findings it took out.

    Only live findings are filtered: suppressed documentation examples are already hidden and
    stay in ``suppressed``.  The input report is not changed; the findings are shared, not copied.
    """
    kept = [f for f in report.findings if f.fingerprint not in fingerprints]
    removed = [f for f in report.findings if f.fingerprint in fingerprints]
    return report.with_findings(kept), removed


# --- reading ------------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BaselineError(f"baseline {path}: no such file") from None
    except IsADirectoryError:
        raise BaselineError(f"baseline {path}: is a directory, not a file") from None
    except OSError as exc:
        raise BaselineError(f"baseline {path}: cannot be read ({exc.strerror or exc})") from exc
    if b"\0" in data:
        raise BaselineError(f"baseline {path}: looks like a binary file (it contains NUL bytes); {EXPECTED}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BaselineError(
            f"baseline {path}: is not UTF-8 text (bad byte at offset {exc.start}); {EXPECTED}"
        ) from None
    return text


def _fingerprints(text: str, path: Path) -> Iterator[str]:
    """Sniff the format: one JSON document (SARIF, array, or a one-line JSONL file) or JSON Lines."""
    if not text.strip():
        return  # a clean scan's JSON Lines: nothing known yet
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as whole:
        if _first_line_is_json(text):
            yield from _from_jsonl(text, path)
            return
        raise BaselineError(
            f"baseline {path}: line {whole.lineno}, column {whole.colno}: "
            f"not valid JSON ({whole.msg}); {EXPECTED}"
        ) from None
    if isinstance(doc, dict) and "runs" in doc:
        yield from _from_sarif(doc, path)
    elif isinstance(doc, dict) and "fingerprint" in doc:
        yield _checked(doc["fingerprint"], f"baseline {path}: line 1")
    elif _is_summary(doc):
        return  # a clean scan's JSON Lines: its summary record only
    elif isinstance(doc, list):
        yield from _from_array(doc, path)
    else:
        raise BaselineError(f"baseline {path}: the file holds {_describe(doc)}; {EXPECTED}")


def _is_summary(item: object) -> bool:
    """The record ``keysentry scan --format jsonl`` ends with (``"type": "summary"``)."""
    return isinstance(item, dict) and item.get("type") == "summary" and "fingerprint" not in item


def _first_line_is_json(text: str) -> bool:
    """A JSONL file whose first line parses; a pretty-printed document's first line (``{``) does not."""
    first = next(line for line in text.splitlines() if line.strip())
    try:
        json.loads(first)
    except json.JSONDecodeError:
        return False
    return True


def _from_jsonl(text: str, path: Path) -> Iterator[str]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"baseline {path}: line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BaselineError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if _is_summary(item):
            continue  # the scan's closing summary, not a finding
        if not isinstance(item, dict) or "fingerprint" not in item:
            raise BaselineError(
                f"{where}: expected a finding object with a 'fingerprint' (as `keysentry scan "
                f"--format jsonl` writes), got {_describe(item)}"
            )
        yield _checked(item["fingerprint"], where)


def _from_sarif(doc: dict[str, Any], path: Path) -> Iterator[str]:
    runs = doc["runs"]
    if not isinstance(runs, list):
        raise BaselineError(f"baseline {path}: SARIF 'runs' is {_describe(runs)}, not an array")
    for r, run in enumerate(runs):
        results = run.get("results") if isinstance(run, dict) else None
        if results is None:
            continue
        if not isinstance(results, list):
            raise BaselineError(
                f"baseline {path}: SARIF runs[{r}].results is {_describe(results)}, not an array"
            )
        for i, result in enumerate(results):
            where = f"baseline {path}: SARIF runs[{r}].results[{i}]"
            partial = result.get("partialFingerprints") if isinstance(result, dict) else None
            if not isinstance(partial, dict) or FINGERPRINT_KEY not in partial:
                raise BaselineError(
                    f"{where}: has no partialFingerprints[{FINGERPRINT_KEY!r}]; "
                    "was this log written by keysentry?"
                )
            yield _checked(partial[FINGERPRINT_KEY], where)


def _from_array(doc: list[Any], path: Path) -> Iterator[str]:
    for i, item in enumerate(doc):
        where = f"baseline {path}: array item {i}"
        if isinstance(item, dict) and "fingerprint" in item:
            yield _checked(item["fingerprint"], where)
        elif isinstance(item, str):
            yield _checked(item, where)
        else:
            raise BaselineError(
                f"{where}: expected a fingerprint string or an object with a 'fingerprint', "
                f"got {_describe(item)}"
            )


def _checked(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BaselineError(f"{where}: the fingerprint is {_describe(value)}, not a string")
    fingerprint = value.strip().lower()
    if not _FINGERPRINT.match(fingerprint):
        # Not echoed: whatever sits in the file where a fingerprint belongs is not ours to print.
        raise BaselineError(
            f"{where}: not a finding fingerprint (expected 16-64 hex digits, got {len(value)} characters)"
        )
    return fingerprint


def _describe(value: Any) -> str:
    """The JSON type of ``value`` in words, without echoing its content (which could be anything)."""
    if isinstance(value, dict):
        keys = ", ".join(sorted(value)[:5])
        return f"an object with keys [{keys}]" if keys else "an empty object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"
