"""Sources: what gets scanned, what gets skipped and why, and where each finding came from."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from helpers import KEYSENTRY, commit_file, git
from keysentry.content import Blob, Skipped
from keysentry.detect.aws_keys import fingerprint
from keysentry.scan.pipeline import scan_targets
from keysentry.sources.files import iter_path
from keysentry.sources.git import introducing_commits, iter_history

KEY = "AKIAQMW4NRYRP4KPFPY4"
SECRET = "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"
PAIR = f"AWS_ACCESS_KEY_ID={KEY}\nAWS_SECRET_ACCESS_KEY={SECRET}\n"


def test_symlinks_are_reported_and_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.env").write_text(PAIR)
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.env").symlink_to(outside / "secret.env")
    (root / "linkdir").symlink_to(outside)
    report = scan_targets([str(root)])
    assert report.findings == []
    reasons = {s.provenance.path: s.reason for s in report.skipped}
    assert reasons["link.env"] == "symbolic link (not followed)"


def test_binary_and_oversized_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\0\1\2" + PAIR.encode())
    (tmp_path / "big.env").write_text(PAIR + "x" * 5000)
    (tmp_path / "ok.env").write_text(PAIR)
    items = list(iter_path(tmp_path, max_size=4096))
    skipped = {i.provenance.path: i.reason for i in items if isinstance(i, Skipped)}
    assert skipped["blob.bin"] == "binary file"
    assert "larger than the 4,096-byte limit" in skipped["big.env"]
    assert [i.provenance.path for i in items if isinstance(i, Blob)] == ["ok.env"]


def test_an_unreadable_file_is_skipped_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text(PAIR)
    locked = tmp_path / "locked.env"
    locked.write_text(PAIR)
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):  # root reads anything; make the file vanish instead
            locked.unlink()
            locked.mkdir()
        report = scan_targets([str(tmp_path)])
    finally:
        locked.chmod(0o700)
    assert [f.key_id for f in report.findings] == [KEY]


def test_history_finds_a_key_deleted_long_ago_with_the_commit_that_added_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit_file(repo, "README.md", "hello\n", "start", when="2024-01-02T03:04:05+00:00")
    added = commit_file(
        repo,
        "deploy/prod.env",
        PAIR,
        "add deploy config",
        author="Eve Intern",
        when="2024-02-03T04:05:06+00:00",
    )
    commit_file(repo, "deploy/prod.env", "# moved to the secrets manager\n", "remove key")
    for n in range(3):
        commit_file(repo, f"notes/{n}.md", f"note {n}\n", f"note {n}")
    assert KEY not in (repo / "deploy" / "prod.env").read_text()

    report = scan_targets([str(repo)])
    [finding] = report.findings
    assert finding.secret_fingerprint == fingerprint(SECRET)
    [location] = finding.locations
    p = location.provenance
    assert (p.kind, p.commit, p.path, location.line) == ("git", added, "deploy/prod.env", 1)
    assert p.author == "Eve Intern <dana@example.com>"
    assert p.committed_at is not None and p.committed_at.isoformat() == "2024-02-03T04:05:06+00:00"


def test_each_blob_is_scanned_once_however_many_commits_and_branches_hold_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    first = commit_file(repo, "a.env", PAIR, "add")
    git(repo, "checkout", "-q", "-b", "feature")
    commit_file(repo, "b.env", PAIR, "same content, other path")
    git(repo, "checkout", "-q", "main")
    commit_file(repo, "c.txt", "unrelated\n", "more")
    blobs = [b for b in iter_history(repo, 1 << 20) if isinstance(b, Blob)]
    [holder] = [b.provenance for b in blobs if KEY.encode() in b.data]  # once, though in two commits
    placed = introducing_commits(repo, {holder.blob or ""})
    assert (placed[holder.blob or ""].commit.sha, placed[holder.blob or ""].path) == (first, "a.env")


def test_uncommitted_files_in_a_repository_are_scanned_too(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit_file(repo, "README.md", "hello\n", "start")
    (repo / "local.env").write_text(PAIR)
    report = scan_targets([str(repo)])
    [finding] = report.findings
    assert [(loc.provenance.kind, loc.provenance.path) for loc in finding.locations] == [
        ("file", "local.env")
    ]


def test_an_empty_repository_scans_clean(tmp_path: Path) -> None:
    repo = tmp_path / "empty"
    repo.mkdir()
    git(repo, "init", "-q")
    report = scan_targets([str(repo)])
    assert report.findings == [] and report.blobs_scanned == 0


def test_a_corrupt_object_is_skipped_and_the_rest_still_scanned(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit_file(repo, "good.env", PAIR, "good")
    bad = commit_file(repo, "bad.txt", "this object will be destroyed\n", "bad")
    oid = git(repo, "rev-parse", f"{bad}:bad.txt")
    obj = repo / ".git" / "objects" / oid[:2] / oid[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"garbage, not zlib")
    report = scan_targets([str(repo)])
    assert [f.key_id for f in report.findings] == [KEY]
    assert any("bad.txt" in (s.provenance.path or "") for s in report.skipped)


def test_standard_input_is_a_source(tmp_path: Path) -> None:
    done = subprocess.run(
        [KEYSENTRY, "scan", "-"], input=PAIR, capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert done.returncode == 1, done.stderr
    assert KEY in done.stdout and SECRET not in done.stdout


def test_a_corrupt_commit_is_reported_as_an_incomplete_history(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit_file(repo, "good.env", PAIR, "good")
    middle = commit_file(repo, "other.txt", "x\n", "middle")
    commit_file(repo, "later.txt", "y\n", "later")
    obj = repo / ".git" / "objects" / middle[:2] / middle[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"not a commit")
    report = scan_targets([str(repo)])
    assert any("history walk stopped early" in s.reason for s in report.skipped)
