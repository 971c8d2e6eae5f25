"""A secret found in a repository's history says whether it is still at HEAD or was removed later, and
in which commit, in every output: rewriting history does not unpublish it, so it must be rotated."""

from __future__ import annotations

import json
import random
from pathlib import Path

from helpers import commit_file, git, jsonl_records, key_for, run_keysentry, secret_for


def pair(seed: int) -> tuple[str, str]:
    rng = random.Random(seed)
    return key_for("123456789012", rng), secret_for(rng)


def test_still_at_head_removed_by_an_edit_deleted_with_its_file_and_on_another_branch(tmp_path: Path) -> None:
    repo = tmp_path / "app"
    (kept, kept_s), (edited, edited_s), (deleted, deleted_s), (branch, branch_s) = (pair(n) for n in range(4))
    commit_file(repo, "kept.env", f"AWS_ACCESS_KEY_ID={kept}\nAWS_SECRET_ACCESS_KEY={kept_s}\n", "kept")
    commit_file(repo, "settings.py", f"KEY = '{edited}'\nSECRET = '{edited_s}'\nDEBUG = True\n", "settings")
    commit_file(repo, "settings.py", "KEY = ''\nSECRET = ''\nDEBUG = True\n", "edit")  # leaves the file
    commit_file(repo, "settings.py", "KEY = ''\nSECRET = ''\nDEBUG = False\n", "later edit")
    edited_out = git(repo, "rev-parse", "HEAD~1")
    commit_file(repo, "old.env", f"AWS_ACCESS_KEY_ID={deleted}\nAWS_SECRET_ACCESS_KEY={deleted_s}\n", "old")
    git(repo, "rm", "-q", "old.env")
    git(repo, "commit", "-qm", "drop old.env")
    deleted_in = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "experiment")
    commit_file(repo, "x.env", f"AWS_ACCESS_KEY_ID={branch}\nAWS_SECRET_ACCESS_KEY={branch_s}\n", "try")
    git(repo, "checkout", "-q", "main")

    done = run_keysentry("scan", str(repo), "--format", "jsonl")
    assert done.returncode == 1, done.stderr
    findings, _ = jsonl_records(done.stdout)
    by_key = {f["key_id"]: f for f in findings}
    assert (by_key[kept]["at_head"], by_key[kept]["removed_in"]) == (True, None)
    assert (by_key[edited]["at_head"], by_key[edited]["removed_in"]) == (False, edited_out)
    assert (by_key[deleted]["at_head"], by_key[deleted]["removed_in"]) == (False, deleted_in)
    assert (by_key[branch]["at_head"], by_key[branch]["removed_in"]) == (False, None)

    text = run_keysentry("scan", str(repo), env={"COLUMNS": "200"}).stdout
    assert (
        f"Removed in {edited_out[:12]}, still in history: rotate it, rewriting history does not help" in text
    )
    assert f"Removed in {deleted_in[:12]}" in text
    assert "Not at HEAD (another branch or ref), still in history" in text
    assert text.count("Still at HEAD") == 1

    sarif = tmp_path / "scan.sarif"
    run_keysentry("scan", str(repo), "--format", "sarif", "--output", str(sarif))
    results = json.loads(sarif.read_text())["runs"][0]["results"]
    props = {r["properties"]["keyId"]: r["properties"] for r in results}
    assert props[edited]["removedIn"] == edited_out and props[edited]["atHead"] is False
    assert props[kept]["atHead"] is True and "removedIn" not in props[kept]


def test_a_folder_scan_says_nothing_about_head(tmp_path: Path) -> None:
    kid, secret = pair(9)
    (tmp_path / "a.env").write_text(f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret}\n")
    findings, _ = jsonl_records(run_keysentry("scan", str(tmp_path), "--format", "jsonl").stdout)
    assert findings[0]["at_head"] is None and findings[0]["removed_in"] is None
