"""Git history: every blob reachable from all refs, scanned once, attributed to the commit that added it.

Reading is two streams.  ``git rev-list --objects --all`` names every
reachable object once (git itself deduplicates by object ID) and
``git cat-file`` delivers blob contents in pack order, so memory does not grow
with the size of the history.  Only for the few blobs that hold a finding does
a second pass, ``git log --all --reverse --raw``, find the oldest commit that
introduced that content (with its path, author and date); it stops as soon as
every such blob is placed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO

from keysentry.content import Blob, Provenance, ScannedRepository, Skipped
from keysentry.errors import SourceError
from keysentry.sources.git_command import popen_git, run_git

LOG_FORMAT = "%x01%H%x00%an <%ae>%x00%aI%x00"
REGULAR_FILE_MODES = frozenset({b"100644", b"100755", b"100664"})
NULL_OID = b"0" * 40
CHUNK = 1 << 16
REMOTE_PREFIXES = ("https://", "http://", "git://", "ssh://", "file://", "git@")


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


def _git(repo: Path | None, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run one git command to completion (see ``git_command``); the caller checks the code."""
    return run_git(*args, repo=repo)


def is_git_repository(path: Path) -> bool:
    if not path.is_dir():
        return False
    return _git(path, "rev-parse", "--git-dir").returncode == 0


def has_work_tree(path: Path) -> bool:
    """Whether ``path`` is a work tree's top (not a bare repository, nor a ``.git`` folder itself)."""
    done = _git(path, "rev-parse", "--is-inside-work-tree")
    return done.returncode == 0 and done.stdout.strip() == b"true"


def is_bare_repository(path: Path) -> bool:
    """A bare repository (a mirror, ``repo.git``): its history is scanned like a work tree's."""
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def is_remote(target: str) -> bool:
    return target.startswith(REMOTE_PREFIXES)


_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@]*)@")
_SCP_LIKE = re.compile(r"^(?P<user>[^/@:]+@)?(?P<host>[^/:]+):(?P<path>(?!//).+)$")


def without_credentials(url: str) -> str:
    """``url`` without a password or token in it: ``https://x-access-token:ghp_…@github.com/a/b`` →
    ``https://github.com/a/b``.  An ssh user name (``ssh://git@host``) is kept; it is not a secret."""
    match = _USERINFO.match(url)
    if match is None:
        return url
    scheme, userinfo = match.group("scheme"), match.group("userinfo")
    if scheme.lower().startswith("ssh") and ":" not in userinfo:
        return url
    return scheme + url[match.end() :]


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")


def without_credentials_in(text: str) -> str:
    """``text`` (a git error, say) with every URL in it passed through :func:`without_credentials`."""
    return _URL_IN_TEXT.sub(lambda m: without_credentials(m.group(0)), text)


MIRROR_SOURCE = "keysentry.source"  # set in a mirror keysentry made: the URL (or path) it mirrors


def mark_mirror(mirror_dir: Path, source: str) -> None:
    """Record in a mirror what it mirrors (credentials removed): its repository's name in reports."""
    _git(mirror_dir, "config", MIRROR_SOURCE, without_credentials(source))


def _names(repo: Path) -> tuple[str | None, str | None]:
    """(what a keysentry mirror mirrors, the origin URL), credentials removed, from one git call."""
    done = _git(repo, "config", "--get-regexp", r"^(keysentry\.source|remote\.origin\.url)$")
    found = dict(
        line.split(" ", 1) for line in done.stdout.decode(errors="replace").splitlines() if " " in line
    )
    source, origin = found.get(MIRROR_SOURCE), found.get("remote.origin.url")
    return source, without_credentials(origin.strip()) if origin else None


def repository_name(repo: Path) -> str:
    """The repository as the user named it: the URL a mirror of ours was cloned from, else the folder
    scanned (absolute).  A local clone's origin is :func:`repository_origin`, apart."""
    source, _ = _names(repo)
    return source or str(repo.resolve())


def repository_origin(repo: Path) -> str | None:
    """A local repository's origin URL (credentials removed); None for a mirror of ours (its name is
    already the URL) and for a repository without one."""
    source, origin = _names(repo)
    return None if source else origin


