#!/usr/bin/env python3
"""Detection quality: recall and precision per credential family, keysentry beside its peers, one run.

Builds the labelled evaluation set (``benchlib/quality_set.py``: every rule's credentials in the layouts
people write them in, generic passwords and keys, and near-misses) under ``bench/out/quality-s<seed>/``,
runs every tool on it, and prints per family:

* **recall**: of the files holding a credential, those where the tool reports a finding that shows it
  (keysentry: ``secret_sha256``; betterleaks and Kingfisher: the value in the match, its components or
  captures; detect-secrets: ``hashed_secret``, the SHA-1 of the value);
* **precision**: of the files where the tool reported anything, those where it reported the credential
  the file holds (a finding in a near-miss or false-example file, or only a wrong one in a credential's
  file, is a false positive).

keysentry appears twice: as it reports by default (``--min-confidence medium``) and with
``--min-confidence low`` (generic passwords and secrets, failed checksums).  The peers run with their
default rules, as people run them.  With ``--corpus MB`` it also scans the real-code corpus of
``../shared/bench/make_corpus.py`` at ``--min-confidence low`` and counts every finding that is not a
planted pair (the generic rules' false positives on real code).

    bench/quality.py                       # the set, all tools
    bench/quality.py --tools keysentry     # only keysentry
    bench/quality.py --corpus 300          # and the 300 MB real-code corpus

Nothing secret is printed or kept: the truth file holds SHA-256 digests, the tools' raw output is
deleted once read, and the table holds counts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from benchlib.corpus import CorpusSpec, ensure_corpus, load_truth  # noqa: E402
from benchlib.quality_set import NEAR_MISS, Case, build  # noqa: E402
from benchlib.tools import (  # noqa: E402
    betterleaks_findings, ensure_peers_venv, json_lines, kingfisher_findings, peer_binaries, relpath, version_of,
)

OUT = BENCH / "out"
KEYSENTRY = ROOT / ".venv" / "bin" / "keysentry"
MAKE_CORPUS = ROOT.parent / "shared" / "bench" / "make_corpus.py"
PEERS = ("betterleaks", "kingfisher", "detect-secrets")
CONFIDENCE = {"high": 3, "medium": 2, "low": 1}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# A tool's findings as (path, what it shows): the strings of its match, or digests of them.
Shown = dict[str, list[tuple[set[str], set[str]]]]  # path -> [(values, digests)]


def _add(shown: Shown, path: str | None, values: set[str], digests: set[str]) -> None:
    if path:
        shown.setdefault(path, []).append((values, digests))


def read_keysentry(out: Path, tree: Path, floor: str) -> Shown:
    shown: Shown = {}
    for d in json_lines(out):
        if d.get("type") == "summary" or d.get("suppressed"):
            continue
        if CONFIDENCE.get(d.get("confidence", "medium"), 2) < CONFIDENCE[floor]:
            continue
        for loc in d.get("locations") or []:
            _add(shown, relpath(loc.get("path"), tree), set(), {d.get("secret_sha256") or ""})
    return shown


def read_betterleaks(out: Path, tree: Path) -> Shown:
    shown: Shown = {}
    for _rule, path, _lines, values in betterleaks_findings(out, tree):
        _add(shown, path, set(values), set())
    return shown


def read_kingfisher(out: Path, tree: Path) -> Shown:
    shown: Shown = {}
    for _rule, path, _lines, values in kingfisher_findings(out, tree):
        _add(shown, path, set(values), set())
    return shown


def read_detect_secrets(out: Path, tree: Path) -> Shown:
    shown: Shown = {}
    data = json.loads(out.read_text() or "{}")
    for filename, items in (data.get("results") or {}).items():
        for it in items:
            _add(shown, relpath(it.get("filename", filename), tree), set(), {it.get("hashed_secret", "")})
    return shown


def shows(case: Case, found: list[tuple[set[str], set[str]]]) -> bool:
    """Whether one of a file's findings shows the credential the file holds."""
    for value in case.values:
        needle = value.strip()
        if len(needle) > 64:  # a private key or a JSON file: its middle, whatever the tool's boundaries
            needle = needle[len(needle) // 2 - 16 : len(needle) // 2 + 16]
        digests = {hashlib.sha256(value.encode()).hexdigest(), hashlib.sha1(value.encode()).hexdigest()}  # noqa: S324
        for values, hashes in found:
            if hashes & digests or any(needle in v for v in values):
                return True
    return False


def score(cases: list[Case], shown: Shown) -> dict[str, dict[str, int]]:
    rows: dict[str, dict[str, int]] = defaultdict(lambda: {"positives": 0, "found": 0, "reported": 0, "fp": 0})
    for case in cases:
        row = rows[case.family]
        found = shown.get(case.path, [])
        if case.positive:
            row["positives"] += 1
        if not found:
            continue
        row["reported"] += 1
        if case.positive and shows(case, found):
            row["found"] += 1
        else:
            row["fp"] += 1
    return dict(rows)


def run(argv: list[str], out: Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    with out.open("wb") as handle:
        subprocess.run(argv, stdout=handle, stderr=subprocess.DEVNULL, cwd=cwd, env=env, check=False, timeout=3600)
    return time.perf_counter() - started


def run_tools(tools: list[str], tree: Path, tmp: Path) -> tuple[dict[str, Shown], dict[str, str], dict[str, float]]:
    import os

    shown: dict[str, Shown] = {}
    versions: dict[str, str] = {}
    seconds: dict[str, float] = {}
    bins: dict[str, Path] = {}
    if set(tools) & set(PEERS):
        ensure_peers_venv(OUT / "peers-venv", tools, log)
        bins = peer_binaries(OUT / "peers-venv")
    quiet = {**os.environ, "BETTERLEAKS_VALIDATE": "false", "BETTERLEAKS_ANALYZE": "false",
             "KF_RULE_CACHE_DIR": str(OUT / "kingfisher-rule-cache")}
    for tool in tools:
        out = tmp / f"{tool}.out"
        log(f"running {tool}")
        if tool == "keysentry":
            seconds[tool] = run([str(KEYSENTRY), "scan", str(tree), "-f", "jsonl", "--min-confidence", "low",
                                 "--no-config", "--no-progress"], out)
            versions[tool] = version_of([str(KEYSENTRY), "--version"])
            shown["keysentry"] = read_keysentry(out, tree, "medium")
            shown["keysentry (low)"] = read_keysentry(out, tree, "low")
        elif tool == "betterleaks":
            target = tmp / "betterleaks.json"
            seconds[tool] = run([str(bins[tool]), "fs", str(tree), "--no-banner", "--no-color", "--silent",
                                 "--log-level", "error", "--output", str(target)], out, env=quiet)
            versions[tool] = version_of([str(bins[tool]), "--version"])
            shown[tool] = read_betterleaks(target, tree)
            target.unlink(missing_ok=True)
        elif tool == "kingfisher":
            target = tmp / "kingfisher.jsonl"
            seconds[tool] = run([str(bins[tool]), "scan", str(tree), "--no-validate", "--no-update-check",
                                 "--format", "jsonl", "--output", str(target), "--quiet", "--no-dedup"], out, env=quiet)
            versions[tool] = version_of([str(bins[tool]), "--version"])
            shown[tool] = read_kingfisher(target, tree)
            target.unlink(missing_ok=True)
        elif tool == "detect-secrets":
            seconds[tool] = run([str(bins[tool]), "scan", "--all-files", "--no-verify", "."], out, cwd=tree)
            versions[tool] = version_of([str(bins[tool]), "--version"])
            shown[tool] = read_detect_secrets(out, tree)
        out.unlink(missing_ok=True)  # raw output holds secrets
    return shown, versions, seconds


def ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "  - "


def print_table(cases: list[Case], scores: dict[str, dict[str, dict[str, int]]]) -> None:
    families = sorted({c.family for c in cases}, key=lambda f: (f == NEAR_MISS, f))
    tools = list(scores)
    head = f"{'family':22} {'files':>11}  " + "  ".join(f"{t:>19}" for t in tools)
    print(head)
    print(f"{'':22} {'cred/neg':>11}  " + "  ".join(f"{'recall  precision':>19}" for _ in tools))
    total = {t: {"positives": 0, "found": 0, "reported": 0, "fp": 0} for t in tools}
    for family in [*families, "all"]:
        pos = sum(1 for c in cases if c.positive and (family in ("all", c.family)))
        neg = sum(1 for c in cases if not c.positive and (family in ("all", c.family)))
        cells = []
        for t in tools:
            row = total[t] if family == "all" else scores[t].get(family, {"positives": pos, "found": 0, "reported": 0, "fp": 0})
            if family != "all":
                for k in total[t]:
                    total[t][k] += row.get(k, 0)
            precision = ratio(row["found"], row["found"] + row["fp"])
            cells.append(f"{ratio(row['found'], pos) if pos else '  - ':>8}  {precision:>9}")
        print(f"{family:22} {pos:>5}/{neg:<5}  " + "  ".join(f"{c:>19}" for c in cells))


def corpus_section(mb: int) -> dict[str, object]:
    """keysentry at --min-confidence low on the real-code corpus: what it reports besides the plants."""
    spec = CorpusSpec("folder", mb, max(20, mb * 5 // 3), max(10, mb * 2 // 3))
    corpus = ensure_corpus(spec, OUT, MAKE_CORPUS, log)
    truth = load_truth(corpus, MAKE_CORPUS)
    tree = corpus.tree
    out = OUT / "tmp" / "corpus.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    run([str(KEYSENTRY), "scan", str(tree), "-f", "jsonl", "--min-confidence", "low", "--no-config",
         "--no-progress", "-j", "2"], out)
    planted = {p.key_id: p.secret_sha256 for p in truth.planted}
    by_rule: dict[str, int] = defaultdict(int)
    found: set[str] = set()
    reported = planted_findings = 0
    for d in json_lines(out):
        if d.get("type") == "summary" or d.get("suppressed"):
            continue
        reported += 1
        sha = d.get("secret_sha256")
        if sha and planted.get(d.get("key_id") or "") == sha:
            found.add(d["key_id"])
            planted_findings += 1
        else:
            by_rule[d.get("rule", "")] += 1
    out.unlink(missing_ok=True)
    generic = sum(n for rule, n in by_rule.items() if rule.startswith("generic-"))
    return {"corpus": corpus.spec.name, "planted": len(truth.planted), "planted_found": len(found),
            "reported": reported, "other_by_rule": dict(sorted(by_rule.items())), "generic_other": generic,
            "precision_all": round(planted_findings / reported, 4) if reported else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tools", default="keysentry," + ",".join(PEERS))
    ap.add_argument("--corpus", type=int, default=0, metavar="MB", help="also the real-code corpus of this size")
    args = ap.parse_args()
    tools = [t for t in args.tools.split(",") if t]

    from keysentry.detect import load_rules  # the set is made from the rules of the keysentry under test

    tree = OUT / f"quality-s{args.seed}" / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    cases = build(tree, load_rules(), args.seed)
    (tree.parent / "truth.jsonl").write_text("".join(json.dumps(c.truth_record()) + "\n" for c in cases))
    log(f"{len(cases)} files ({sum(c.positive for c in cases)} with a credential) in {tree}")
    tmp = OUT / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    shown, versions, seconds = run_tools(tools, tree, tmp)
    scores = {tool: score(cases, found) for tool, found in shown.items()}
    print_table(cases, scores)
    print("\nversions: " + "; ".join(f"{t} {v}" for t, v in versions.items()))
    print("seconds:  " + "; ".join(f"{t} {s:.1f}" for t, s in seconds.items()))
    result: dict[str, object] = {"seed": args.seed, "versions": versions, "seconds": seconds, "scores": scores}
    if args.corpus:
        section = corpus_section(args.corpus)
        result["corpus"] = section
        print(f"\nreal-code corpus {section['corpus']} at --min-confidence low: {section['planted_found']}/"
              f"{section['planted']} planted pairs, {section['reported']} findings, precision "
              f"{section['precision_all']}; not planted: {section['other_by_rule']}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (OUT / f"quality-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
