"""``[scan]`` in the keysentry.toml nearest to what is scanned: excludes, rules turned off and the minimum
confidence a team chose, found without being named, overridden by the command line, counted, and refused
when it says something keysentry does not know."""

from __future__ import annotations

import random
from pathlib import Path

from helpers import github_token, jsonl_records, run_keysentry


def team_repo(tmp_path: Path) -> Path:
    """A project whose keysentry.toml is one folder above the part scanned."""
    root = tmp_path / "project"
    src = root / "services" / "api"
    (src / "fixtures").mkdir(parents=True)
    (src / "deploy.env").write_text(f"GITHUB_TOKEN={github_token(random.Random(31))}\n")
    (src / "fixtures" / "fake.env").write_text(f"GITHUB_TOKEN={github_token(random.Random(32))}\n")
    (src / "db.env").write_text("DB_PASSWORD=Vq7#mK2pLx9zT4\n")
    return root


def test_the_nearest_keysentry_toml_above_the_scanned_folder_is_read(tmp_path: Path) -> None:
    root = team_repo(tmp_path)
    (root / "keysentry.toml").write_text(
        '[scan]\nexclude = ["fixtures/"]\ndisable_rules = ["github-pat-classic"]\nmin_confidence = "low"\n'
    )
    done = run_keysentry("scan", str(root / "services" / "api"), "-f", "jsonl")
    findings, summary = jsonl_records(done.stdout)
    assert [f["rule"] for f in findings] == ["generic-password"]  # low confidence, as the file asks
    assert summary["excluded"] == 2  # the fixture (a path) and deploy.env's token (a rule turned off)
    assert f"using [scan] of {root / 'keysentry.toml'}" in done.stderr
    assert done.returncode == 1


def test_the_command_line_wins_and_no_config_reads_nothing(tmp_path: Path) -> None:
    root = team_repo(tmp_path)
    (root / "keysentry.toml").write_text(
        '[scan]\ndisable_rules = ["github-pat-classic"]\nmin_confidence = "low"\n'
    )
    scanned = str(root / "services" / "api")
    findings, summary = jsonl_records(
        run_keysentry("scan", scanned, "-f", "jsonl", "--min-confidence", "medium").stdout
    )
    assert findings == [] and summary["below_min_confidence"] == 1 and summary["excluded"] == 2

    done = run_keysentry("scan", scanned, "-f", "jsonl", "--no-config")
    findings, summary = jsonl_records(done.stdout)
    assert sorted(f["rule"] for f in findings) == ["github-pat-classic", "github-pat-classic"]
    assert summary["excluded"] == 0 and "using [scan]" not in done.stderr


def test_a_mistake_in_scan_is_an_error_that_says_what_was_meant(tmp_path: Path) -> None:
    root = team_repo(tmp_path)
    (root / "keysentry.toml").write_text('[scan]\nexclud = ["fixtures/"]\n')
    done = run_keysentry("scan", str(root), "--no-progress")
    assert done.returncode == 2 and "did you mean 'exclude'" in done.stderr

    (root / "keysentry.toml").write_text('[scan]\ndisable_rules = ["github-pat-clasic"]\n')
    done = run_keysentry("scan", str(root), "--no-progress")
    assert done.returncode == 2
    assert "names no rule: 'github-pat-clasic' (did you mean 'github-pat-classic'?)" in done.stderr


def test_scan_is_part_of_the_configuration_file(tmp_path: Path) -> None:
    (tmp_path / "keysentry.toml").write_text('[scan]\nexclude = ["vendor/"]\nmin_confidence = "high"\n')
    done = run_keysentry("config", "check", str(tmp_path / "keysentry.toml"))
    assert done.returncode == 0, done.stderr
    assert "vendor/" in done.stdout


def test_the_path_of_a_hostile_folders_config_prints_inert(tmp_path: Path) -> None:
    root = tmp_path / 'evil"><script>\x1b[2J<!channel>'
    root.mkdir()
    (root / "keysentry.toml").write_text('[scan]\nmin_confidence = "low"\n')
    (root / "a.txt").write_text("nothing here\n")
    done = run_keysentry("scan", str(root), "--no-progress")
    assert done.returncode == 0 and "using [scan] of" in done.stderr
    assert "\x1b" not in done.stderr and "\x1b" not in done.stdout