def repository_uri(name: str) -> str:
    """A repository's name as an absolute URI: URLs as they are, ``git@host:path`` as ``ssh://``, and
    paths as ``file:`` URIs."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", name):
        return name
    scp = _SCP_LIKE.match(name)
    if scp and not Path(name).exists():
        return f"ssh://{scp.group('user') or ''}{scp.group('host')}/{scp.group('path').lstrip('/')}"
    return Path(name).resolve().as_uri()


def scanned_repository(repo: Path, local: bool = True) -> ScannedRepository:
    """What a report says of a repository whose history was read: where it is, HEAD's commit, branch,
    and (``local``: not a temporary mirror) the folder its paths are relative to."""
    head = _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", "--")
    branch = _git(repo, "symbolic-ref", "--quiet", "--short", "HEAD")
    name, origin = repository_name(repo), repository_origin(repo)
    return ScannedRepository(
        name=name,
        uri=repository_uri(origin or name),
        origin=origin,
        revision=head.stdout.decode().strip() or None if head.returncode == 0 else None,
        branch=branch.stdout.decode(errors="replace").strip() or None if branch.returncode == 0 else None,
        root=repo.resolve().as_uri().rstrip("/") + "/" if local else None,
    )


def objects_size(repo: Path) -> int:
    """Bytes the repository's objects take on disk, packed and loose (what ``git count-objects -v``
    adds up, read from the object folder without running git)."""
    dot_git = repo / ".git"
    objects = (dot_git if dot_git.is_dir() else repo) / "objects"
    if not objects.is_dir():  # a .git file (a linked work tree, a submodule): ask git
        lines = _git(repo, "count-objects", "-v").stdout.decode().splitlines()
        fields = dict(line.split(": ", 1) for line in lines if ": " in line)
        return (int(fields.get("size-pack", 0)) + int(fields.get("size", 0))) * 1024
    total = 0
    for folder in objects.iterdir():
        if folder.name == "info" or not folder.is_dir() or folder.is_symlink():
            continue
        total += sum(f.stat().st_size for f in folder.iterdir() if f.is_file() and not f.is_symlink())
    return total


def blobs_at(repo: Path, revision: str, paths: set[str]) -> dict[str, str]:
    """The blob each of ``paths`` has in the tree of commit ``revision`` (those it has at all)."""
    found: dict[str, str] = {}
    ordered = sorted(paths)
    for start in range(0, len(ordered), 500):  # keep each command line short
        chunk = ordered[start : start + 500]
        done = _git(repo, "ls-tree", "-r", "-z", revision, "--", *chunk)
        for entry in done.stdout.split(b"\0"):
            meta, _, path = entry.partition(b"\t")
            fields = meta.split()
            if len(fields) == 3 and fields[1] == b"blob":
                found[_decode_path(path)] = fields[2].decode()
    return found


def removal_commit(repo: Path, since: str, head: str, path: str, blobs: set[str]) -> str | None:
    """The first commit after ``since`` on the way to ``head`` whose version of ``path`` is none of
    ``blobs`` (the file's versions that hold the secret): where the secret left the file.  None when
    ``since`` is not an ancestor of ``head`` (the secret is on another branch or ref) or nothing
    removed it."""
    listed = _git(repo, "log", "--format=%H", "--reverse", "--ancestry-path", f"{since}..{head}", "--", path)
    if listed.returncode != 0:
        return None
    for commit in listed.stdout.decode().split():
        if blobs_at(repo, commit, {path}).get(path) not in blobs:
            return commit
    return None


@contextmanager
def mirror(url: str) -> Iterator[Path]:
    """A bare mirror of a remote repository in a temporary folder, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="keysentry-mirror-"))
    try:
        done = _git(None, "clone", "--mirror", "--quiet", "--", url, str(folder / "repo.git"))
        if done.returncode != 0:
            message = without_credentials_in(done.stderr.decode(errors="replace").strip())
            raise SourceError(f"cannot clone {without_credentials(url)}: {message or 'git clone failed'}")
        mark_mirror(folder / "repo.git", url)
        yield folder / "repo.git"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
    proc = popen_git(
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
        "--",
        repo=repo,
    )
    assert proc.stdout is not None
    commit: CommitInfo | None = None
    tokens = _tokens(proc.stdout)
    try:
        for token in tokens:
            if token.startswith(b"\x01"):
                author, when = next(tokens), next(tokens)
                commit = CommitInfo(
                    token[1:].decode(),
                    author.decode("utf-8", errors="replace"),
                    datetime.fromisoformat(when.decode()),
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
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def introducing_commits(repo: Path, oids: set[str]) -> dict[str, FileVersion]:
    """For each blob ID, the oldest commit (and path) that added that content; stops once all are found."""
    found: dict[str, FileVersion] = {}
    if not oids:
        return found
    for version in iter_file_versions(repo):
        if version.oid in oids and version.oid not in found:
            found[version.oid] = version
            if len(found) == len(oids):
                break
    return found


def _read_object(stream: IO[bytes], max_size: int) -> bytes | int | None:
    header = stream.readline()
    parts = header.split()
    if len(parts) != 3 or parts[1] != b"blob":
        return None
    size = int(parts[2])
    if size > max_size:
        remaining = size + 1
        while remaining:
            got = len(stream.read(min(CHUNK, remaining)))
            if not got:
                break
            remaining -= got
        return size
    data = stream.read(size)
    stream.read(1)  # the newline after each object
    return data


@dataclass(frozen=True, slots=True)
class GitBlobRef:
    """A blob to be read later, possibly by another process: its repository, ID, size and a path."""

    repo: str
    provenance: Provenance
    size: int


def in_shard(oid: str, shard: tuple[int, int]) -> bool:
    """Whether the object ``oid`` belongs to part ``shard[0]`` of ``shard[1]`` (by its ID, which is
    uniformly spread: the parts are near equal in count, disjoint, and cover every object)."""
    index, count = shard
    return count == 1 or int(oid[:8], 16) % count == index


def iter_blob_refs(
    repo: Path, max_size: int, revisions: tuple[str, ...] = ("--all",), shard: tuple[int, int] = (0, 1)
) -> Iterator[GitBlobRef | Skipped]:
    """Every distinct blob reachable from any ref (or from ``revisions``, e.g. new tips ``--not`` the old
    ones), once, without reading its content; with ``shard`` (part, parts), only the blobs of that part,
    so that several workers can share a large history (every part walks the commits and trees; the
    blobs, which are the cost, are read by one part each; the first part reports a walk that failed).

    ``rev-list --objects --all`` piped into ``cat-file --batch-check`` gives each object's type and
    size; blobs too large, missing or corrupt become ``Skipped`` here, and a history walk that git
    could not finish (a broken commit or tree) is reported as such."""
    if not is_git_repository(repo):
        raise SourceError(f"{repo}: not a git repository")
    name, origin = repository_name(repo), repository_origin(repo)
    where = str(repo.resolve())
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below, after the walk
    # --missing=print: an object that is not there is listed ("?<oid>") and the walk goes on past it.
    listing = popen_git(
        "rev-list", "--objects", "--missing=print", *revisions, "--", repo=repo, stderr=errors
    )
    check = popen_git(
        "cat-file",
        "--batch-check=%(objecttype) %(objectname) %(objectsize) %(rest)",
        repo=repo,
        stdin=listing.stdout,
    )
    assert listing.stdout is not None and check.stdout is not None
    listing.stdout.close()  # the checker owns it now
    try:
        for line in check.stdout:
            kind, _, rest = line.rstrip(b"\n").partition(b" ")
            if rest == b"missing":  # "<oid> missing": absent or corrupt; say so, keep going
                oid_text = kind.decode().lstrip("?")
                if not in_shard(oid_text, shard):
                    continue
                yield Skipped(
                    Provenance(kind="git", repository=name, origin=origin, blob=oid_text),
                    f"object {oid_text} is missing or corrupt",
                    damaged=True,
                )
                continue
            if kind != b"blob":
                continue
            oid, _, rest = rest.partition(b" ")
            if not in_shard(oid.decode(), shard):
                continue
            size_text, _, path = rest.partition(b" ")
            size = int(size_text)
            provenance = Provenance(
                kind="git", path=_decode_path(path) or None, repository=name, origin=origin, blob=oid.decode()
            )
            if size > max_size:
                yield Skipped(provenance, f"larger than the {max_size:,}-byte limit ({size:,} bytes)")
            else:
                yield GitBlobRef(where, provenance, size)
        if listing.wait() != 0 and shard[0] == 0:
            errors.seek(0)
            message = errors.read().decode(errors="replace").strip().splitlines()
            reason = f"history walk stopped early: {message[-1] if message else 'git rev-list failed'}"
            yield Skipped(Provenance(kind="git", repository=name), reason, damaged=True)
    finally:
        errors.close()
        for proc in (check, listing):
            if proc.poll() is None:
                proc.kill()
            if proc.stdout:
                proc.stdout.close()
            proc.wait()


class BlobReader:
    """Reads blob contents through one long-lived ``git cat-file --batch`` process."""

    def __init__(self, repo: str | Path) -> None:
        self._proc = popen_git("cat-file", "--batch", repo=repo, stdin=subprocess.PIPE)

    def read(self, oid: str, max_size: int) -> bytes | int | None:
        """The blob's bytes; its size (an int) if larger than ``max_size``; None if missing or broken."""
        [result] = self.read_many([oid], max_size)
        return result

    def read_many(self, oids: list[str], max_size: int) -> list[bytes | int | None]:
        """Several blobs in one round trip.  Keep ``oids`` to a few hundred: the requests must fit in the
        pipe's buffer while git is still busy writing the answers."""
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"".join(oid.encode() + b"\n" for oid in oids))
        proc.stdin.flush()
        return [_read_object(proc.stdout, max_size) for _ in oids]

    def close(self) -> None:
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream:
                stream.close()
        self._proc.wait()


