"""Files kept between runs in keysentry's cache folder, each checked before it is used.

A file's name is a digest of everything that decides its content, so a change never loads a stale
file; its content starts with a SHA-256 of the rest, so a truncated or damaged file is ignored (and
made again), never used.  Where the folder cannot be written (a read-only home, a sandbox) nothing is
kept and the work is simply done each time.  ``KEYSENTRY_CACHE_DIR`` chooses the folder (default
``$XDG_CACHE_HOME/keysentry`` or ``~/.cache/keysentry``); ``KEYSENTRY_CACHE_DIR=off`` turns it off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

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


def read(name: str) -> bytes | None:
    """The payload kept as ``name``, or None (no cache, no such file, damaged)."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        data = (folder / name).read_bytes()
    except OSError:
        return None
    payload = data[DIGEST:]
    if len(data) <= DIGEST or hashlib.sha256(payload).digest() != data[:DIGEST]:
        log.debug("ignoring a damaged cache file %s", folder / name)
        return None
    return payload


def write(name: str, payload: bytes) -> None:
    """Keep ``payload`` as ``name`` (atomically); a folder that cannot be written keeps nothing."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".keep-", delete=False) as f:
            f.write(hashlib.sha256(payload).digest() + payload)
        os.replace(f.name, folder / name)
    except OSError as exc:
        log.debug("cannot keep %s in %s: %s", name, folder, exc)
