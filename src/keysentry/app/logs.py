"""Logging to stderr (warnings and worse) and optionally a file, as text for people or as JSON Lines
for a log pipeline (``log_format = "json"``): one object a line with ``time``, ``level``, ``logger``,
``message``, the thread, any structured ``extra`` fields, and the traceback of an exception.

keysentry never holds a leaked secret after detection, so nothing should need scrubbing.  All the same,
every record passes the detection engine before it is written, and any secret it recognises is
replaced by its SHA-256 fingerprint: a secret in a third-party library's error message (an HTTP body
quoted in an exception, say) does not reach the log either.  The test suite checks logs for planted
secrets."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keysentry.escaping import printable

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Attributes every LogRecord has: anything else on a record came from ``extra`` and is structured data.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
MIN_SECRET_LENGTH = 16


class TextFormatter(logging.Formatter):
    """One line a record for people: a message's control characters (a leaked path's escape sequence, a
    newline that would forge a record of its own) are shown as escapes; tracebacks keep their lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "thread": record.threadName,
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info or record.exc_text:  # the text the redacting filter has already seen
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
        return json.dumps(entry, default=str)


def _secrets_in(text: str) -> set[str]:
    """Secrets the detection engine recognises in ``text`` (the engine hands each to its verifier)."""
    from keysentry.detect.scanner import engine_for  # the engine loads once, on first use

    found: set[str] = set()

    def collect(_type: str, _key_id: str, secret: bytes, _token: bytes | None) -> None:
        found.add(secret.decode("utf-8", "replace"))

    engine_for().scan(text.encode("utf-8", "replace"), verify=collect)
    return {s for s in found if len(s) >= MIN_SECRET_LENGTH}


def _mask(secret: str) -> str:
    return f"[secret sha256:{hashlib.sha256(secret.encode()).hexdigest()[:16]}]"


def redact_secrets(text: str) -> str:
    """``text`` with every credential secret the detection engine recognises replaced by its
    fingerprint (for anything printed that might quote one: a log record, an effective configuration)."""
    for secret in _secrets_in(text):
        text = text.replace(secret, _mask(secret))
    return text


class RedactSecrets(logging.Filter):
    """Replace any credential secret in a record (its message, and its traceback) by its fingerprint."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in _secrets_in(message + "\n" + (record.exc_text or "")):
            message = message.replace(secret, _mask(secret))
            record.exc_text = (record.exc_text or "").replace(secret, _mask(secret)) or None
        record.msg, record.args = message, None
        return True


def configure_logging(level: str = "INFO", log_file: Path | None = None, log_format: str = "text") -> None:
    root = logging.getLogger("keysentry")
    root.setLevel(level.upper())
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    formatter = JsonFormatter() if log_format == "json" else TextFormatter(FORMAT)
    stream = logging.StreamHandler()
    stream.setLevel(logging.WARNING)
    handlers: list[logging.Handler] = [stream]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactSecrets())
        root.addHandler(handler)
    # botocore logs request bodies at DEBUG; keep it quiet whatever our level is.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
