"""Files and folders on disk.

Symlinks are never followed (a link can point anywhere, including outside the
folder the user asked for), binary and oversized files are skipped with a
stated reason, and an unreadable file is reported rather than fatal.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from keysentry.content import Blob, Provenance, Skipped, looks_utf16
from keysentry.errors import SourceError
from keysentry.sources.patch import looks_like_patch, split_patch

DEFAULT_MAX_FILE_SIZE = 64 * 1024 * 1024
BINARY_SNIFF_BYTES = 8192
SMALL_FILE = 64 * 1024  # read in one call; larger files are sniffed first
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn"})


ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def is_archive_head(head: bytes) -> bool:
    """Could this be an archive (zip, gzip, bzip2, xz, tar)?  Cheap, for deciding whether to read on."""
    return head.startswith(ARCHIVE_MAGIC) or head[257:262] == b"ustar"


def looks_binary(head: bytes) -> bool:
    """NUL bytes in the first block mean binary, unless the text is UTF-16 (the engine decodes that)."""
    head = head[:BINARY_SNIFF_BYTES]
    return b"\0" in head and looks_utf16(head) is None


@dataclass(frozen=True, slots=True)
class FileRef:
    """A file found by a walk, to be read later (possibly in another process)."""

    path: str
    display: str
    size: int


def walk(root: Path, max_size: int = DEFAULT_MAX_FILE_SIZE) -> Iterator[FileRef | Skipped]:
    """Every regular file under ``root`` (or ``root`` itself), in a stable order, without reading it.

    ``os.scandir`` gives each entry's type and size from the directory read itself,
    so a walk of a large tree costs about one system call per folder."""
    if root.is_symlink():
        yield Skipped(Provenance(kind="file", path=str(root)), "symbolic link (not followed)")
        return
    if root.is_file():
        yield FileRef(os.path.abspath(root), str(root), root.stat().st_size)
        return
    if not root.is_dir():
        raise SourceError(f"{root}: no such file or folder")
    base = os.path.abspath(root)
    cut = len(base) + 1
    stack = [base]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Skipped(
                Provenance(kind="file", path=folder[cut:] or "."),
                f"cannot list: {exc.strerror}",
                damaged=True,
            )
            continue
        subfolders = []
        for entry in entries:
            display = entry.path[cut:]
            try:
                if entry.is_symlink():
                    yield Skipped(Provenance(kind="file", path=display), "symbolic link (not followed)")
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIPPED_DIRS:
                        subfolders.append(entry.path)
                elif not entry.is_file(follow_symlinks=False):
                    yield Skipped(Provenance(kind="file", path=display), "not a regular file")
                else:
                    size = entry.stat(follow_symlinks=False).st_size
                    if size > max_size:
                        yield Skipped(
                            Provenance(kind="file", path=display),
                            f"larger than the {max_size:,}-byte limit ({size:,} bytes)",
                        )
                    else:
                        yield FileRef(entry.path, display, size)
            except OSError as exc:
                yield Skipped(
                    Provenance(kind="file", path=display), f"cannot stat: {exc.strerror}", damaged=True
                )
        stack.extend(reversed(subfolders))


def _read_upto(fd: int, size: int) -> bytes:
    """Up to ``size`` bytes (fewer only at end of file), with plain read(2) calls: no buffering layer."""
    data = os.read(fd, size)
    if len(data) in (0, size):
        return data
    parts = [data]
    got = len(data)
    while got < size and (chunk := os.read(fd, size - got)):
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def read_ref(ref: FileRef, max_size: int) -> Blob | Skipped:
    return read_file(ref.path, ref.display, max_size, check_binary=False)


@functools.lru_cache(maxsize=4096)
def _quoted_folder(folder: str) -> str:
    return quote(folder)


def file_url(full: str) -> str:
    """``file://`` URL of an absolute path; a folder is quoted once, not once per file in it."""
    folder, _, name = full.rpartition("/")
    return "file://" + _quoted_folder(folder) + "/" + quote(name)


def read_file(path: Path | str, display: str, max_size: int, check_binary: bool = True) -> Blob | Skipped:
    """Read one file without following a symbolic link, within the size limit."""
    full = path if isinstance(path, str) and path.startswith("/") else os.path.abspath(path)
    provenance = Provenance(kind="file", path=display, url=file_url(full))
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Skipped(provenance, "symbolic link (not followed)")
        return Skipped(provenance, f"cannot read: {exc.strerror}", damaged=True)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return Skipped(provenance, "not a regular file")
        if info.st_size > max_size:
            return Skipped(provenance, f"larger than the {max_size:,}-byte limit ({info.st_size:,} bytes)")
        # Ask for what fstat says (plus one byte to notice growth), never for max_size at once.  A large
        # file's head is sniffed first, so that a binary file that is not an archive is skipped unread.
        wanted = min(info.st_size, max_size) + 1
        if info.st_size <= SMALL_FILE:
            data = _read_upto(fd, wanted)
        else:
            data = _read_upto(fd, BINARY_SNIFF_BYTES)
            if not check_binary and looks_binary(data) and not is_archive_head(data):
                return Skipped(provenance, "binary file")
            if len(data) == BINARY_SNIFF_BYTES:
                data += _read_upto(fd, wanted - len(data))
    except OSError as exc:
        return Skipped(provenance, f"cannot read: {exc.strerror}", damaged=True)
    finally:
        os.close(fd)
    if len(data) > max_size:
        return Skipped(provenance, f"grew past the {max_size:,}-byte limit while being read")
    if check_binary and looks_binary(data):
        return Skipped(provenance, "binary file")
    return Blob(data, provenance)


def iter_path(root: Path, max_size: int = DEFAULT_MAX_FILE_SIZE) -> Iterator[Blob | Skipped]:
    """Every file under ``root`` (or ``root`` itself), read, binary files skipped."""
    for item in walk(root, max_size):
        yield item if isinstance(item, Skipped) else read_file(Path(item.path), item.display, max_size)


def read_stdin(max_size: int = DEFAULT_MAX_FILE_SIZE) -> Iterator[Blob | Skipped]:
    """Standard input: a patch (``git diff``, ``git show``) as its files at their line numbers
    (:mod:`keysentry.sources.patch`), anything else as one blob."""
    provenance = Provenance(kind="stdin", path="-")
    data = sys.stdin.buffer.read(max_size + 1)
    if len(data) > max_size:
        yield Skipped(provenance, f"standard input is larger than the {max_size:,}-byte limit")
        return
    if looks_like_patch(data):
        yield from split_patch(data, provenance)
        return
    yield Blob(data, provenance)
