"""Logs: JSON Lines with structured fields for a log pipeline, and no secret ever written, even when a
library quotes one in a message or an exception."""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import key_for, secret_for
from keysentry.app.logs import configure_logging


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "keysentry.log"
    yield path
    configure_logging("INFO", None)


def test_json_lines_carry_structured_fields(log_file: Path) -> None:
    configure_logging("INFO", log_file, "json")
    logging.getLogger("keysentry.test").info(
        "exposure %d contained", 7, extra={"exposure_id": 7, "account": "111122223333"}
    )
    logging.getLogger("keysentry.test").debug("below the level")
    [entry] = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert entry["message"] == "exposure 7 contained" and entry["level"] == "INFO"
    assert entry["exposure_id"] == 7 and entry["account"] == "111122223333"
    assert entry["logger"] == "keysentry.test" and entry["time"].endswith("+00:00")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_secret_never_reaches_the_log(log_file: Path, log_format: str) -> None:
    rng = random.Random(11)
    kid, secret = key_for("123456789012", rng), secret_for(rng)
    configure_logging("INFO", log_file, log_format)
    log = logging.getLogger("keysentry.test")
    log.warning("upstream said: aws_access_key_id=%s aws_secret_access_key=%s", kid, secret)
    try:
        raise ValueError(f"bad body: AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret}")
    except ValueError:
        log.exception("request failed")
    text = log_file.read_text()
    assert secret not in text
    assert kid in text  # the key ID is what people need to act on
    assert text.count(f"[secret sha256:{hashlib.sha256(secret.encode()).hexdigest()[:16]}]") == 2


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_hostile_path_cannot_forge_a_log_line_or_send_an_escape(log_file: Path, log_format: str) -> None:
    configure_logging("INFO", log_file, log_format)
    path = "a.env\n2026-12-04 00:00:00,000 INFO keysentry.respond exposure 1 closed\x1b[2J\u202e"
    logging.getLogger("keysentry.test").warning("skipped %s", path)
    lines = log_file.read_text().splitlines()
    assert len(lines) == 1, lines
    assert "\x1b" not in lines[0] and "\u202e" not in lines[0]
    if log_format == "json":
        assert json.loads(lines[0])["message"] == f"skipped {path}"  # JSON keeps it, escaped
