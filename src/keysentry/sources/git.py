"""Git history: every blob reachable from all refs, scanned once, attributed to the commit that added it.

``git log --all --reverse --topo-order --raw`` walks the history oldest first;
each file version (blob) is named by its object ID, so the first time an ID
appears is the commit that introduced that content.  Contents come from one
long-lived ``git cat-file --batch`` process.  Both are read as streams, so
memory grows with the number of distinct blob IDs, not with the size of the
repository.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from keysentry.errors import SourceError
from keysentry.sources.blob import Blob, Provenance, Skipped
from keysentry.sources.files import looks_binary

LOG_FORMAT = "%x01%H%x00%an <%ae>%x00%aI%x00"
REGULAR_FILE_MODES = frozenset({b"100644", b"100755", b"100664"})
NULL_OID = b"0" * 40
CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class CommitInfo:
    sha: str
    author: str
    authored_at: datetime


@dataclass(frozen=True, slots=True)
class FileVersion:
    commit: CommitInfo
    path: str
    oid: str


def is_git_repository(path: Path) -> bool:
    if not path.is_dir():
        return False
    done = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--git-dir"], capture_output=True, check=False
    )
    return done.returncode == 0


def repository_name(repo: Path) -> str:
    """The origin URL if there is one, else the absolute path."""
    done = subprocess.run(
        ["git", "-C", str(repo), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or str(repo.resolve())


def _tokens(stream: IO[bytes]) -> Iterator[bytes]:
    """Split a NUL-separated stream into tokens without holding it all."""
    rest = b""
    while chunk := stream.read(CHUNK):
        rest += chunk
        *complete, rest = rest.split(b"\0")
        yield from complete
    if rest:
        yield rest


def _decode_path(raw: bytes) -> str:
    return raw.decode("utf-8", errors="surrogateescape")


def iter_file_versions(repo: Path) -> Iterator[FileVersion]:
    """Each (commit, path, blob) that adds or changes a regular file, oldest commit first."""
    proc = subprocess.Popen(
        [
            "git",
            "-C",
            str(repo),
            "log",
            "--all",
            "--reverse",
            "--topo-order",
            "--no-renames",
            "--raw",
            "--no-abbrev",
            "-z",
            "--diff-merges=first-parent",
            "--no-textconv",
            "--no-ext-diff",
            f"--format={LOG_FORMAT}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    commit: CommitInfo | None = None
    tokens = _tokens(proc.stdout)
    try:
        for token in tokens:
            if token.startswith(b"\x01"):
                author = next(tokens)
                when = next(tokens)
                commit = CommitInfo(
                    sha=token[1:].decode(),
                    author=author.decode("utf-8", errors="replace"),
                    authored_at=datetime.fromisoformat(when.decode()),
                )
                continue
            meta = token.lstrip(b"\n")
            if not meta.startswith(b":"):
                continue
            path = next(tokens)
            fields = meta[1:].split(b" ")
            if len(fields) < 5 or commit is None:
                continue
            new_mode, new_oid, status = fields[1], fields[3], fields[4][:1]
            if status in (b"A", b"M", b"T") and new_mode in REGULAR_FILE_MODES and new_oid != NULL_OID:
                yield FileVersion(commit, _decode_path(path), new_oid.decode())
    finally:
        proc.stdout.close()
        stderr = proc.stderr.read() if proc.stderr else b""
        code = proc.wait()
        if code not in (0, -13) and commit is None:
            message = stderr.decode(errors="replace").strip()
            raise SourceError(f"{repo}: git log failed: {message}")


class BlobReader:
    """Reads blob contents through one ``git cat-file --batch`` process."""

    def __init__(self, repo: Path) -> None:
        self._proc = subprocess.Popen(
            ["git", "-C", str(repo), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def read(self, oid: str, max_size: int) -> bytes | int | None:
        """The blob's bytes; its size (an int) if larger than ``max_size``; None if missing or broken."""
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(oid.encode() + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline()
        parts = header.split()
        if len(parts) != 3 or parts[1] != b"blob":
            return None
        size = int(parts[2])
        if size > max_size:
            remaining = size + 1
            while remaining:
                remaining -= len(proc.stdout.read(min(CHUNK, remaining)))
            return size
        data = proc.stdout.read(size)
        proc.stdout.read(1)  # the newline after each object
        return data

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._proc.wait()


def iter_history(repo: Path, max_size: int) -> Iterator[Blob | Skipped]:
    """Every distinct file content in the history of ``repo``, once, with the commit that introduced it."""
    if not is_git_repository(repo):
        raise SourceError(f"{repo}: not a git repository")
    name = repository_name(repo)
    seen: set[str] = set()
    reader = BlobReader(repo)
    try:
        for version in iter_file_versions(repo):
            if version.oid in seen:
                continue
            seen.add(version.oid)
            provenance = Provenance(
                kind="git",
                path=version.path,
                repository=name,
                commit=version.commit.sha,
                author=version.commit.author,
                committed_at=version.commit.authored_at,
            )
            content = reader.read(version.oid, max_size)
            if content is None:
                yield Skipped(provenance, f"object {version.oid} is missing or not a blob")
            elif isinstance(content, int):
                yield Skipped(provenance, f"larger than the {max_size:,}-byte limit ({content:,} bytes)")
            elif looks_binary(content):
                yield Skipped(provenance, "binary file")
            else:
                yield Blob(content, provenance)
    finally:
        reader.close()


def uncommitted_paths(repo: Path) -> list[Path]:
    """Files in the work tree that differ from HEAD or are untracked (and not ignored)."""
    done = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "--others", "--modified", "--exclude-standard"],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        return []
    names = sorted({_decode_path(n) for n in done.stdout.split(b"\0") if n})
    return [repo / n for n in names if (repo / n).is_file() or (repo / n).is_symlink()]
