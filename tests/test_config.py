"""Configuration never fails silently: an unknown key in any table of keysentry.toml, in a JSON variable,
or an unknown KEYSENTRY_* variable is an error naming the key and the closest valid one; `keysentry config
check` validates a file and prints the effective configuration with secrets masked; the service refuses to
start on an invalid file."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from helpers import run_keysentry as run
from keysentry.config.settings import load_settings_from
from keysentry.emulator.receivers import free_port
from keysentry.errors import ConfigError

# (a file with one misspelt key in one table, the line the error must print)
MISSPELT = [
    ('databse_url = "sqlite://"\n', "unknown setting 'databse_url'; did you mean 'database_url'?"),
    ("[notify]\nsns_topic = []\n", "unknown setting 'sns_topic' in [notify]; did you mean 'sns_topics'?"),
    (
        '[notify.email]\nenabled = true\nsmtp_hots = "mail"\n',
        "unknown setting 'smtp_hots' in [notify.email]; did you mean 'smtp_host'?",
    ),
    (
        '[[notify.webhooks]]\nname = "soc"\nurl = "https://soc.example/h"\nsecrt = "x"\n',
        "unknown setting 'secrt' in [[notify.webhooks]] #1; did you mean 'secret'?",
    ),
    ("[watch]\npypy = true\n", "unknown setting 'pypy' in [watch]; did you mean 'pypi'?"),
    ('[response]\nmod = "dry_run"\n', "unknown setting 'mod' in [response]; did you mean 'mode'?"),
    (
        '[[response.rules]]\naccount = ["111122223333"]\n',
        "unknown setting 'account' in [[response.rules]] #1; did you mean 'accounts'?",
    ),
]


@pytest.mark.parametrize(("text", "message"), MISSPELT, ids=[m[1].split("'")[1] for m in MISSPELT])
def test_an_unknown_key_in_any_table_is_refused_with_the_closest_valid_one(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "keysentry.toml").write_text(text)
    done = run("config", "check", cwd=tmp_path)
    assert done.returncode == 2
    assert f"keysentry.toml: {message}" in done.stderr
    assert "Traceback" not in done.stderr
    # Every other command refuses it the same way.
    scan = run("scan", str(tmp_path), cwd=tmp_path)
    assert scan.returncode == 2 and message in scan.stderr


def test_an_unknown_variable_is_refused_and_json_variables_are_checked_too(tmp_path: Path) -> None:
    done = run("config", "check", cwd=tmp_path, env={"KEYSENTRY_DATABSE_URL": "sqlite://"})
    assert done.returncode == 2
    assert (
        "KEYSENTRY_DATABSE_URL is not a keysentry setting; did you mean KEYSENTRY_DATABASE_URL?"
        in done.stderr
    )
    nested = run("config", "check", cwd=tmp_path, env={"KEYSENTRY_NOTIFY": '{"emial": {"enabled": true}}'})
    assert nested.returncode == 2
    assert "KEYSENTRY_NOTIFY: unknown setting 'emial' in [notify]; did you mean 'email'?" in nested.stderr
    # The test suite's own switches and the config file's path are not settings, and are allowed.
    allowed = {"KEYSENTRY_REQUIRE_POSTGRES": "1", "KEYSENTRY_TEST_POSTGRES_URL": "x"}
    assert run("config", "check", cwd=tmp_path, env=allowed).returncode == 0


def test_wrong_values_are_named_but_secrets_are_not_echoed(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "k.toml"
    path.write_text(
        '[notify.email]\nsmtp_port = "twenty-five"\nsmtp_password = 1234567890\n'
        '[[notify.webhooks]]\nname = "x"\nurl = "javascript:alert(1)"\n'
        'dashboard_url = "ftp://x"\n'
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_settings_from(path)
    text = str(caught.value)
    assert "notify.email.smtp_port: Input should be a valid integer" in text and "'twenty-five'" in text
    assert "notify.email.smtp_password" in text and "1234567890" not in text
    assert "notify.webhooks[0].url: must be an http:// or https:// URL" in text


def test_a_file_that_is_not_toml_or_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("[notify\nsns_topics = [\n")
    done = run("config", "check", "bad.toml", cwd=tmp_path)
    assert done.returncode == 2 and "bad.toml is not valid TOML" in done.stderr
    missing = run("scan", str(tmp_path), cwd=tmp_path, env={"KEYSENTRY_CONFIG": str(tmp_path / "nope.toml")})
    assert missing.returncode == 2 and "nope.toml does not exist" in missing.stderr


def test_config_check_prints_the_effective_configuration_with_secrets_masked(tmp_path: Path) -> None:
    slack_hook = "https://hooks.slack.com/services/T0ABCDE12/B0ABCDE12/" + "Zx9QwErTy12UiOpAsDfGhJkL"
    (tmp_path / "keysentry.toml").write_text(
        "[notify]\n"
        'sns_topics = ["arn:aws:sns:us-east-1:111122223333:alerts"]\n'
        "[notify.email]\nenabled = true\n"
        'smtp_password = "hunter2-smtp"\n'
        "[[notify.webhooks]]\n"
        f'name = "chat"\nformat = "slack"\nurl = "{slack_hook}"\n'
        "[[notify.webhooks]]\n"
        'name = "soc"\nurl = "https://soc.example/h"\nsecret = "hmac-key-value"\n'
        "[response]\n"
        'deactivate_after = "24h"\n'
    )
    env = {"KEYSENTRY_DATABASE_URL": "postgresql+psycopg://keysentry:db-pass-123@db.internal/keysentry"}
    done = run("config", "check", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout
    assert "keysentry.toml is valid." in lines
    assert (
        'database_url = "postgresql+psycopg://keysentry:***@db.internal/keysentry"  # KEYSENTRY_DATABASE_URL'
        in lines
    )
    assert "notify.email.enabled = true  # keysentry.toml" in lines
    assert 'notify.email.smtp_host = "127.0.0.1"  # default' in lines
    assert 'response.deactivate_after = "1d"  # keysentry.toml' in lines
    assert 'notify.webhooks[1].secret = "**********"  # keysentry.toml' in lines
    for secret in ("hunter2-smtp", "hmac-key-value", "db-pass-123", "Zx9QwErTy12UiOpAsDfGhJkL"):
        assert secret not in done.stdout + done.stderr, secret
    as_json = json.loads(run("config", "check", "--json", cwd=tmp_path, env=env).stdout)
    assert as_json["notify"]["email"]["smtp_password"] == "**********"
    assert as_json["notify"]["sns_topics"] == ["arn:aws:sns:us-east-1:111122223333:alerts"]


def test_the_service_refuses_to_start_on_an_invalid_file(tmp_path: Path) -> None:
    (tmp_path / "keysentry.toml").write_text("[watch]\nrepositorys = ['https://git.example/r.git']\n")
    port = free_port()
    done = run("serve", "--port", str(port), cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown setting 'repositorys' in [watch]; did you mean 'repositories'?" in done.stderr
    with socket.socket() as probe:  # nothing was left listening
        assert probe.connect_ex(("127.0.0.1", port)) != 0
