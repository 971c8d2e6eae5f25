"""Build (or reuse) the benchmark corpora and load their ground truth.

Corpora come from ``../shared/bench/make_corpus.py`` and are cached under
``bench/out/`` in a folder named after the parameters that made them, so a rerun
with the same parameters skips the build.  A build goes to ``<name>.building``
first and is renamed only when it finished, so an interrupted build is never
mistaken for a cached corpus.

make_corpus.py records where each planted pair and decoy was *inserted*, in
``str.splitlines()`` line numbers; later insertions into the same file push
earlier ones down, and files with form feeds or lone carriage returns number
lines differently from tools that count ``\\n``.  ``_final_lines`` replays the
insertions to get each decoy's final lines, then converts them to the
``\\n``-counted line numbers that scanners report.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

DEFAULT_SEED = 7


@dataclass(frozen=True)
class CorpusSpec:
    kind: str  # "folder" or "git"
    mb: int
    keys: int
    decoys: int
    seed: int = DEFAULT_SEED

    @property
    def name(self) -> str:
        return f"corpus-{self.kind}-mb{self.mb}-k{self.keys}-d{self.decoys}-s{self.seed}"


@dataclass
class Planted:
    key_id: str
    secret_sha256: str
    secret_sha1: str  # detect-secrets reports sha1 of what it found
    path: str
    in_head: bool
    fmt: str


@dataclass
class Decoy:
    path: str
    lines: tuple[int, ...]  # final, \n-counted line numbers the decoy text occupies
    kind: str
    verified: bool  # the final line really holds decoy-looking text


@dataclass
class Truth:
    """Ground truth.  Secrets stay in ``_secrets`` (memory only) and are never written anywhere."""

    planted: list[Planted]
    decoys: list[Decoy]
    _secrets: dict[str, str] = field(repr=False)  # key_id -> secret

    def secret_of(self, key_id: str) -> str:
        return self._secrets[key_id]

    def secrets(self) -> set[str]:
        return set(self._secrets.values())


@dataclass
class Corpus:
    spec: CorpusSpec
    root: Path  # the folder holding tree/, truth.jsonl, decoys.jsonl, meta.json
    meta: dict

    @property
    def tree(self) -> Path:
        return self.root / "tree"

    @property
    def bytes(self) -> int:
        """What throughput is computed from: all file bytes (folder) or all history blob bytes (git)."""
        return int(self.meta["history_blob_bytes"] if self.spec.kind == "git" else self.meta["file_bytes"])


def load_make_corpus(script: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_corpus", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tree_stats(tree: Path) -> dict:
    files = text = total = 0
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            size = os.path.getsize(path)
            files += 1
            total += size
            with open(path, "rb") as f:
                if b"\0" not in f.read(8192):
                    text += size
    return {"files": files, "file_bytes": total, "text_file_bytes": text}


def history_stats(repo: Path) -> dict:
    out = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objecttype) %(objectsize)",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    blobs = size = commits = 0
    for line in out.splitlines():
        kind, n = line.split()
        if kind == "blob":
            blobs += 1
            size += int(n)
        elif kind == "commit":
            commits += 1
    return {"history_blobs": blobs, "history_blob_bytes": size, "commits": commits}


def ensure_corpus(spec: CorpusSpec, out_dir: Path, make_corpus: Path, log) -> Corpus:
    root = out_dir / spec.name
    meta_path = root / "meta.json"
    if meta_path.exists():
        log(f"corpus {spec.name}: cached")
        return Corpus(spec, root, json.loads(meta_path.read_text()))
    building = out_dir / (spec.name + ".building")
    if building.exists():
        shutil.rmtree(building)
    src = sysconfig.get_paths()["stdlib"]
    cmd = [
        sys.executable,
        str(make_corpus),
        "--out",
        str(building),
        "--mb",
        str(spec.mb),
        "--keys",
        str(spec.keys),
        "--decoys",
        str(spec.decoys),
        "--seed",
        str(spec.seed),
        "--src",
        src,
    ]
    if spec.kind == "git":
        cmd.append("--git")
    log(f"corpus {spec.name}: building ({' '.join(cmd[1:])})")
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    meta = {
        "spec": spec.__dict__,
        "source": src,
        "made_by": str(make_corpus),
        "build_seconds": round(time.perf_counter() - t0, 1),
    }
    meta.update(tree_stats(building / "tree"))
    if spec.kind == "git":
        meta.update(history_stats(building / "tree"))
    building.rename(root)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    log(f"corpus {spec.name}: built in {meta['build_seconds']} s, {meta['file_bytes'] / 1e6:.0f} MB in files")
    return Corpus(spec, root, meta)


def _read_jsonl(path: Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _final_lines(tree: Path, events: list[tuple[str, int, int]]) -> list[list[int]]:
    """Replay insertions (path, 1-based start line, number of lines) in order; return each one's final
    \\n-counted line numbers."""
    positions: list[list[int]] = []
    by_path: dict[str, list[int]] = {}
    for index, (path, start, count) in enumerate(events):
        for other in by_path.get(path, []):
            positions[other] = [n + count if n >= start else n for n in positions[other]]
        positions.append(list(range(start, start + count)))
        by_path.setdefault(path, []).append(index)
    # splitlines() numbering -> \n numbering, per file
    converted: list[list[int]] = [[] for _ in events]
    for path, indices in by_path.items():
        try:
            text = (tree / path).read_bytes().decode("utf-8", errors="surrogateescape")
        except OSError:
            for i in indices:
                converted[i] = positions[i]
            continue
        starts = [0]
        for piece in text.splitlines(keepends=True):
            starts.append(starts[-1] + piece.count("\n"))
        for i in indices:
            converted[i] = [starts[n - 1] + 1 if 0 < n <= len(starts) else n for n in positions[i]]
    return converted


DECOY_MARKERS = {
    "example": "EXAMPLE",
    "bad_charset": "AKIA",
    "short": "AKIA",
    "embedded": "AKIA",
    "lowercase": "akia",
    "hash_only": "sha1 = ",
}


def load_truth(corpus: Corpus, make_corpus: Path) -> Truth:
    module = load_make_corpus(make_corpus)
    rows = _read_jsonl(corpus.root / "truth.jsonl")
    decoy_rows = _read_jsonl(corpus.root / "decoys.jsonl")
    template_lines = {fmt: text.count("\n") for fmt, text in module.TEMPLATES.items()}
    events = [(r["path"], r["line"], template_lines[r["format"]]) for r in rows]
    events += [(d["path"], d["line"], 2 if d["kind"] == "example" else 1) for d in decoy_rows]
    final = _final_lines(corpus.tree, events)
    planted, secrets = [], {}
    for r in rows:
        secret = r["secret"]
        secrets[r["key_id"]] = secret
        planted.append(
            Planted(
                key_id=r["key_id"],
                secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
                secret_sha1=hashlib.sha1(secret.encode()).hexdigest(),  # noqa: S324 - detect-secrets' hash
                path=r["path"],
                in_head=r.get("in_head", True),
                fmt=r["format"],
            )
        )
    decoys = []
    file_cache: dict[str, list[str]] = {}
    for d, lines in zip(decoy_rows, final[len(rows) :], strict=True):
        if d["path"] not in file_cache:
            file_cache[d["path"]] = (
                (corpus.tree / d["path"]).read_text(encoding="utf-8", errors="surrogateescape").split("\n")
            )
        text_lines = file_cache[d["path"]]
        first = text_lines[lines[0] - 1] if 0 < lines[0] <= len(text_lines) else ""
        decoys.append(Decoy(d["path"], tuple(lines), d["kind"], DECOY_MARKERS[d["kind"]] in first))
    return Truth(planted, decoys, secrets)
