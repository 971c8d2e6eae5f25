"""What a team has decided to live with stays out of the way, and says so: in-code allow markers (ours,
gitleaks' and detect-secrets'), a .keysentryignore of fingerprints and path globs, and --exclude."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from helpers import git, github_token, jsonl_records, planted_pair, run_keysentry
from keysentry.detect import scan_bytes


@pytest.mark.parametrize(
    "marker", ["# keysentry:allow", "# gitleaks:allow", "# pragma: allowlist secret", "  // KEYSENTRY:ALLOW"]
)
def test_a_marker_on_the_line_makes_it_an_ignored_example(marker: str) -> None:
    token = github_token(random.Random(1))
    [m] = scan_bytes(f"TOKEN = '{token}'{marker}\n".encode())
    assert m.suppressed == "allowed in source by an allow marker"
    [live] = scan_bytes(f"TOKEN = '{token}'\nOTHER = 1{marker}\n".encode())
    assert live.suppressed is None  # a marker on another line allows nothing here


def test_detect_secrets_nextline_marker_allows_the_line_below() -> None:
    token = github_token(random.Random(2))
    [m] = scan_bytes(f"# pragma: allowlist nextline secret\nTOKEN = '{token}'\n".encode())
    assert m.suppressed == "allowed in source by an allow marker"


def test_a_marker_on_either_line_of_a_pair_allows_the_pair() -> None:
    kid, secret = planted_pair(3)
    text = f"aws_access_key_id = {kid}\naws_secret_access_key = {secret}  # keysentry:allow\n"
    [m] = scan_bytes(text.encode())
    assert m.kind == "pair" and m.suppressed == "allowed in source by an allow marker"


def project(tmp_path: Path) -> tuple[Path, str, str]:
    folder = tmp_path / "repo"
    (folder / "tests" / "fixtures").mkdir(parents=True)
    kept, fixture = github_token(random.Random(4)), github_token(random.Random(5))
    (folder / "deploy.env").write_text(f"GITHUB_TOKEN={kept}\n")
    (folder / "tests" / "fixtures" / "fake.env").write_text(f"GITHUB_TOKEN={fixture}\n")
    return folder, kept, fixture


def test_exclude_globs_leave_those_paths_out_and_the_summary_counts_them(tmp_path: Path) -> None:
    folder, _, _ = project(tmp_path)
    done = run_keysentry("scan", str(folder), "-f", "jsonl", "--exclude", "tests/**")
    findings, summary = jsonl_records(done.stdout)
    assert [f["locations"][0]["path"].endswith("deploy.env") for f in findings] == [True]
    assert summary["excluded"] == 1 and done.returncode == 1
    text = run_keysentry("scan", str(folder), "--no-progress", "--exclude", "tests/**", "--exclude", "*.env")
    assert (
        text.returncode == 0
        and "2 excluded (--exclude, .keysentryignore, [scan] of keysentry.toml)" in text.stdout
    )


def test_a_keysentryignore_file_lists_paths_and_fingerprints(tmp_path: Path) -> None:
    folder, _, _ = project(tmp_path)
    findings, _ = jsonl_records(run_keysentry("scan", str(folder), "-f", "jsonl").stdout)
    deploy = next(f for f in findings if f["locations"][0]["path"].endswith("deploy.env"))
    (folder / ".keysentryignore").write_text(
        f"# fixtures are fake\ntests/fixtures/\n\n{deploy['fingerprint']}  # rotated 2026-11-30\n"
    )
    done = run_keysentry("scan", str(folder), "-f", "jsonl")
    findings, summary = jsonl_records(done.stdout)
    assert findings == [] and summary["excluded"] == 2 and done.returncode == 0


def test_the_ignore_file_applies_to_a_repositorys_history_too(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "fixtures").mkdir()
    (repo / "fixtures" / "t.env").write_text(f"T={github_token(random.Random(6))}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "fixture")
    (repo / "fixtures" / "t.env").unlink()
    git(repo, "commit", "-qam", "gone")
    assert run_keysentry("scan", str(repo)).returncode == 1  # still in history
    (repo / ".keysentryignore").write_text("fixtures/*.env\n")
    done = run_keysentry("scan", str(repo), "-f", "jsonl")
    assert done.returncode == 0 and json.loads(done.stdout.splitlines()[-1])["excluded"] == 1


def test_an_ignore_file_that_cannot_be_read_is_a_clear_error(tmp_path: Path) -> None:
    folder, _, _ = project(tmp_path)
    (folder / ".keysentryignore").mkdir()
    done = run_keysentry("scan", str(folder))
    assert done.returncode == 2 and ".keysentryignore: cannot be read as an ignore file" in done.stderr


def test_scanning_dot_in_a_repository_with_uncommitted_files_reads_them(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "README").write_text("hello\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "start")
    (repo / "new.env").write_text(f"T={github_token(random.Random(7))}\n")  # not committed
    done = run_keysentry("scan", ".", "-f", "jsonl", cwd=repo)
    findings, _ = jsonl_records(done.stdout)
    assert done.returncode == 1 and [f["locations"][0]["path"] for f in findings] == ["new.env"]


def test_the_service_contains_a_public_leak_whatever_marker_it_carries(
    settings, new_user, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A marker is a team's word about its own code; a key out in public is contained all the same."""
    from helpers import env_pair, exposure_of, respond

    user = new_user("workloads-dev")
    lines = env_pair(user).splitlines()
    (tmp_path / "leak.env").write_text("\n".join(f"{line}  # gitleaks:allow" for line in lines) + "\n")
    responder, _ = respond(settings.model_copy(update={"investigation_delays": []}), tmp_path)
    exposure = exposure_of(responder, user.access_key_id)
    assert exposure.state == "notified" and exposure.contained_at is not None
