"""keysentry: find exposed cloud credentials, contain them, tell the owner.

Library use (everything the CLI and the service use, nothing private)::

    import keysentry

    report = keysentry.scan(["repo/", "dist/pkg-1.0.tar.gz"], jobs=2)
    for finding in report.findings:
        print(finding.key_id, finding.account_id, [loc.describe() for loc in finding.locations])

    from keysentry.detect import scan_bytes
    matches = scan_bytes(b"aws_access_key_id = AKIA...")

See ``docs/library.md``.  Heavy parts (the automaton, AWS, the database) load
only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keysentry.errors import KeysentryError

if TYPE_CHECKING:
    from keysentry.detect.scanner import ScanReport

__version__ = "0.1.0"

__all__ = ["KeysentryError", "__version__", "scan"]


def scan(
    targets: list[str],
    *,
    history: bool = True,
    staged: bool = False,
    jobs: int = 1,
    max_file_size: int | None = None,
    **options: Any,
) -> ScanReport:
    """Scan files, folders, archives, git repositories (paths or clone URLs) or '-' for stdin.

    Returns a :class:`keysentry.detect.ScanReport`: ``findings`` (one per credential, with every
    location), ``suppressed`` (documentation examples, placeholders), ``skipped`` (with reasons).
    """
    from keysentry.scan.pipeline import ScanOptions, scan_targets
    from keysentry.sources.files import DEFAULT_MAX_FILE_SIZE

    chosen = ScanOptions(
        history=history,
        staged=staged,
        jobs=jobs,
        max_file_size=max_file_size or DEFAULT_MAX_FILE_SIZE,
        **options,
    )
    return scan_targets(targets, chosen)
