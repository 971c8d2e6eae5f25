"""Facts about AWS access key IDs that need no network call."""

from __future__ import annotations

import base64
import binascii
import hashlib
import tomllib
from functools import cache
from importlib import resources

CREDENTIAL_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA")
# The first body character of an ID that carries its account (the offset bit is set).
ACCOUNT_BEARING_FIRST_CHARS = frozenset("QRSTUVWXYZ234567")
MAX_ACCOUNT = 999_999_999_999


def decode_account(key_id: str) -> str | None:
    """The 12-digit account an access key ID belongs to, or None for older IDs that do not carry it (and
    for made-up IDs whose bits decode to more than 12 digits).

    Current IDs base32-encode the account: take the first 6 bytes of the decoded
    body as a big-endian integer z; the account is ``(z & 0x7FFFFFFFFF80) >> 7``.
    """
    if len(key_id) != 20 or key_id[4] not in ACCOUNT_BEARING_FIRST_CHARS:
        return None
    try:
        raw = base64.b32decode(key_id[4:])
    except (binascii.Error, ValueError):
        return None
    account = (int.from_bytes(raw[:6], "big") & 0x7FFFFFFFFF80) >> 7
    # 40 bits reach 13 digits; an account ID has 12, so a larger value is no account (a made-up key).
    return f"{account:012d}" if account <= MAX_ACCOUNT else None


def key_kind(key_id: str) -> str:
    """What an access key ID stands for, from its prefix."""
    return {
        "AKIA": "long-term",
        "ASIA": "temporary",
        "ABIA": "service-specific",
        "ACCA": "service-specific",
    }.get(key_id[:4], "long-term (old format)" if key_id.startswith("A3T") else "unknown")


def fingerprint(secret: bytes | str) -> str:
    """SHA-256 of a secret, hex.  The only form in which a secret outlives detection."""
    if isinstance(secret, str):
        secret = secret.encode()
    return hashlib.sha256(secret).hexdigest()


@cache
def _canaries() -> dict[str, str]:
    text = resources.files(__package__).joinpath("aws_canary_accounts.toml").read_text(encoding="utf-8")
    return {
        account: group["message"] for group in tomllib.loads(text).values() for account in group["accounts"]
    }


def canary(account_id: str | None) -> str | None:
    """What planted this key, if its account is a known canary (honeytoken) account; no call made."""
    return _canaries().get(account_id) if account_id else None