def read_blobs(reader: BlobReader, refs: list[GitBlobRef], max_size: int) -> Iterator[Blob | Skipped]:
    """The contents of ``refs``, in order, read in round trips of at most 256 blobs."""
    for start in range(0, len(refs), 256):
        chunk = refs[start : start + 256]
        for ref, content in zip(
            chunk, reader.read_many([r.provenance.blob or "" for r in chunk], max_size), strict=True
        ):
            if content is None or isinstance(content, int):
                yield Skipped(
                    ref.provenance, f"object {ref.provenance.blob} is missing or unreadable", damaged=True
                )
            else:
                yield Blob(content, ref.provenance)


def iter_history(repo: Path, max_size: int) -> Iterator[Blob | Skipped]:
    """Every distinct blob reachable from any ref, once, with its content (one process; see
    :func:`iter_blob_refs` for reading in workers).  The introducing commit is resolved later, only
    for blobs with findings (:func:`introducing_commits`)."""
    reader = BlobReader(repo)
    pending: list[GitBlobRef] = []
    try:
        for item in iter_blob_refs(repo, max_size):
            if isinstance(item, Skipped):
                yield item
                continue
            pending.append(item)
            if len(pending) >= 256:
                yield from read_blobs(reader, pending, max_size)
                pending = []
        yield from read_blobs(reader, pending, max_size)
    finally:
        reader.close()


