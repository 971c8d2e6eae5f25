#!/usr/bin/env python3
"""Why keysentry's first pass is Hyperscan: one automaton over many patterns, measured.

Reads every file of a corpus into memory once, then times the same anchor patterns (AWS key IDs
plus the prefixed token patterns and keyword literals of the bundled rules) with:

* Python ``re``: one alternation compiled into a single pattern, ``finditer`` over each blob;
* RE2 (``google-re2``): the same alternation, ``finditer`` over each blob;
* Hyperscan (``hyperscan``): every pattern in one block-mode database, in prefilter mode.

Each engine must report the same files as containing candidates; the table shows MB/s.

    python bench/engine_choice.py CORPUS_DIR [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


def load(root: Path) -> list[bytes]:
    blobs = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink() or ".git" in path.parts:
                continue
            data = path.read_bytes()
            if b"\0" not in data[:8192]:
                blobs.append(data)
    return blobs


def anchor_patterns() -> list[str]:
    from keysentry.detect.engine import Engine
    from keysentry.detect.rules import load_rules

    roles = {"base64", "url", "json-escape"}
    return [p for p, owner in Engine(load_rules()).automaton_patterns() if owner not in roles]


def time_it(fn, blobs: list[bytes], runs: int) -> tuple[float, set[int]]:
    times, hits = [], set()
    for _ in range(runs):
        hits = set()
        start = time.perf_counter()
        for i, blob in enumerate(blobs):
            if fn(blob):
                hits.add(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times), hits


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    blobs = load(args.corpus)
    total = sum(map(len, blobs)) / 1e6
    patterns = anchor_patterns()
    print(f"{len(blobs)} files, {total:.0f} MB, {len(patterns)} anchor patterns")

    import re

    import hyperscan
    import re2

    alternation = "|".join(f"(?:{p})" for p in patterns)
    py = re.compile(alternation.encode())

    def python_re(blob: bytes) -> bool:
        return sum(1 for _ in py.finditer(blob)) > 0

    options = re2.Options()
    options.max_mem = 256 << 20
    try:
        r2 = re2.compile(alternation.encode(), options=options)

        def google_re2(blob: bytes) -> bool:
            return sum(1 for _ in r2.finditer(blob)) > 0
    except Exception as exc:  # RE2 has no lookaround: report, do not hide
        print(f"RE2 cannot compile the rule patterns as written: {exc}")
        stripped = re.sub(r"\(\?<?[!=][^)]*\)", "", alternation)
        r2 = re2.compile(stripped.encode(), options=options)

        def google_re2(blob: bytes) -> bool:
            return sum(1 for _ in r2.finditer(blob)) > 0

    db = hyperscan.Database()
    flags = hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_ALLOWEMPTY
    db.compile(
        expressions=[p.encode() for p in patterns],
        ids=list(range(len(patterns))),
        flags=[flags] * len(patterns),
    )
    scratch = hyperscan.Scratch(db)

    def hs(blob: bytes) -> bool:
        found = []
        db.scan(blob, match_event_handler=lambda *a: found.append(1), scratch=scratch)
        return bool(found)

    def plain_read(blob: bytes) -> bool:
        return False

    print(f"{'engine':<14}{'s (median)':>12}{'MB/s':>10}{'files hit':>11}")
    results = {}
    for name, fn in [
        ("memory only", plain_read),
        ("python re", python_re),
        ("google-re2", google_re2),
        ("hyperscan", hs),
    ]:
        seconds, hits = time_it(fn, blobs, args.runs)
        results[name] = (seconds, hits)
        print(f"{name:<14}{seconds:>12.3f}{total / max(seconds, 1e-9):>10.0f}{len(hits):>11}")
    base = results["hyperscan"][0]
    for name in ("python re", "google-re2"):
        print(f"hyperscan is {results[name][0] / base:.1f}x {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
