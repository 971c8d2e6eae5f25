"""The scan pipeline: sources → work items → (worker processes) → one report.

Files are walked in the main process and read by the workers, so only small
references cross process boundaries; git and standard-input content travels
as bytes in bounded batches.  Each worker expands archives (with bomb limits),
skips binary content with a stated reason, and runs the engine.  At most
``2 * jobs`` batches are in flight, so memory stays bounded whatever the size
of the input.  Git blobs with findings are then placed at the commit that
introduced them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from keysentry.content import Blob, Provenance, Skipped
from keysentry.detect.findings import Finding, Held, Location, Match, Verifier
from keysentry.detect.scanner import FindingFolder, ScanReport, engine_for
from keysentry.errors import SourceError
from keysentry.sources.archives import ArchiveLimits, archive_kind, expand
from keysentry.sources.files import DEFAULT_MAX_FILE_SIZE, FileRef, looks_binary, read_ref, read_stdin, walk
from keysentry.sources.git import (
    BlobReader,
    GitBlobRef,
    attribute,
    blobs_at,
    introducing_commits,
    is_bare_repository,
    is_git_repository,
    is_remote,
    iter_blob_refs,
    iter_staged,
    mirror,
    read_blobs,
    removal_commit,
    repository_name,
    scanned_repository,
    uncommitted_paths,
)

BATCH_BYTES = 8 * 1024 * 1024
BATCH_ITEMS = 256
AUTO_JOBS_BYTES = 32 * 1024 * 1024  # below this, worker start-up costs more than it saves


@dataclass(frozen=True)
class ScanOptions:
    history: bool = True  # a git repository's whole history, not only its files
    staged: bool = False  # only what is staged in the git repository (pre-commit)
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    jobs: int = 1  # 0: one per CPU for large inputs, one for small ones
    archives: ArchiveLimits = field(default_factory=ArchiveLimits)
    # Asks AWS whether each key pair still works: made by the composition root (picklable, made once per
    # worker process), so that the pipeline itself never talks to AWS.
    live_check: Callable[[], Verifier] | None = None
    git_revisions: tuple[str, ...] = ("--all",)  # what of a repository's history: new tips --not old ones
    # Which part of a repository's history (part, parts): the blobs are shared out by object ID, so that
    # a large history is scanned by several workers; files outside the history belong to the first part.
    shard: tuple[int, int] = (0, 1)


Item = FileRef | GitBlobRef | Blob | Skipped


@dataclass
class BatchResult:
    found: list[tuple[Provenance, list[Match]]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    blobs: int = 0
    bytes: int = 0
    held: list[Held] = field(default_factory=list, repr=False)  # see ScanReport.held


# --- in the worker -------------------------------------------------------------------------
def _scan_blob(blob: Blob, options: ScanOptions, result: BatchResult, verify: Verifier | None) -> None:
    if archive_kind(blob.data) is not None:
        for member in expand(blob, options.archives):
            if isinstance(member, Skipped):
                result.skipped.append(member)
            else:
                _scan_plain(member, result, verify)
        return
    _scan_plain(blob, result, verify)


def _scan_plain(blob: Blob, result: BatchResult, verify: Verifier | None) -> None:
    if looks_binary(blob.data):
        result.skipped.append(Skipped(blob.provenance, "binary file"))
        return
    result.blobs += 1
    result.bytes += len(blob.data)
    matches = engine_for().scan(blob.data, verify=verify, hold=result.held.append)
    if matches:
        result.found.append((blob.provenance, matches))


# One ``git cat-file --batch`` per repository in each process: workers read git content themselves,
# so the main process only lists objects and git decompression runs in parallel.
_READERS: dict[str, BlobReader] = {}


def _reader(repo: str) -> BlobReader:
    reader = _READERS.get(repo)
    if reader is None:
        reader = _READERS[repo] = BlobReader(repo)
    return reader


def close_readers() -> None:
    while _READERS:
        _READERS.popitem()[1].close()


def _contents(batch: list[Item], max_size: int) -> Iterator[Blob | Skipped]:
    """The batch's items with their content, git blobs read per repository in few round trips."""
    git_refs: dict[str, list[GitBlobRef]] = {}
    for item in batch:
        if isinstance(item, GitBlobRef):
            git_refs.setdefault(item.repo, []).append(item)
        elif isinstance(item, FileRef):
            yield read_ref(item, max_size)
        else:
            yield item
    for repo, refs in git_refs.items():
        yield from read_blobs(_reader(repo), refs, max_size)


def scan_batch(batch: list[Item], options: ScanOptions) -> BatchResult:
    result = BatchResult()
    verify = options.live_check() if options.live_check is not None else None
    for blob in _contents(batch, options.max_file_size):
        if isinstance(blob, Skipped):
            result.skipped.append(blob)
        else:
            _scan_blob(blob, options, result, verify)
    return result


def _warm_worker() -> None:
    _READERS.clear()  # a forked worker must not share its parent's git processes
    engine_for()  # compile the automaton once per process


