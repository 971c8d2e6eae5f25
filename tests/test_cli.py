"""The command line as a CI job sees it: exit codes, JSON Lines, clear errors, help that teaches."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import KEYSENTRY, jsonl_records, key_for, secret_for


def run(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KEYSENTRY, *args], capture_output=True, text=True, cwd=cwd, input=stdin, check=False, timeout=120
    )


@pytest.fixture
def leak(tmp_path: Path) -> tuple[Path, str, str]:
    rng = random.Random(9)
    kid, sec = key_for("123456789012", rng), secret_for(rng)
    folder = tmp_path / "project"
    (folder / "config").mkdir(parents=True)
    (folder / "config" / "app.yaml").write_text(f"aws:\n  access_key_id: {kid}\n  secret_access_key: {sec}\n")
    (folder / "main.py").write_text("print('hello')\n")
    return folder, kid, sec


def test_help_lists_the_commands_and_teaches_by_example() -> None:
    done = run("--help")
    assert done.returncode == 0
    for command in ("scan", "respond", "emulator", "demo", "exposures"):
        assert command in done.stdout
    for command in ("scan", "respond", "emulator", "demo", "exposures"):
        text = run(command, "--help").stdout
        assert "Example" in text and f"keysentry {command}" in text, command


def every_command() -> list[list[str]]:
    """Every command and group of the CLI, as typed (walked from the app itself)."""
    import typer.main

    from keysentry.cli.app import app

    found: list[list[str]] = []

    def walk(command, path: list[str]) -> None:  # type: ignore[no-untyped-def]
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


HELP_OF_EVERY_COMMAND = """
import contextlib, io, json, sys
from keysentry.cli.app import main
helps = {}
for path in json.loads(sys.argv[1]):
    sys.argv = ["keysentry", *path, "--help"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main()
    helps[" ".join(path) or "keysentry"] = out.getvalue()
json.dump(helps, sys.__stdout__)
"""


def test_every_help_fits_80_columns_cuts_nothing_and_has_examples() -> None:
    """Every command's --help as the console entry point prints it, 80 columns, into a pipe (one
    process for all of them)."""
    commands = every_command()
    assert ["tokens", "create"] in commands and ["db", "upgrade"] in commands and len(commands) > 20
    done = subprocess.run(
        [sys.executable, "-c", HELP_OF_EVERY_COMMAND, json.dumps(commands)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        check=True,
    )
    helps = json.loads(done.stdout)
    assert len(helps) == len(commands)
    for where, text in helps.items():
        lines = text.splitlines()
        assert lines and lines[0].startswith("Usage: keysentry"), where
        assert max(len(line) for line in lines) <= 80, (where, max(lines, key=len))
        assert not any(line.rstrip().endswith("…") for line in lines), where  # nothing cut
        for typer_type in ("<bool>", "<str>", "<list[", "<int>"):
            assert typer_type not in text, (where, typer_type)
        assert "Example" in text or where == "keysentry", where
        assert "keysentry " in text.split("Example", 1)[-1], where
    assert "keysentry demo" in helps["keysentry"] and "keysentry COMMAND --help" in helps["keysentry"]


def test_scan_exits_1_when_it_finds_a_credential_and_never_prints_the_secret(leak) -> None:
    folder, kid, sec = leak
    done = run("scan", str(folder))
    assert done.returncode == 1
    assert kid in done.stdout and "account 123456789012" in done.stdout and "config/app.yaml:2" in done.stdout
    assert sec not in done.stdout + done.stderr


def test_scan_exits_0_on_a_clean_tree(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    done = run("scan", str(tmp_path))
    assert done.returncode == 0 and "no credentials found" in done.stdout


def test_scan_exits_2_with_a_clear_message_on_a_missing_path(tmp_path: Path) -> None:
    done = run("scan", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert "no such file or folder" in done.stderr and "Traceback" not in done.stderr


def test_jsonl_output_is_one_object_per_finding(leak) -> None:
    folder, kid, sec = leak
    done = run("scan", str(folder), "--format", "jsonl")
    assert done.returncode == 1
    [finding], summary = jsonl_records(done.stdout)
    assert summary["complete"] and summary["findings"] == 1
    assert (
        finding["key_id"] == kid
        and finding["secret"] == "REDACTED"
        and finding["account_id"] == "123456789012"
    )
    assert finding["locations"] == [
        {
            "kind": "file",
            "path": "config/app.yaml",
            "line": 2,
            "column": 18,
            "repository": None,
            "origin": None,
            "commit": None,
            "author": None,
            "committed_at": None,
            "url": (folder / "config" / "app.yaml").resolve().as_uri(),
        }
    ]
    assert len(finding["fingerprint"]) == 32
    assert sec not in done.stdout


def test_exposures_on_an_empty_store_and_an_unknown_exposure(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'k.db'}"
    assert run("exposures", "--database-url", db).returncode == 0
    missing = run("exposures", "show", "AKIANOPE", "--database-url", db)
    assert missing.returncode == 2 and "no exposure" in missing.stderr


def test_scan_respond_then_respond_again_from_the_command_line(
    tmp_path: Path, emulator, seeded, new_user, event_sink
) -> None:
    import os

    from helpers import env_pair

    user = new_user("workloads-dev")
    (tmp_path / "leak").mkdir()
    (tmp_path / "leak" / "ci.env").write_text(env_pair(user))
    db = f"sqlite:///{tmp_path / 'k.db'}"
    env = dict(
        os.environ,
        KEYSENTRY_EVENT_BUS_NAME=event_sink.bus,
        KEYSENTRY_AWS_ENDPOINT_URL=emulator.endpoint,
        KEYSENTRY_AWS_SERVICE_ENDPOINTS=json.dumps(emulator.service_endpoints),
        KEYSENTRY_DATABASE_URL=db,
        COLUMNS="200",
    )
    env.pop("AWS_ACCESS_KEY_ID", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KEYSENTRY, *args], capture_output=True, text=True, env=env, check=False, timeout=120
        )

    first = cli("scan", str(tmp_path / "leak"), "--respond")
    assert first.returncode == 1, first.stderr  # found something
    assert f"{user.access_key_id}: contain: attributed → contained" in first.stdout
    assert f"{user.access_key_id}: notify: contained → notified" in first.stdout

    again = cli("respond", str(tmp_path / "leak"))
    assert again.returncode == 0 and "nothing to do" in again.stdout

    listing = cli("exposures", "--json")
    [row] = [json.loads(line) for line in listing.stdout.splitlines()]
    assert (row["key_id"], row["state"], row["principal_arn"]) == (user.access_key_id, "notified", user.arn)
    shown = cli("exposures", "show", user.access_key_id)
    assert "AWSCompromisedKeyQuarantineV3" in shown.stdout and "sent to eventbridge" in shown.stdout
    for done in (first, again, listing, shown):
        assert user.secret_access_key not in done.stdout + done.stderr
    assert len(event_sink.events()) == 1


def test_tokens_list_fits_80_columns_aligned_and_shows_names_as_text(tmp_path: Path) -> None:
    from helpers import run_keysentry

    env = {"KEYSENTRY_DATABASE_URL": f"sqlite:///{tmp_path}/k.db"}
    for name in ("ci-bot", "[bold]x[/]", "alice-the-security-lead@example.com"):
        assert run_keysentry("tokens", "create", name, "--role", "viewer", env=env).returncode == 0
    assert run_keysentry("tokens", "revoke", "ci-bot", env=env).returncode == 0

    table = run_keysentry("tokens", "list", env={**env, "COLUMNS": "100"}).stdout.splitlines()
    assert table[0].split() == ["name", "role", "created", "(UTC)", "revoked"]
    assert len({line.index("viewer") for line in table[1:]}) == 1  # one column, whatever the name
    assert any(line.startswith("[bold]x[/] ") for line in table)  # the name as given, not markup
    assert table[1].startswith("ci-bot ") and table[1].split()[-2].startswith("20")  # its revocation

    for columns in ("80", "60"):
        narrow = run_keysentry("tokens", "list", env={**env, "COLUMNS": columns}).stdout.splitlines()
        assert all(len(line) <= int(columns) for line in narrow), narrow
        assert "alice-the-security-lead@example.com" in narrow  # never shortened
        assert any("revoked 20" in line for line in narrow)
