"""What the scanned folders say about their own scan: ``.keysentryignore`` and ``[scan]`` of the nearest
``keysentry.toml`` (see :mod:`keysentry.config.scan`), merged with the command line's choices.

Only local folders and files have them: a remote repository's, standard input's and a staged change's
come from the folder the command runs in.  ``--no-config`` reads none of them (someone else's checkout
could otherwise leave out its own findings; even then, what is left out is counted, never silent).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from keysentry.config import closest_key
from keysentry.config.scan import nearest_config, scan_settings_of
from keysentry.config.settings import read_config_file
from keysentry.detect.rules import CONFIDENCE_RANK, load_rules
from keysentry.errors import ConfigError
from keysentry.report.ignore import Ignores, ignore_file_of
from keysentry.sources.git import is_remote


@dataclass(frozen=True)
class ScanChoices:
    ignores: Ignores
    min_confidence: str
    config_files: tuple[Path, ...] = ()  # the keysentry.toml files whose [scan] was read


def _local(target: str) -> Path | None:
    if target == "-" or is_remote(target):
        return None
    path = Path(target)
    return path if path.exists() else None


def _check_rules(ids: list[str], path: Path) -> None:
    known = {r.id for r in load_rules()}
    unknown = [i for i in ids if i not in known]
    if unknown:
        hints = []
        for rule_id in unknown:
            close = closest_key(rule_id, sorted(known))
            hints.append(f"'{rule_id}'" + (f" (did you mean '{close}'?)" if close else ""))
        raise ConfigError(f"{path}: [scan] disable_rules names no rule: {', '.join(hints)}")


def scan_choices(
    targets: list[str], exclude: tuple[str, ...], min_confidence: str | None, *, read_files: bool = True
) -> ScanChoices:
    """The ignores and minimum confidence of a scan: the command line's, then each scanned folder's files
    (excludes and rules add up; with several minimums the lowest, so nothing one folder asks for is
    hidden).  An unknown key or rule id is a :class:`ConfigError`."""
    ignores = Ignores(globs=exclude)
    minimums: list[str] = []
    read: list[Path] = []
    if read_files:
        for target in targets:
            local = _local(target)
            if local is None:
                continue
            ignores = ignores | ignore_file_of(target)
            path = nearest_config(local)
            if path is None or path in read:
                continue
            settings = scan_settings_of(path, read_config_file(path))
            _check_rules(settings.disable_rules, path)
            read.append(path)
            ignores = ignores | Ignores(
                globs=tuple(settings.exclude), rules=frozenset(settings.disable_rules)
            )
            if settings.min_confidence:
                minimums.append(settings.min_confidence)
    if min_confidence is None:
        min_confidence = min(minimums, key=CONFIDENCE_RANK.__getitem__) if minimums else "medium"
    return ScanChoices(ignores, min_confidence, tuple(read))