# --- in the main process --------------------------------------------------------------------
def _item_size(item: Item) -> int:
    if isinstance(item, FileRef | GitBlobRef):
        return item.size
    return len(item.data) if isinstance(item, Blob) else 0


def batches(items: Iterable[Item]) -> Iterator[list[Item]]:
    batch: list[Item] = []
    size = 0
    for item in items:
        batch.append(item)
        size += _item_size(item)
        if size >= BATCH_BYTES or len(batch) >= BATCH_ITEMS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def run_batches(
    items: Iterable[Item], options: ScanOptions, on_progress: Callable[[int], None] | None = None
) -> Iterator[BatchResult]:
    """Results of every batch, scanned here (``jobs == 1``) or by a pool of worker processes."""
    if options.jobs <= 1:
        for batch in batches(items):
            result = scan_batch(batch, options)
            if on_progress:
                on_progress(sum(_item_size(i) for i in batch))
            yield result
        return
    with ProcessPoolExecutor(max_workers=options.jobs, initializer=_warm_worker) as pool:
        in_flight: dict[Future[BatchResult], int] = {}
        for batch in batches(items):
            if len(in_flight) >= 2 * options.jobs:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    size = in_flight.pop(future)
                    if on_progress:
                        on_progress(size)
                    yield future.result()
            in_flight[pool.submit(scan_batch, batch, options)] = sum(_item_size(i) for i in batch)
        for future in list(in_flight):
            size = in_flight.pop(future)
            if on_progress:
                on_progress(size)
            yield future.result()


class Target:
    """One thing the user named, turned into work items (and a repository to attribute, if any)."""

    def __init__(self, spec: str, options: ScanOptions, stack: contextlib.ExitStack) -> None:
        self.spec = spec
        self.repo: Path | None = None
        if spec == "-":
            self.kind = "stdin"
            return
        if is_remote(spec):
            self.repo = stack.enter_context(mirror(spec))
            self.kind = "remote"
            return
        path = Path(spec)
        top = (path / ".git").exists() or is_bare_repository(path)  # not a folder inside a work tree
        if (options.history or options.staged) and top and is_git_repository(path):
            self.repo = path
            self.kind = "staged" if options.staged else "repository"
        elif options.staged:
            self.kind = "not-a-repository"
        else:
            self.kind = "path"
        self.path = path

    def items(self, options: ScanOptions) -> Iterator[Item]:
        if self.kind == "stdin":
            yield from read_stdin(options.max_file_size)
        elif self.kind == "remote":
            assert self.repo is not None
            yield from iter_blob_refs(self.repo, options.max_file_size, options.git_revisions, options.shard)
        elif self.kind == "staged":
            assert self.repo is not None
            yield from iter_staged(self.repo, options.max_file_size)
        elif self.kind == "repository":
            assert self.repo is not None
            yield from iter_blob_refs(self.repo, options.max_file_size, options.git_revisions, options.shard)
            if options.shard[0] == 0:
                for extra in uncommitted_paths(self.repo):
                    yield from walk_relative(extra, self.repo, options.max_file_size)
        elif self.kind == "not-a-repository":
            raise SourceError(f"{self.spec}: --staged needs a git repository")
        else:
            yield from walk(self.path, options.max_file_size)

    def total_bytes(self, options: ScanOptions) -> int | None:
        """Bytes to scan, when cheap to know beforehand (folders); None otherwise."""
        if self.kind != "path":
            return None
        return sum(i.size for i in walk(self.path, options.max_file_size) if isinstance(i, FileRef))


def walk_relative(path: Path, root: Path, max_size: int) -> Iterator[Item]:
    for item in walk(path, max_size):
        if isinstance(item, FileRef):
            # os.path.relpath: ``root`` may be "." while the work tree's paths are absolute.
            yield replace(item, display=os.path.relpath(Path(item.path).absolute(), root.absolute()))
        else:
            yield item


def fold(report: ScanReport, results: Iterable[BatchResult]) -> FindingFolder:
    """Fold batch results into one finding per credential, with every location."""
    folder = FindingFolder()
    for result in results:
        report.skipped.extend(result.skipped)
        report.blobs_scanned += result.blobs
        report.bytes_scanned += result.bytes
        report.held.extend(result.held)
        for provenance, matches in result.found:
            folder.add(provenance, matches)
    return folder


def _place_git_objects(findings: Iterable[Finding], skipped: list[Skipped], repos: dict[str, Path]) -> None:
    """Give git locations (and skipped git objects) the commit that introduced their blob.

    One history pass per repository, only for the blobs that need it."""
    findings = list(findings)

    def needs(p: Provenance) -> bool:
        return p.kind == "git" and bool(p.blob) and p.commit is None and p.repository in repos

    wanted: dict[str, set[str]] = {}
    for p in [loc.provenance for f in findings for loc in f.locations] + [s.provenance for s in skipped]:
        if needs(p):
            wanted.setdefault(p.repository or "", set()).add(p.blob or "")
    placed = {name: introducing_commits(repos[name], oids) for name, oids in wanted.items()}

    def place(p: Provenance) -> Provenance:
        return attribute(p, placed[p.repository or ""].get(p.blob or "")) if needs(p) else p

    for finding in findings:
        finding.locations = [replace(loc, provenance=place(loc.provenance)) for loc in finding.locations]
    skipped[:] = [replace(s, provenance=place(s.provenance)) for s in skipped]


