"""Baselines: read from what keysentry writes, hide known credentials, and fail loudly on bad files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from keysentry.cli.render import print_jsonl
from keysentry.detect.findings import Finding
from keysentry.detect.scanner import ScanReport
from keysentry.report import BaselineError, apply_baseline, load_baseline, sarif_log
from test_sarif import RULES, sample, sha

FP = "0123456789abcdef" * 2  # a well-formed fingerprint, for files broken elsewhere


def jsonl_of(report: ScanReport) -> str:
    """Exactly what ``keysentry scan --format jsonl`` prints."""
    buffer = io.StringIO()
    print_jsonl(Console(file=buffer, width=80), report)
    return buffer.getvalue()


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def new_credential() -> Finding:
    s = sample()
    return Finding(
        "aws-access-key", "aws_access_key", "AKIAQ3EGRIHJ6KNSXKBA", sha("a brand new secret"), "012345678901",
        severity="critical", locations=list(s.live.locations[:1]),
    )  # fmt: skip


# --- round trips --------------------------------------------------------------------------------
def test_jsonl_round_trip(tmp_path: Path) -> None:
    s = sample()
    text = jsonl_of(s.report)
    records = [json.loads(line) for line in text.splitlines()]
    # Every finding, then the documentation examples it ignored (saying why), then the summary.
    assert len(records) == len(s.report.findings) + len(s.report.suppressed) + 1
    assert [r["suppressed"] for r in records[len(s.report.findings) : -1]] == [
        f.suppressed for f in s.report.suppressed
    ]
    assert all(r["suppressed"] for r in records[len(s.report.findings) : -1])
    fingerprints = load_baseline(write(tmp_path, "baseline.jsonl", text))
    assert fingerprints == {f.fingerprint for f in [*s.report.findings, *s.report.suppressed]}


def test_single_line_jsonl(tmp_path: Path) -> None:
    s = sample()
    report = ScanReport(findings=[s.live])
    assert load_baseline(write(tmp_path, "one.jsonl", jsonl_of(report))) == {s.live.fingerprint}


def test_sarif_round_trip(tmp_path: Path) -> None:
    s = sample()
    log = sarif_log(s.report, RULES, "0.1.0", baselined=s.baselined)
    fingerprints = load_baseline(write(tmp_path, "keysentry.sarif", json.dumps(log, indent=2)))
    everything = [*s.report.findings, *s.report.suppressed, *s.baselined]
    assert fingerprints == {f.fingerprint for f in everything}


def test_json_arrays_of_strings_or_objects(tmp_path: Path) -> None:
    s = sample()
    wanted = {s.live.fingerprint, s.git.fingerprint}
    strings = write(tmp_path, "strings.json", json.dumps(sorted(wanted)))
    objects = write(tmp_path, "objects.json", json.dumps([{"fingerprint": f, "note": "ok"} for f in wanted]))
    assert load_baseline(strings) == wanted
    assert load_baseline(objects) == wanted
    assert load_baseline(write(tmp_path, "none.json", "[]")) == frozenset()


def test_byte_order_mark_and_blank_lines_are_fine(tmp_path: Path) -> None:
    s = sample()
    text = "\ufeff" + jsonl_of(s.report).replace("\n", "\n\n")
    everything = [*s.report.findings, *s.report.suppressed]
    assert load_baseline(write(tmp_path, "bom.jsonl", text)) == {f.fingerprint for f in everything}


# --- applying -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["jsonl", "sarif"])
def test_old_credential_hidden_new_one_shown(tmp_path: Path, fmt: str) -> None:
    yesterday = sample()
    if fmt == "jsonl":
        content = jsonl_of(yesterday.report)
    else:
        content = json.dumps(sarif_log(yesterday.report, RULES, "0.1.0"))
    baseline = load_baseline(write(tmp_path, f"baseline.{fmt}", content))

    today = sample()
    fresh = new_credential()
    today.report.findings.append(fresh)
    before = list(today.report.findings)

    filtered, removed = apply_baseline(today.report, baseline)

    assert filtered.findings == [fresh]
    assert removed == before[:-1]
    assert today.report.findings == before  # the input is not changed
    assert filtered is not today.report
    assert filtered.suppressed == today.report.suppressed
    assert filtered.skipped == today.report.skipped
    assert (filtered.blobs_scanned, filtered.bytes_scanned) == (9, 12_345)


@pytest.mark.parametrize("content", ["", "\n  \n", "[]", jsonl_of(ScanReport())])
def test_a_clean_scans_empty_output_is_a_baseline_of_nothing(tmp_path: Path, content: str) -> None:
    path = tmp_path / "baseline.jsonl"
    path.write_text(content)
    assert load_baseline(path) == frozenset()


def test_empty_baseline_changes_nothing() -> None:
    s = sample()
    filtered, removed = apply_baseline(s.report, frozenset())
    assert filtered.findings == s.report.findings
    assert removed == []


def test_baselined_findings_round_trip_into_sarif_as_suppressed() -> None:
    s = sample()
    filtered, removed = apply_baseline(s.report, frozenset({s.live.fingerprint}))
    log = sarif_log(filtered, RULES, "0.1.0", baselined=removed)
    suppressed = [
        r for r in log["runs"][0]["results"] if r.get("suppressions", [{}])[0].get("kind") == "external"
    ]
    assert len(suppressed) == len(s.live.locations)


def test_suppressed_examples_stay_suppressed() -> None:
    s = sample()
    filtered, removed = apply_baseline(s.report, frozenset({s.example.fingerprint}))
    assert filtered.suppressed == [s.example]
    assert removed == []


# --- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad-line.jsonl", f'{{"fingerprint": "{FP}"}}\nnot json at all\n', "line 2: not valid JSON"),
        ("bad-first.jsonl", "{oops\n", "line 1, column 2: not valid JSON"),
        ("truncated.sarif", '{\n  "version": "2.1.0",\n  "runs": [\n', "line 4"),
        ("scalar.json", '"just a string"', "holds a string"),
        ("object.json", '{"findings": []}', "holds an object with keys [findings]"),
        ("numbers.json", "[1, 2]", "array item 0: expected a fingerprint string"),
        ("nulls.json", '[{"fingerprint": null}]', "array item 0: the fingerprint is null, not a string"),
        ("short.json", '["abc"]', "array item 0: not a finding fingerprint"),
        ("missing.jsonl", f'{{"fingerprint": "{FP}"}}\n{{"rule": "x"}}\n', "line 2: expected a finding"),
        ("array-line.jsonl", f'{{"fingerprint": "{FP}"}}\n[1]\n', "line 2: expected a finding"),
        ("foreign.sarif", '{"version": "2.1.0", "runs": [{"results": [{"message": {"text": "x"}}]}]}',
         "runs[0].results[0]: has no partialFingerprints['keysentry/v1']"),
        ("runs.sarif", '{"version": "2.1.0", "runs": {}}', "'runs' is an empty object, not an array"),
        ("binary.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("latin1.jsonl", b'{"fingerprint": "caf\xe9"}\n', "is not UTF-8 text"),
    ],
)  # fmt: skip
def test_malformed_baselines_say_which_file_and_what(
    tmp_path: Path, name: str, content: str | bytes, expected: str
) -> None:
    path = write(tmp_path, name, content)
    with pytest.raises(BaselineError) as caught:
        load_baseline(path)
    message = str(caught.value)
    assert str(path) in message
    assert expected in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="no such file"):
        load_baseline(tmp_path / "nope.jsonl")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="is a directory"):
        load_baseline(tmp_path)


def test_errors_do_not_echo_file_content(tmp_path: Path) -> None:
    planted = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    path = write(tmp_path, "oops.json", json.dumps([planted]))
    with pytest.raises(BaselineError) as caught:
        load_baseline(path)
    assert planted not in str(caught.value)
