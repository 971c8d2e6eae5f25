"""Every git command keysentry runs is built here, so that no repository can make git run a program.

A repository folder carries its own configuration (``.git/config``, ``config.worktree`` and any file
they include), and whoever hands the folder over controls it: an archive of a project with its
``.git``, a folder on a shared disk, an incident's evidence.  Git obeys settings there that name
programs (``core.fsmonitor`` runs on every status-like command, a ``filter.<driver>.process`` on every
work-tree comparison, hooks, textconv, pagers, ssh commands …).  So every command runs with:

* fixed overrides that hold whatever the repository says: ``core.fsmonitor=false``,
  ``core.hooksPath=/dev/null``, ``core.pager=cat``, ``protocol.ext.allow=never`` (no ``ext::`` remote
  runs a command);
* for every setting the repository's own configuration makes (scope ``local`` or ``worktree``, includes
  followed) that names a program, an override with an inert value; these go through
  ``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n``, which keep the key and the value apart (``-c`` splits at
  the first ``=``, and a driver's name may contain one);
* an environment that never prompts (``GIT_TERMINAL_PROMPT=0``), never pages and never runs an
  external diff.

Callers put ``--`` before every URL, path and ref they pass (see ``sources/git.py``).  The user's own
(global and system) configuration is theirs and is left as it is.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path
from typing import IO, Any

from keysentry.errors import SourceError

__all__ = ["SAFE_CONFIG", "git_argv", "git_env", "popen_git", "repository_overrides", "run_git"]

SAFE_CONFIG: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", "/dev/null"),
    ("core.pager", "cat"),
    ("protocol.ext.allow", "never"),
)
# Settings that name a program, matched on git's canonical key (section and name lower case, the
# driver's subsection as written), and the value that makes each inert.
EXECUTABLE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.DOTALL), neutral)
    for pattern, neutral in (
        (r"filter\..*\.(clean|smudge|process)", ""),
        (r"filter\..*\.required", "false"),
        (r"diff\..*\.(textconv|command)", ""),
        (r"diff\.external", ""),
        (r"merge\..*\.driver", ""),
        (r"(diff|merge)tool\..*\.cmd", ""),
        (r"core\.fsmonitor", "false"),
        (r"core\.hookspath", "/dev/null"),
        (r"core\.(pager|editor)", "cat"),
        (r"sequence\.editor", "cat"),
        (r"pager\..*", "false"),
        (r"core\.sshcommand", "ssh"),
        (r"ssh\.variant", "ssh"),
        (r"core\.gitproxy", ""),
        (r"core\.alternaterefscommand", ""),
        (r"core\.askpass", "true"),
        (r"credential\.(.*\.)?helper", ""),
        (r"gpg\.(.*\.)?program", ""),
        (r"remote\..*\.uploadpack", "git-upload-pack"),
        (r"remote\..*\.receivepack", "git-receive-pack"),
        (r"uploadpack\.packobjectshook", ""),
        (r"submodule\..*\.update", "none"),
        (r"trailer\..*\.(command|cmd)", ""),
    )
)
REPOSITORY_SCOPES = frozenset({"local", "worktree"})
CONFIG_TIMEOUT = 60
BASE_ENV = {
    "GIT_TERMINAL_PROMPT": "0",  # never ask for credentials
    "GIT_ASKPASS": "true",  # and if asked, answer nothing
    "GIT_PAGER": "cat",
    "GIT_LITERAL_PATHSPECS": "1",  # a path from a leak is a path, never pathspec magic like :(glob)
    "LC_ALL": "C",
}
DROPPED_ENV = ("GIT_EXTERNAL_DIFF",)


def _where(repo: Path | str | None, git_dir: Path | str | None) -> list[str]:
    if git_dir is not None:
        return ["--git-dir", str(git_dir)]
    return ["-C", str(repo)] if repo is not None else []


def git_argv(*args: str, repo: Path | str | None = None, git_dir: Path | str | None = None) -> list[str]:
    """The command line: ``git`` with the fixed safe overrides, the repository, then ``args``."""
    safe = [part for key, value in SAFE_CONFIG for part in ("-c", f"{key}={value}")]
    return ["git", *safe, *_where(repo, git_dir), *args]


def _parse_config_list(raw: bytes) -> list[tuple[str, str]]:
    """``git config --list --show-scope -z``: ``scope NUL key LF value NUL`` (no LF: a bare key)."""
    fields = raw.split(b"\0")
    found = []
    for scope, entry in zip(fields[0::2], fields[1::2], strict=False):
        key = entry.split(b"\n", 1)[0]
        found.append((scope.decode(errors="replace"), key.decode("utf-8", errors="surrogateescape")))
    return found


_CONFIG_FILES = (".git/config", ".git/config.worktree", "config", "config.worktree")
_read: dict[tuple[str, tuple[int, ...]], list[tuple[str, str]]] = {}
_read_lock = threading.Lock()


def _config_stamp(folder: Path) -> tuple[int, ...]:
    """When the repository's own config files last changed (0: absent): a changed file is read again."""
    stamps = []
    for name in _CONFIG_FILES:
        try:
            stamps.append((folder / name).stat().st_mtime_ns)
        except OSError:
            stamps.append(0)
    return tuple(stamps)


