"""Generic passwords and secrets: found in the layouts people write them in, never in code, templates or
placeholders, always at low confidence, and never instead of the typed finding a known issuer's format
gives."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import pytest

from helpers import github_token, jsonl_records, planted_pair, run_keysentry
from keysentry.detect import scan_bytes
from keysentry.detect.aws_keys import fingerprint

GENERIC = {"generic-password", "generic-secret"}


def random_secret(seed: int, length: int = 20, symbols: str = "") -> str:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + symbols
    while True:
        value = "".join(rng.choice(alphabet) for _ in range(length))
        if (
            any(c.isdigit() for c in value)
            and any(c.isupper() for c in value)
            and any(c.islower() for c in value)
        ):
            return value


PW = random_secret(1, 14, "!#%")
KEY = random_secret(2, 32)

# Where people write a password or an API key, and the rule that must find it.
LAYOUTS = {
    "env": (f"DB_HOST=db.internal\nDB_PASSWORD={PW}\n", "generic-password"),
    "shell export": (f'export SMTP_PASSWORD="{PW}"\n', "generic-password"),
    "yaml": (f"database:\n  user: orders\n  password: {PW}\n", "generic-password"),
    "yaml quoted": (f"mail:\n  smtp_pass: '{PW}'\n", "generic-password"),
    "json": (json.dumps({"user": "etl", "password": PW}) + "\n", "generic-password"),
    "xml": (f"<db>\n  <password>{PW}</password>\n</db>\n", "generic-password"),
    "properties": (f"spring.datasource.password={PW}\n", "generic-password"),
    "ini": (f"[database]\npasswd = {PW}\n", "generic-password"),
    "python": (f'conn = connect(host="db", password="{PW}")\n', "generic-password"),
    "javascript": (f"const cfg = {{ user: 'etl', password: '{PW}' }};\n", "generic-password"),
    "go": (f'var dbPassword = "{PW}"\n', "generic-password"),
    "php": (f"$config['db_password'] = '{PW}';\n", "generic-password"),
    "ruby": (f'config.smtp_password = "{PW}"\n', "generic-password"),
    "command line": (f"pg-admin --db-password={PW} migrate\n", "generic-password"),
    "mysql -p": (f"mysql -u root -p{PW} orders < dump.sql\n", "generic-password"),
    "docker compose": (
        f"services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: {PW}\n",
        "generic-password",
    ),
    "xml, camelCase": (f"<mail>\n  <smtpPass>{PW}</smtpPass>\n</mail>\n", "generic-password"),
    "notebook": (
        json.dumps({"cells": [{"cell_type": "code", "source": [f'os.environ["DB_PASSWORD"] = "{PW}"\n']}]}),
        "generic-password",
    ),
    "api key in env": (f"WEATHER_API_KEY={KEY}\n", "generic-secret"),
    "signing key in xml": (f"<jwt><signingKey>{KEY}</signingKey></jwt>\n", "generic-secret"),
    "client secret in yaml": (f"oauth:\n  client_id: app\n  client_secret: {KEY}\n", "generic-secret"),
    "token in json": (json.dumps({"auth_token": KEY}) + "\n", "generic-secret"),
    "apiKey in javascript": (f'const client = new Api({{ apiKey: "{KEY}" }});\n', "generic-secret"),
    "token flag": (f"deploy-tool --token {KEY} --env prod\n", "generic-secret"),
    "secret key in python": (f"SECRET_KEY = '{KEY}'\n", "generic-secret"),
    "terraform": (f'variable "x" {{}}\nvendor_api_key = "{KEY}"\n', "generic-secret"),
    "npmrc": (f"//registry.vendor.example/:_auth={KEY}\n", "generic-secret"),
}


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_generic_secret_is_found_in_every_common_layout_at_low_confidence(layout: str) -> None:
    text, rule = LAYOUTS[layout]
    found = [m for m in scan_bytes(text.encode()) if not m.suppressed]
    value = PW if rule == "generic-password" else KEY
    assert [(m.rule_id, m.secret_fingerprint, m.confidence) for m in found] == [
        (rule, fingerprint(value), "low")
    ]
    assert "no issuer's format confirms it" in (found[0].confidence_reason or "")


# What looks like a secret assignment and is not one: nothing is reported, at any confidence.
NEAR_MISSES = {
    "read from the environment": 'password = os.environ["DB_PASSWORD"]\n',
    "a call": "token = get_token(session)\n",
    "an attribute": "password = self.settings.db_password\n",
    "a comparison": f'if password == "{PW}":\n',
    "a shell variable": "DB_PASSWORD=${DB_PASSWORD}\n",
    "a helm template": 'password: "{{ .Values.db.password }}"\n',
    "an angle-bracket placeholder": "api_key: <your-api-key>\n",
    "changeme": "PASSWORD=changeme2024\n",
    "x-ed out": "token: xxxxxxxxxxxxxxxxxxxx\n",
    "masked": "password: '************'\n",
    "your key here": 'API_KEY = "your_api_key_here"\n',
    "a password hash": f'password_hash = "{KEY}"\n',
    "a length": "MIN_PASSWORD_LENGTH = 12\n",
    "a token type": 'token_type = "Bearer"\n',
    "a pagination token": f'next_token = "{KEY}"\n',
    "a public key": f'public_key = "{KEY}"\n',
    "a file path": "PASSWORD_FILE=/run/secrets/db_password\n",
    "a key file": 'private_key = "keys/server-2024.pem"\n',
    "a tokenizer": 'tokenizer = "bert-base-uncased-v2"\n',
    "a type annotation": "private_key: PKCS7PrivateKeyTypes,\n",
    "a UUID idempotency token": 'ClientToken = "5236cffc-ee13-4a32-bb5b-388d9da09d96"\n',
    "an ARN": 'encryption_key = "arn:aws:kms:us-east-1:123456789012:key/abcd"\n',
    "a weak word": "password: hunter22\n",
    "an e-mail address": "auth: ops-team@example.org\n",
    "a regular expression": 'pattern = "(?i)(?:password:)|(?:passphrase for key)"\n',
    "a JSON-escaped value (decoded and scanned as such)": '{"api_key": "a\\/b\\/c\\/d\\/e\\/f"}\n',
}


@pytest.mark.parametrize("case", list(NEAR_MISSES))
def test_code_templates_and_placeholders_are_not_secrets(case: str) -> None:
    assert [m.rule_id for m in scan_bytes(NEAR_MISSES[case].encode())] == []


def test_a_typed_rule_wins_over_the_generic_one() -> None:
    token = github_token(random.Random(11))
    kid, secret = planted_pair(12)
    text = (
        f'GITHUB_TOKEN = "{token}"\n'
        f"aws_access_key_id = {kid}\naws_secret_access_key = {secret}\n"
        f"ConnectionStrings__Db=Server=db;Database=orders;User Id=etl;Password={PW};\n"
        f"DATABASE_URL=postgres://etl:{PW}x@db.internal:5432/orders\n"
    )
    rules = sorted(m.rule_id for m in scan_bytes(text.encode()) if not m.suppressed)
    assert rules == [
        "aws-access-key",
        "connection-string-password",
        "database-url-password",
        "github-pat-classic",
    ]
    assert not GENERIC & set(rules)


def test_two_generic_names_for_one_value_are_one_finding() -> None:
    found = scan_bytes(f"secret_password = '{PW}'\n".encode())
    assert [m.rule_id for m in found] in (["generic-password"], ["generic-secret"])


def test_the_scan_lists_generic_findings_only_when_asked_and_never_prints_the_value(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text(f"DB_PASSWORD={PW}\nWEATHER_API_KEY={KEY}\n")
    default = run_keysentry("scan", str(tmp_path), "-f", "jsonl")
    findings, summary = jsonl_records(default.stdout)
    assert findings == [] and summary["below_min_confidence"] == 2 and default.returncode == 0

    low = run_keysentry("scan", str(tmp_path), "-f", "jsonl", "--min-confidence", "low")
    findings, _ = jsonl_records(low.stdout)
    assert sorted((f["credential_type"], f["confidence"]) for f in findings) == [
        ("generic_secret", "low"),
        ("password", "low"),
    ]
    assert low.returncode == 1
    text = run_keysentry("scan", str(tmp_path), "-v", "--no-progress")
    for output in (default.stdout, low.stdout, text.stdout, default.stderr, low.stderr, text.stderr):
        assert PW not in output and KEY not in output
    assert "below --min-confidence" in text.stdout and "app.env" in text.stdout


def test_a_value_in_an_api_models_documentation_is_an_example(tmp_path: Path) -> None:
    def url(seed: int) -> str:
        sig = random_secret(seed, 42) + "A="
        return f"https://acme.blob.core.windows.net/c?sv=2021-06-08&sr=c&sp=rl&sig={sig}"

    doc = f"<p>For example <code>{url(13)}</code></p>"
    model = {"shapes": {"AzureSas": {"type": "string", "documentation": doc}}}
    (tmp_path / "service-2.json").write_text(json.dumps(model, indent=1) + "\n")
    (tmp_path / "real.env").write_text(f"BACKUP_URL={url(14)}\n")
    done = run_keysentry("scan", str(tmp_path), "-f", "jsonl")
    *records, summary = [json.loads(line) for line in done.stdout.splitlines()]
    by_path = {r["locations"][0]["path"]: r for r in records}
    assert by_path["service-2.json"]["suppressed"] == "in an API model's documentation string"
    assert by_path["real.env"]["suppressed"] is None and by_path["real.env"]["rule"] == "azure-sas-token"
    assert summary["findings"] == 1


def test_a_typed_credential_is_found_in_a_notebook_and_under_a_camelcase_name() -> None:
    """A notebook's code is JSON-escaped (\\"…\\"); a keyword written as one word in camelCase
    (codecovToken) is the keyword codecov_token."""
    kid, secret = planted_pair(14)
    cell = f'os.environ["AWS_ACCESS_KEY_ID"] = "{kid}"\nos.environ["AWS_SECRET_ACCESS_KEY"] = "{secret}"\n'
    notebook = json.dumps({"cells": [{"cell_type": "code", "source": cell.splitlines(keepends=True)}]})
    [pair] = [m for m in scan_bytes(notebook.encode()) if not m.suppressed]
    assert (pair.rule_id, pair.key_id, pair.secret_fingerprint) == (
        "aws-access-key",
        kid,
        fingerprint(secret),
    )
    assert pair.decoding == "json-escape"

    token = "".join(random.Random(15).choice(string.hexdigits.lower()[:16]) for _ in range(8))
    uploads = f'const settings = {{ codecovToken: "{token}-1b2c-4d5e-8f90-{token}abcd" }};\n'
    assert [m.rule_id for m in scan_bytes(uploads.encode()) if not m.suppressed] == ["codecov-upload-token"]


def test_the_service_records_a_generic_password_for_triage_and_keeps_no_value(
    settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from helpers import respond
    from keysentry.store.models import Base, Exposure, OutboxMessage

    leak = tmp_path / "leak"
    leak.mkdir()
    (leak / "app.env").write_text(f"DB_PASSWORD={PW}\n")
    responder, _ = respond(settings.model_copy(update={"investigation_delays": []}), leak)
    with responder.store.session() as s:
        [exposure] = s.scalars(sa.select(Exposure)).all()
        assert (exposure.state, exposure.confidence, exposure.credential_type) == (
            "unconfirmed",
            "low",
            "password",
        )
        assert "no issuer's format confirms it" in (exposure.state_reason or "")
        assert s.query(OutboxMessage).count() == 0  # nobody is told about an unconfirmed finding
        for table in Base.metadata.sorted_tables:  # the value is nowhere in the store
            for row in s.execute(sa.select(table)):
                assert PW not in repr(tuple(row)), table.name


def test_a_generic_value_in_documentation_is_an_example_a_typed_key_is_not(tmp_path: Path) -> None:
    token = github_token(random.Random(16))
    (tmp_path / "README.md").write_text(f"Configure:\n\n    DB_PASSWORD={PW}\n    GITHUB_TOKEN={token}\n")
    (tmp_path / ".env.example").write_text(f"SMTP_PASSWORD={PW}x\n")
    (tmp_path / "app.env").write_text(f"DB_PASSWORD={PW}y\n")
    done = run_keysentry("scan", str(tmp_path), "-f", "jsonl", "--min-confidence", "low")
    *records, _ = [json.loads(line) for line in done.stdout.splitlines()]
    by_place = {(r["rule"], r["locations"][0]["path"]): r["suppressed"] for r in records}
    assert by_place == {
        ("github-pat-classic", "README.md"): None,
        ("generic-password", "README.md"): "a generic value in documentation or an example file",
        ("generic-password", ".env.example"): "a generic value in documentation or an example file",
        ("generic-password", "app.env"): None,
    }
