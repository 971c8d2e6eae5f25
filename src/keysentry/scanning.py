"""What ``keysentry scan`` scans: paths, standard input and git history, folded into one report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from keysentry.detect.scanner import ScanReport, scan_blobs
from keysentry.sources.blob import Blob, Skipped
from keysentry.sources.files import DEFAULT_MAX_FILE_SIZE, iter_path, read_file, read_stdin
from keysentry.sources.git import is_git_repository, iter_history, uncommitted_paths


def iter_targets(
    targets: list[str], history: bool = True, max_size: int = DEFAULT_MAX_FILE_SIZE
) -> Iterator[Blob | Skipped]:
    """Blobs of every target.  A git repository contributes its whole history plus what is not committed."""
    for target in targets:
        if target == "-":
            yield read_stdin(max_size)
            continue
        path = Path(target)
        if history and is_git_repository(path) and (path / ".git").exists():
            yield from iter_history(path, max_size)
            for extra in uncommitted_paths(path):
                yield read_file(extra, str(extra.relative_to(path)), max_size)
        else:
            yield from iter_path(path, max_size)


def scan_targets(
    targets: list[str],
    history: bool = True,
    max_size: int = DEFAULT_MAX_FILE_SIZE,
    on_blob: Callable[[Blob], None] | None = None,
) -> ScanReport:
    return scan_blobs(iter_targets(targets, history, max_size), on_blob=on_blob)
