"""A repository handed over with its own .git/config runs nothing of its choosing, in any scan mode.

The hostile repository sets every configuration key that names a program (fsmonitor, hooks, clean /
smudge / process filters, textconv, external diff, merge drivers, pagers, ssh and proxy commands,
credential helpers, gpg, upload-pack ...), some of them through an included file and the worktree's own
config, and one driver whose name holds "=", each to a script that leaves a marker.  Plain git in that
repository runs them (the control), keysentry in every mode runs none, and still finds the planted key.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers import commit_file, git, planted_pair, run_keysentry

KID, SECRET = planted_pair(71)
HOOKS = (
    "pre-commit", "post-commit", "post-checkout", "post-merge", "pre-push", "reference-transaction",
    "post-index-change", "pre-auto-gc", "post-rewrite", "fsmonitor-watchman", "push-to-checkout",
)  # fmt: skip


def _script(folder: Path, markers: Path, name: str) -> str:
    path = folder / f"{name}.sh"
    # Behaves like a filter (passes stdin through) so that git would carry on if it ran it.
    path.write_text(f"#!/bin/sh\ntouch '{markers / name}'\ncat\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    markers, scripts = tmp_path / "markers", tmp_path / "scripts"
    markers.mkdir()
    scripts.mkdir()
    repo = tmp_path / "evidence"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / ".gitattributes").write_text("* filter=evil diff=evil merge=evil\n*.cfg filter=a=b\n")
    commit_file(repo, "README.md", "# service\n")
    commit_file(repo, "config/prod.env", f"AWS_ACCESS_KEY_ID={KID}\nAWS_SECRET_ACCESS_KEY={SECRET}\n")
    commit_file(repo, "app.cfg", "x = 1\n")

    def evil(key: str, name: str) -> None:
        git(repo, "config", key, _script(scripts, markers, name))

    for key in (
        "core.fsmonitor", "filter.evil.clean", "filter.evil.smudge", "filter.evil.process",
        "diff.evil.textconv", "diff.evil.command", "diff.external", "merge.evil.driver", "core.pager",
        "pager.log", "pager.diff", "core.sshCommand", "core.gitProxy", "core.alternateRefsCommand",
        "core.askPass", "credential.helper", "gpg.program", "core.editor", "sequence.editor",
        "uploadpack.packObjectsHook", "remote.origin.uploadpack",
    ):  # fmt: skip
        evil(key, key.replace(".", "_"))
    git(repo, "config", "filter.evil.required", "true")
    git(repo, "config", "remote.origin.url", str(repo))
    (scripts / "hooks").mkdir()
    for hook in HOOKS:
        (scripts / "hooks" / hook).write_text(f"#!/bin/sh\ntouch '{markers / ('hook_' + hook)}'\n")
        (scripts / "hooks" / hook).chmod(0o755)
    git(repo, "config", "core.hooksPath", str(scripts / "hooks"))
    # Through an included file, a driver name with "=" in it, and the worktree's own configuration.
    included = tmp_path / "included.cfg"
    inc_filter = _script(scripts, markers, "included_filter")
    eq_filter = _script(scripts, markers, "eq_filter")
    included.write_text(f'[filter "a=b"]\n\tclean = {eq_filter}\n\tprocess = {eq_filter}\n')
    included.write_text(included.read_text() + f'[filter "inc"]\n\tclean = {inc_filter}\n')
    git(repo, "config", "include.path", str(included))
    git(repo, "config", "extensions.worktreeConfig", "true")
    git(repo, "config", "--worktree", "core.fsmonitor", _script(scripts, markers, "worktree_fsmonitor"))
    # Work in progress: a changed file, an untracked one and a staged one, so that status-like commands
    # have files to compare.
    (repo / "README.md").write_text("# service, changed\n")
    (repo / "notes.txt").write_text("untracked\n")
    (repo / "staged.env").write_text(f"AWS_ACCESS_KEY_ID={KID}\nAWS_SECRET_ACCESS_KEY={SECRET}\n")
    subprocess.run(
        ["git", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "filter.evil.clean=",
         "-c", "filter.evil.process=", "-c", "filter.a=b.clean=", "-c", "filter.evil.required=false",
         "add", "staged.env"],
        cwd=repo, check=True, capture_output=True,
    )  # fmt: skip
    for marker in markers.iterdir():  # setting it up may have run some: start from none
        marker.unlink()
    return repo, markers


def _ran(markers: Path) -> list[str]:
    return sorted(p.name for p in markers.iterdir())


def _keysentry(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_keysentry(*args, cwd=cwd, env={"KEYSENTRY_DATA_DIR": str(cwd / ".keysentry-data")})


def test_plain_git_in_the_hostile_repository_runs_its_programs(hostile: tuple[Path, Path]) -> None:
    """The control: without keysentry's guards, git obeys the repository."""
    repo, markers = hostile
    subprocess.run(["git", "status"], cwd=repo, capture_output=True, check=False)
    subprocess.run(["git", "diff"], cwd=repo, capture_output=True, check=False)
    ran = _ran(markers)
    assert "worktree_fsmonitor" in ran or "core_fsmonitor" in ran
    assert any(name.startswith(("filter_evil", "eq_filter")) for name in ran), ran


