"""The scan pipeline end to end: processes, git history and remotes, staged changes, reports, baselines."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from helpers import KEYSENTRY, commit_file, git, jsonl_records, key_for, secret_for
from keysentry.detect.aws_keys import fingerprint
from keysentry.scan.pipeline import ScanOptions, scan_targets

RNG = random.Random(33)


def pair() -> tuple[str, str]:
    return key_for("444455556666", RNG), secret_for(RNG)


def env_text(kid: str, sec: str) -> str:
    return f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={sec}\n"


def identities(report) -> set[tuple[str, str]]:
    return {(f.key_id, f.secret_fingerprint) for f in report.findings}


def test_two_processes_find_exactly_what_one_finds(tmp_path: Path) -> None:
    planted = set()
    for n in range(60):
        folder = tmp_path / f"pkg{n % 7}"
        folder.mkdir(exist_ok=True)
        text = "\n".join(f"line {i} of filler text" for i in range(200))
        if n % 3 == 0:
            kid, sec = pair()
            planted.add((kid, fingerprint(sec)))
            text += "\n" + env_text(kid, sec)
        (folder / f"f{n}.cfg").write_text(text)
    one = scan_targets([str(tmp_path)], ScanOptions(jobs=1))
    two = scan_targets([str(tmp_path)], ScanOptions(jobs=2))
    assert identities(one) == identities(two) == planted
    assert [f.locations for f in one.findings] == [f.locations for f in two.findings]
    assert (one.blobs_scanned, one.bytes_scanned) == (two.blobs_scanned, two.bytes_scanned)


def test_history_attributes_each_leak_to_the_commit_that_introduced_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    commit_file(repo, "README.md", "hi\n", "start")
    leaks = {}
    for n in range(4):
        kid, sec = pair()
        sha = commit_file(
            repo, f"conf/{n}.env", env_text(kid, sec), f"add {n}", when=f"2025-0{n + 1}-01T00:00:00+00:00"
        )
        leaks[kid] = sha
        commit_file(repo, f"conf/{n}.env", "# removed\n", f"remove {n}")
    git(repo, "checkout", "-q", "-b", "old-branch", "HEAD~3")
    kid, sec = pair()
    leaks[kid] = commit_file(repo, "branch-only.env", env_text(kid, sec), "only on a branch")
    git(repo, "checkout", "-q", "main")
    report = scan_targets([str(repo)], ScanOptions(jobs=2))
    got = {f.key_id: f.locations[0].provenance.commit for f in report.findings}
    assert got == leaks


def test_a_remote_repository_is_cloned_to_a_temporary_mirror(tmp_path: Path) -> None:
    repo = tmp_path / "origin"
    kid, sec = pair()
    sha = commit_file(repo, "deploy.env", env_text(kid, sec), "leak")
    commit_file(repo, "deploy.env", "# gone\n", "clean up")
    report = scan_targets([repo.resolve().as_uri()])
    [finding] = report.findings
    assert (finding.key_id, finding.locations[0].provenance.commit) == (kid, sha)
    assert not any(
        p.name.startswith("keysentry-mirror-")
        for p in Path("/tmp").iterdir()
        if p.stat().st_mtime > time.time() - 5 and (p / "repo.git").exists()
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git is required")
def test_a_repository_served_over_the_git_protocol_is_scanned(tmp_path: Path) -> None:
    served = tmp_path / "served"
    kid, sec = pair()
    commit_file(served / "app", "creds.env", env_text(kid, sec), "leak")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--reuseaddr",
            f"--base-path={served}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(served),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        report = scan_targets([f"git://127.0.0.1:{port}/app"])
    finally:
        daemon.terminate()
        daemon.wait()
    assert [f.key_id for f in report.findings] == [kid]


def test_an_unreachable_remote_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [KEYSENTRY, "scan", "git://127.0.0.1:9/none"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "cannot clone" in done.stderr


def test_staged_mode_scans_only_what_the_next_commit_adds(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    old_kid, old_sec = pair()
    commit_file(repo, "old.env", env_text(old_kid, old_sec), "an old leak already in history")
    new_kid, new_sec = pair()
    (repo / "new.env").write_text(env_text(new_kid, new_sec))
    (repo / "unstaged.env").write_text(env_text(*pair()))
    git(repo, "add", "new.env")
    done = subprocess.run(
        [KEYSENTRY, "scan", "--staged", "-f", "jsonl"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert [f["key_id"] for f in jsonl_records(done.stdout)[0]] == [new_kid]
    git(repo, "reset", "-q")
    clean = subprocess.run(
        [KEYSENTRY, "scan", "--staged"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert clean.returncode == 0


def test_the_pre_commit_hook_definition_runs_the_staged_scan() -> None:
    import yaml

    hooks = yaml.safe_load((Path(__file__).resolve().parents[1] / ".pre-commit-hooks.yaml").read_text())
    [hook] = [h for h in hooks if h["id"] == "keysentry"]
    assert hook["entry"].split()[:3] == ["keysentry", "scan", "--staged"]
    assert hook["pass_filenames"] is False and hook["language"] == "python"


def test_sarif_and_baseline_from_the_command_line(tmp_path: Path) -> None:
    from jsonschema import Draft4Validator

    schema = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
    kid, sec = pair()
    project = tmp_path / "project"
    project.mkdir()
    (project / "a.env").write_text(env_text(kid, sec))
    sarif = tmp_path / "out.sarif"  # outside the scanned folder: reports name key IDs
    done = subprocess.run(
        [KEYSENTRY, "scan", str(project), "-f", "sarif", "-o", str(sarif)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    log = json.loads(sarif.read_text())
    Draft4Validator(schema).validate(log)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["aws-access-key"]
    assert sec not in sarif.read_text()

    # Known findings hidden by the baseline; a new one still fails the build.
    again = subprocess.run(
        [KEYSENTRY, "scan", str(project), "--baseline", str(sarif)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0 and "1 known from the baseline" in again.stdout
    kid2, sec2 = pair()
    (project / "b.env").write_text(env_text(kid2, sec2))
    third = subprocess.run(
        [KEYSENTRY, "scan", str(project), "--baseline", str(sarif), "-f", "jsonl"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert third.returncode == 1
    assert [f["key_id"] for f in jsonl_records(third.stdout)[0]] == [kid2]
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    bad = subprocess.run(
        [KEYSENTRY, "scan", str(project), "--baseline", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "broken.jsonl" in bad.stderr


def test_progress_bar_shows_bytes_per_second_when_asked(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("nothing here\n" * 1000)
    env = dict(os.environ, COLUMNS="120")
    done = subprocess.run(
        [KEYSENTRY, "scan", str(tmp_path), "--progress"], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0
    assert "scanning" in done.stderr and "/s" in done.stderr
