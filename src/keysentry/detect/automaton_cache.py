"""The compiled automaton, kept on disk between runs: compiling 200+ rules into one Hyperscan database
takes a quarter of a second per process, loading it back takes a millisecond.

The file's name is a digest of everything that decides the database (the Hyperscan version, the
machine, every expression with its id and flags), so a changed rule never loads a stale database; its
content starts with a SHA-256 of the rest, so a truncated or damaged file is recompiled, never loaded.
Where the folder cannot be written (a read-only home, a sandbox) the database is simply compiled each
time.  ``KEYSENTRY_CACHE_DIR`` chooses the folder (default ``$XDG_CACHE_HOME/keysentry`` or
``~/.cache/keysentry``); ``KEYSENTRY_CACHE_DIR=off`` turns the cache off."""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import hyperscan

log = logging.getLogger(__name__)
DIGEST = 32


def cache_dir() -> Path | None:
    chosen = os.environ.get("KEYSENTRY_CACHE_DIR")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "keysentry"


def _key(expressions: Sequence[bytes], flags: Sequence[int], mode: int) -> str:
    h = hashlib.sha256()
    h.update(f"{getattr(hyperscan, '__version__', '?')}\0{platform.machine()}\0{mode}\0".encode())
    for n, (expression, flag) in enumerate(zip(expressions, flags, strict=True)):
        h.update(f"{n}\0{flag}\0".encode() + expression + b"\0")
    return h.hexdigest()[:40]


def database(
    expressions: Sequence[bytes], flags: Sequence[int], compile_: Callable[[], hyperscan.Database]
) -> hyperscan.Database:
    """The block-mode database of these expressions (ids 0…n-1): from the cache, else ``compile_()``
    (whose errors propagate), then kept for the next run."""
    folder = cache_dir()
    path = folder / f"automaton-{_key(expressions, flags, hyperscan.HS_MODE_BLOCK)}.hsdb" if folder else None
    if path is not None:
        loaded = _load(path)
        if loaded is not None:
            return loaded
    db = compile_()
    if path is not None:
        _store(path, hyperscan.dumpb(db))
    return db


def _load(path: Path) -> hyperscan.Database | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    payload = data[DIGEST:]
    if len(data) <= DIGEST or hashlib.sha256(payload).digest() != data[:DIGEST]:
        log.debug("ignoring a damaged automaton cache %s", path)
        return None
    try:
        return hyperscan.loadb(payload, hyperscan.HS_MODE_BLOCK)
    except (hyperscan.error, TypeError, ValueError) as exc:  # another CPU or build: compile instead
        log.debug("cannot load the automaton cache %s: %s", path, exc)
        return None


def _store(path: Path, payload: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".automaton-", delete=False) as f:
            f.write(hashlib.sha256(payload).digest() + payload)
        os.replace(f.name, path)
    except OSError as exc:
        log.debug("cannot keep the automaton in %s: %s", path.parent, exc)