def _mark_head(findings: Iterable[Finding], repos: dict[str, Path], heads: dict[str, str | None]) -> None:
    """Say of each finding in a repository's history whether its secret is still at HEAD (the commit
    ``heads`` names, by repository) and, if not, which commit took it out: a secret removed later is
    still in the history, and must not read as if it were gone, nor as if it were still in the file.

    A location is at HEAD when HEAD's tree has the same blob at the same path; a finding is when any of
    its locations is (or it was seen in the work tree)."""
    findings = list(findings)
    wanted: dict[str, set[str]] = {}
    for loc in (loc for f in findings for loc in f.locations):
        p = loc.provenance
        if p.kind == "git" and p.commit and p.path and heads.get(p.repository or ""):
            wanted.setdefault(p.repository or "", set()).add(p.path)
    at_head = {name: blobs_at(repos[name], heads[name] or "", paths) for name, paths in wanted.items()}

    def mark(loc: Location) -> Location:
        p = loc.provenance
        tree = at_head.get(p.repository or "") if p.kind == "git" and p.commit else None
        if tree is None or not p.path:
            return loc
        return replace(loc, provenance=replace(p, at_head=tree.get(p.path) == p.blob))

    for finding in findings:
        finding.locations = [mark(loc) for loc in finding.locations]
        in_history = [
            loc.provenance
            for loc in finding.locations
            if loc.provenance.kind == "git" and loc.provenance.at_head is not None
        ]
        if not in_history:
            continue
        in_tree = any(loc.provenance.kind == "file" for loc in finding.locations)
        finding.at_head = in_tree or any(p.at_head for p in in_history)
        if not finding.at_head:
            last = max(in_history, key=lambda p: p.committed_at or datetime.min.replace(tzinfo=UTC))
            name = last.repository or ""
            blobs = {p.blob for p in in_history if p.path == last.path and p.blob}
            assert last.commit and last.path
            finding.removed_in = removal_commit(repos[name], last.commit, heads[name] or "", last.path, blobs)


def _sort_key(loc: Location) -> tuple[str, str, str, int, int]:
    p = loc.provenance
    when = p.committed_at.isoformat() if p.committed_at else ""
    return (when, p.kind, p.path or "", loc.line, loc.column)


def scan_targets(
    targets: list[str],
    options: ScanOptions | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_total: Callable[[int | None], None] | None = None,
) -> ScanReport:
    """Scan files, folders, repositories (local or by URL) and standard input into one report."""
    options = options or ScanOptions()
    report = ScanReport()
    with contextlib.ExitStack() as stack:
        resolved = [Target(t, options, stack) for t in targets]
        if on_total is not None or options.jobs == 0:
            sizes = [t.total_bytes(options) for t in resolved]
            total = None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
            if on_total is not None:
                on_total(total)
            if options.jobs == 0:
                small = total is not None and total < AUTO_JOBS_BYTES
                quick = all(t.kind in ("stdin", "staged") for t in resolved)
                options = replace(options, jobs=1 if small or quick else os.cpu_count() or 1)
        repos = {
            repository_name(t.repo): t.repo
            for t in resolved
            if t.repo is not None and t.kind in ("repository", "remote")
        }

        def items() -> Iterator[Item]:
            for t in resolved:
                yield from t.items(options)

        try:
            folder = fold(report, run_batches(items(), options, on_progress))
        finally:
            close_readers()  # before a temporary mirror is removed
        _place_git_objects(folder.by_identity.values(), report.skipped, repos)
        remote = {t.repo for t in resolved if t.kind == "remote"}
        report.repositories = [scanned_repository(repo, repo not in remote) for repo in repos.values()]
        _mark_head(folder.by_identity.values(), repos, {r.name: r.revision for r in report.repositories})
    return _finish(report, folder)


def scan_blobs(blobs: Iterable[Blob | Skipped], options: ScanOptions | None = None) -> ScanReport:
    """Scan content already in memory (a download, a fetched patch): archives are expanded with their
    limits, binary content is skipped with a reason, and what a source skipped is reported as such."""
    options = replace(options or ScanOptions(), jobs=1)
    report = ScanReport()
    return _finish(report, fold(report, run_batches(blobs, options)))


def _finish(report: ScanReport, folder: FindingFolder) -> ScanReport:
    for finding in folder.by_identity.values():
        finding.locations.sort(key=_sort_key)
    folder.into(report)
    report.findings.sort(key=lambda f: (f.credential_type != "aws_access_key", f.rule_id, f.key_id))
    report.suppressed.sort(key=lambda f: (f.rule_id, f.key_id))
    return report
