"""The compiled automaton, kept on disk between runs: compiling 200+ rules into one Hyperscan database
takes a quarter of a second per process, loading it back takes a millisecond.

The file's name is a digest of everything that decides the database (the Hyperscan version, the
machine, every expression with its id and flags), so a changed rule never loads a stale database (see
:mod:`keysentry.detect.disk_cache` for where it is kept, and how a damaged file is never loaded)."""

from __future__ import annotations

import hashlib
import logging
import platform
from collections.abc import Callable, Sequence

import hyperscan

from keysentry.detect import disk_cache

log = logging.getLogger(__name__)


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
    name = f"automaton-{_key(expressions, flags, hyperscan.HS_MODE_BLOCK)}.hsdb"
    payload = disk_cache.read(name)
    if payload is not None:
        try:
            return hyperscan.loadb(payload, hyperscan.HS_MODE_BLOCK)
        except (hyperscan.error, TypeError, ValueError) as exc:  # another CPU or build: compile instead
            log.debug("cannot load the automaton cache %s: %s", name, exc)
    db = compile_()
    disk_cache.write(name, hyperscan.dumpb(db))
    return db
