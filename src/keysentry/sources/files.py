"""Files and folders on disk.

Symlinks are never followed (a link can point anywhere, including outside the
folder the user asked for), binary and oversized files are skipped with a
stated reason, and an unreadable file is reported rather than fatal.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from keysentry.errors import SourceError
from keysentry.sources.blob import Blob, Provenance, Skipped

DEFAULT_MAX_FILE_SIZE = 64 * 1024 * 1024
BINARY_SNIFF_BYTES = 8192
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn"})


def looks_binary(head: bytes) -> bool:
    """NUL bytes in the first block mean binary (UTF-16 text is a later issue's decoder)."""
    return b"\0" in head[:BINARY_SNIFF_BYTES]


def read_file(path: Path, display: str, max_size: int) -> Blob | Skipped:
    provenance = Provenance(kind="file", path=display, url=path.absolute().as_uri())
    try:
        info = path.lstat()
    except OSError as exc:
        return Skipped(provenance, f"cannot stat: {exc.strerror}")
    if stat.S_ISLNK(info.st_mode):
        return Skipped(provenance, "symbolic link (not followed)")
    if not stat.S_ISREG(info.st_mode):
        return Skipped(provenance, "not a regular file")
    if info.st_size > max_size:
        return Skipped(provenance, f"larger than the {max_size:,}-byte limit ({info.st_size:,} bytes)")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(max_size + 1)
    except OSError as exc:
        return Skipped(provenance, f"cannot read: {exc.strerror}")
    if len(data) > max_size:
        return Skipped(provenance, f"grew past the {max_size:,}-byte limit while being read")
    if looks_binary(data):
        return Skipped(provenance, "binary file")
    return Blob(data, provenance)


def iter_path(root: Path, max_size: int = DEFAULT_MAX_FILE_SIZE) -> Iterator[Blob | Skipped]:
    """Yield every file under ``root`` (or ``root`` itself if it is a file), in a stable order."""
    if root.is_symlink():
        yield Skipped(Provenance(kind="file", path=str(root)), "symbolic link (not followed)")
        return
    if root.is_file():
        yield read_file(root, str(root), max_size)
        return
    if not root.is_dir():
        raise SourceError(f"{root}: no such file or folder")
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        base = Path(dirpath)
        for name in sorted(filenames):
            path = base / name
            yield read_file(path, str(path.relative_to(root)), max_size)


def iter_paths(paths: list[Path], max_size: int = DEFAULT_MAX_FILE_SIZE) -> Iterator[Blob | Skipped]:
    for root in paths:
        yield from iter_path(root, max_size)


def read_stdin(max_size: int = DEFAULT_MAX_FILE_SIZE) -> Blob | Skipped:
    provenance = Provenance(kind="stdin", path="-")
    data = sys.stdin.buffer.read(max_size + 1)
    if len(data) > max_size:
        return Skipped(provenance, f"standard input is larger than the {max_size:,}-byte limit")
    return Blob(data, provenance)
