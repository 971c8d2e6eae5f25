"""Watching a git repository: the first poll scans the whole history, later polls only what a fetch
brought; a credential already seen is not reported again, a new one is, at its commit."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from helpers import KEYSENTRY, commit_file, git, key_for, secret_for
from keysentry.watch.git_remote import RepositoryWatch


def pair(rng: random.Random) -> tuple[str, str]:
    return key_for("123456789012", rng), secret_for(rng)


def env(kid: str, secret: str) -> str:
    return f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret}\n"


def test_only_what_is_new_is_scanned(tmp_path: Path) -> None:
    rng = random.Random(5)
    (a, a_secret), (b, b_secret) = pair(rng), pair(rng)
    upstream = tmp_path / "upstream"
    first = commit_file(upstream, "old.env", env(a, a_secret), "old leak")
    watch = RepositoryWatch(str(upstream), tmp_path / "state")

    poll = watch.poll()
    assert poll.report is not None and [f.key_id for f in poll.report.findings] == [a]
    assert poll.report.findings[0].locations[0].provenance.commit == first

    assert watch.poll().report is None  # nothing new: nothing scanned

    commit_file(upstream, "readme.md", "# docs\n", "docs")
    second = commit_file(upstream, "new.env", env(b, b_secret), "new leak")
    git(upstream, "checkout", "-q", "-b", "feature")
    third = commit_file(upstream, "feature.env", env(a, a_secret) + "# again\n", "same key, new file")
    poll = watch.poll()
    assert poll.report is not None and poll.items == 2
    found = {f.key_id: f for f in poll.report.findings}
    assert set(found) == {a, b}  # a only because a new file carries it
    assert found[b].locations[0].provenance.commit == second
    assert [loc.provenance.path for loc in found[a].locations] == ["feature.env"]
    assert found[a].locations[0].provenance.commit == third
    assert poll.report.blobs_scanned <= 4  # the new commits' blobs, not the whole history again


def test_keysentry_watch_once_exit_codes(tmp_path: Path) -> None:
    rng = random.Random(6)
    kid, secret = pair(rng)
    upstream = tmp_path / "upstream"
    commit_file(upstream, "app.py", "print('hi')\n", "start")
    run = [KEYSENTRY, "watch", str(upstream), "--once", "--no-respond"]
    env_ = {"KEYSENTRY_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    assert subprocess.run(run, env=env_, capture_output=True, text=True, check=False).returncode == 0
    commit_file(upstream, "prod.env", env(kid, secret), "leak")
    done = subprocess.run(run, env=env_, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and kid in done.stdout and secret not in done.stdout
    assert subprocess.run(run, env=env_, capture_output=True, text=True, check=False).returncode == 0