@pytest.mark.parametrize(
    "mode",
    ["history", "staged", "git-dir", "file-url", "two-workers", "watch-path", "watch-file-url"],
)
def test_no_scan_mode_runs_a_program_the_repository_names(hostile: tuple[Path, Path], mode: str) -> None:
    repo, markers = hostile
    work = repo.parent
    args = {
        "history": ("scan", str(repo)),
        "staged": ("scan", "--staged"),
        "git-dir": ("scan", str(repo / ".git")),
        "file-url": ("scan", f"file://{repo}"),
        "two-workers": ("scan", str(repo), "-j", "2"),
        "watch-path": ("watch", str(repo), "--once", "--no-respond"),
        "watch-file-url": ("watch", f"file://{repo}", "--once", "--no-respond"),
    }[mode]
    done = _keysentry(*args, cwd=repo if mode == "staged" else work)
    assert _ran(markers) == [], f"{mode} ran {_ran(markers)}"
    assert done.returncode == 1, done.stdout + done.stderr  # it found the key, not an error
    assert KID in done.stdout
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "target",
    [
        "ext::sh -c touch% {markers}/ext",
        "--upload-pack=touch {markers}/upload_pack",
        "ssh://-oProxyCommand=touch% {markers}/proxy/x",
    ],
    ids=["ext", "upload-pack-option", "ssh-proxy-command"],
)
@pytest.mark.parametrize("command", ["scan", "watch"])
def test_hostile_targets_are_refused_and_run_nothing(tmp_path: Path, target: str, command: str) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    spec = target.format(markers=markers)
    args = ("scan", "--", spec) if command == "scan" else ("watch", "--once", "--no-respond", "--", spec)
    done = _keysentry(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert _ran(markers) == []


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://x-access-token:ghp_notatoken@github.com/a/b.git", "https://github.com/a/b.git"),
        ("https://oauth2token@gitlab.example/a/b.git", "https://gitlab.example/a/b.git"),
        ("ssh://git@github.com/a/b.git", "ssh://git@github.com/a/b.git"),  # a user name is not a secret
        ("ssh://deploy:hunter2@git.example/r.git", "ssh://git.example/r.git"),
        ("git@github.com:a/b.git", "git@github.com:a/b.git"),
    ],
)
def test_a_repositorys_url_is_never_shown_with_its_credentials(url: str, shown: str) -> None:
    from keysentry.sources.git import without_credentials, without_credentials_in
    from keysentry.watch.git_remote import RepositoryWatch

    assert without_credentials(url) == shown
    assert (
        without_credentials_in(f"fatal: repository '{url}' not found")
        == f"fatal: repository '{shown}' not found"
    )
    assert RepositoryWatch(url, Path("/nonexistent")).name == f"git:{shown}"


def test_a_repository_whose_configuration_git_cannot_read_is_an_error_not_a_clean_scan(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "broken"
    commit_file(repo, "config/prod.env", f"AWS_ACCESS_KEY_ID={KID}\nAWS_SECRET_ACCESS_KEY={SECRET}\n")
    with (repo / ".git" / "config").open("a") as config:
        config.write("[broken\n")
    done = _keysentry("scan", str(repo), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "could not list the repository's configuration" in done.stderr
    assert "bad config line" in done.stderr