def attribute(provenance: Provenance, version: FileVersion | None) -> Provenance:
    """A git blob's provenance with the commit that introduced it."""
    if version is None:
        return provenance
    return replace(
        provenance,
        kind="git",
        path=version.path,
        commit=version.commit.sha,
        author=version.commit.author,
        committed_at=version.commit.authored_at,
    )


def uncommitted_paths(repo: Path) -> list[Path]:
    """Files in the work tree that differ from HEAD or are untracked (and not ignored)."""
    if not has_work_tree(repo):  # a bare repository or a .git folder: no work tree to compare
        return []
    done = _git(repo, "ls-files", "-z", "--others", "--modified", "--exclude-standard", "--")
    if done.returncode != 0:
        return []
    names = sorted({_decode_path(n) for n in done.stdout.split(b"\0") if n})
    return [repo / n for n in names if (repo / n).is_file() or (repo / n).is_symlink()]


def iter_staged(repo: Path, max_size: int) -> Iterator[Blob | Skipped]:
    """What ``git commit`` would record now: the staged content of every added or changed file."""
    changed = _git(
        repo,
        "diff",
        "--cached",
        "--name-only",
        "-z",
        "--diff-filter=ACMRT",
        "--no-ext-diff",
        "--no-textconv",
        "--",
    )
    if changed.returncode != 0:
        raise SourceError(
            f"{repo}: cannot list staged changes: {changed.stderr.decode(errors='replace').strip()}"
        )
    names = {n for n in changed.stdout.split(b"\0") if n}
    if not names:
        return
    index = _git(repo, "ls-files", "--stage", "-z", "--")
    reader = BlobReader(repo)
    try:
        for entry in index.stdout.split(b"\0"):
            meta, _, path = entry.partition(b"\t")
            if path not in names:
                continue
            mode, oid, _stage = meta.split(b" ")
            provenance = Provenance(
                kind="staged", path=_decode_path(path), repository=repository_name(repo), blob=oid.decode()
            )
            if mode not in REGULAR_FILE_MODES:
                yield Skipped(provenance, "not a regular file (symbolic link or submodule)")
                continue
            content = reader.read(oid.decode(), max_size)
            if content is None:
                yield Skipped(provenance, "staged object is missing", damaged=True)
            elif isinstance(content, int):
                yield Skipped(provenance, f"larger than the {max_size:,}-byte limit ({content:,} bytes)")
            else:
                yield Blob(content, provenance)
    finally:
        reader.close()
