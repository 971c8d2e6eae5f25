"""`git diff | keysentry scan -` and `git show | keysentry scan -` name the file and its line in the
file, not the line within the patch; what a patch removes is reported as removed; a hunk line that looks
like a header is content."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from helpers import KEYSENTRY, commit_file, git, jsonl_records, key_for, secret_for
from keysentry.content import Provenance
from keysentry.sources.patch import looks_like_patch, split_patch


def pair(seed: int) -> tuple[str, str]:
    rng = random.Random(seed)
    return key_for("123456789012", rng), secret_for(rng)


def scan_stdin(data: str) -> tuple[list[dict], dict]:
    done = subprocess.run(
        [KEYSENTRY, "scan", "-", "--format", "jsonl"], input=data, capture_output=True, text=True, check=False
    )
    assert done.returncode in (0, 1), done.stderr
    return jsonl_records(done.stdout)


def places(finding: dict) -> set[tuple[str, int]]:
    return {(loc["path"], loc["line"]) for loc in finding["locations"]}


def test_git_diff_and_git_show_name_the_file_and_its_line(tmp_path: Path) -> None:
    repo = tmp_path / "app"
    body = "".join(f"setting_{n} = {n}\n" for n in range(1, 120))
    commit_file(repo, "src/app/settings.py", body, "settings")
    kid, secret = pair(1)
    lines = body.splitlines()
    lines[99:99] = [f'AWS_ACCESS_KEY_ID = "{kid}"', f'AWS_SECRET_ACCESS_KEY = "{secret}"']  # lines 100, 101
    (repo / "src/app/settings.py").write_text("\n".join(lines) + "\n")

    diff = git(repo, "diff")
    findings, _ = scan_stdin(diff)
    assert [f["key_id"] for f in findings] == [kid]
    assert places(findings[0]) == {("src/app/settings.py", 100)}

    git(repo, "commit", "-qam", "add the key")
    sha = git(repo, "rev-parse", "HEAD")
    findings, _ = scan_stdin(git(repo, "show"))
    [loc] = findings[0]["locations"]
    assert (loc["path"], loc["line"], loc["commit"]) == ("src/app/settings.py", 100, sha)
    assert loc["author"].startswith("Dana Developer")


def test_what_a_patch_removes_is_reported_at_its_old_line(tmp_path: Path) -> None:
    repo = tmp_path / "app"
    kid, secret = pair(2)
    commit_file(
        repo, "deploy.env", "A=1\nB=2\n" + f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret}\n"
    )
    (repo / "deploy.env").write_text("A=1\nB=2\n")
    findings, _ = scan_stdin(git(repo, "diff"))
    [loc] = findings[0]["locations"]
    assert (loc["path"], loc["line"]) == ("deploy.env", 3)
    text = subprocess.run([KEYSENTRY, "scan", "-"], input=git(repo, "diff"), capture_output=True, text=True)
    assert "deploy.env:3" in text.stdout and "a line the patch removes" in text.stdout


def test_hunk_lines_that_look_like_headers_are_content() -> None:
    kid, secret = pair(3)
    patch = (
        "diff --git a/x.txt b/x.txt\n--- a/x.txt\n+++ b/x.txt\n@@ -1,2 +1,3 @@\n"
        "--- not a header\n+++ not a header either\n"
        f" keep\n+key={kid} secret={secret}\n"
    )
    assert looks_like_patch(patch.encode())
    blobs = list(split_patch(patch.encode(), Provenance(kind="stdin", path="-")))
    new = next(b for b in blobs if b.provenance.at_head is None)
    assert new.data.decode().splitlines() == ["++ not a header either", "keep", f"key={kid} secret={secret}"]
    old = next(b for b in blobs if b.provenance.at_head is False)
    assert old.data.decode().splitlines() == ["-- not a header"]


def test_text_that_is_not_a_patch_is_scanned_as_it_is() -> None:
    kid, secret = pair(4)
    findings, _ = scan_stdin(f"\n\nid={kid}\nsecret={secret}\n")
    assert places(findings[0]) == {("-", 3)}


def test_text_around_the_hunks_is_scanned_too(tmp_path: Path) -> None:
    """A commit message in `git show` output is not a file, but it is what standard input brought."""
    repo = tmp_path / "app"
    commit_file(repo, "a.txt", "one\n")
    kid, secret = pair(5)
    (repo / "a.txt").write_text("one\ntwo\n")
    git(repo, "commit", "-qam", f"rotate: old key {kid} secret {secret}")
    shown = git(repo, "show")
    findings, _ = scan_stdin(shown)
    assert [f["key_id"] for f in findings] == [kid]
    line = next(n for n, text in enumerate(shown.splitlines(), start=1) if kid in text)
    assert places(findings[0]) == {("-", line)}