def repository_overrides(
    repo: Path | str | None = None, git_dir: Path | str | None = None
) -> list[tuple[str, str]]:
    """(key, inert value) for each program-naming setting of the repository's own configuration.

    Read once per repository and process while its config files stay as they are (a scan runs a dozen
    git commands on one repository); a file it includes is read with it."""
    if repo is None and git_dir is None:
        return []
    folder = Path(git_dir if git_dir is not None else repo)  # type: ignore[arg-type]
    key = (f"{repo}\0{git_dir}", _config_stamp(folder))
    with _read_lock:
        known = _read.get(key)
    if known is not None:
        return known
    overrides = _read_overrides(repo, git_dir)
    with _read_lock:
        _read[key] = overrides
    return overrides


def _read_overrides(repo: Path | str | None, git_dir: Path | str | None) -> list[tuple[str, str]]:
    try:
        done = subprocess.run(
            git_argv("config", "--list", "--show-scope", "--includes", "-z", repo=repo, git_dir=git_dir),
            capture_output=True,
            check=False,
            env=_base_env(),
            timeout=CONFIG_TIMEOUT,
        )
    except subprocess.TimeoutExpired:  # an include of a FIFO, say: refuse rather than run unguarded
        raise SourceError(f"{repo or git_dir}: git could not read the repository's configuration") from None
    if done.returncode != 0:  # unreadable config, or a git too old for --show-scope: never run unguarded
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise SourceError(
            f"{repo or git_dir}: git could not list the repository's configuration "
            f"({reason[-1] if reason else f'exit {done.returncode}'}); nothing was run in it"
        )
    overrides = []
    for scope, key in _parse_config_list(done.stdout):
        if scope not in REPOSITORY_SCOPES:
            continue
        for pattern, neutral in EXECUTABLE:
            if pattern.fullmatch(key):
                overrides.append((key, neutral))
                break
    return overrides


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(BASE_ENV)
    return env


def git_env(repo: Path | str | None = None, git_dir: Path | str | None = None) -> dict[str, str]:
    """The environment for a git command on ``repo``: safe, with the repository's overrides."""
    env = _base_env()
    overrides = repository_overrides(repo, git_dir)
    start = int(env.get("GIT_CONFIG_COUNT", "0") or 0)  # after any the user set
    for n, (key, value) in enumerate(overrides, start):
        env[f"GIT_CONFIG_KEY_{n}"] = key
        env[f"GIT_CONFIG_VALUE_{n}"] = value
    if overrides:
        env["GIT_CONFIG_COUNT"] = str(start + len(overrides))
    return env


def run_git(
    *args: str,
    repo: Path | str | None = None,
    git_dir: Path | str | None = None,
    input: bytes | None = None,
    timeout: float | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run one git command to completion; the caller checks the code."""
    return subprocess.run(
        git_argv(*args, repo=repo, git_dir=git_dir),
        input=input,
        capture_output=True,
        check=False,
        env=git_env(repo, git_dir),
        timeout=timeout,
        cwd=cwd,
    )


def popen_git(
    *args: str,
    repo: Path | str | None = None,
    git_dir: Path | str | None = None,
    stdin: int | IO[Any] | None = None,
    stdout: int | IO[Any] | None = subprocess.PIPE,
    stderr: int | IO[Any] | None = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start a git command that streams (``rev-list``, ``cat-file --batch``, ``log``)."""
    return subprocess.Popen(
        git_argv(*args, repo=repo, git_dir=git_dir),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        env=git_env(repo, git_dir),
    )
