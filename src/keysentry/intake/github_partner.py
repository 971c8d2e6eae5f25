"""GitHub's secret scanning partner protocol: the batch GitHub POSTs, its ECDSA signature, the feedback.

GitHub signs the raw body with ECDSA P-256 / SHA-256; ``Github-Public-Key-Identifier`` names the key
and ``Github-Public-Key-Signature`` carries the DER signature in base64.  The keys come from
``https://api.github.com/meta/public_keys/secret_scanning`` (``{"public_keys": [{"key_identifier",
"key", "is_current"}]}``); on the embedded default they are read from a file in that same format.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from keysentry.errors import KeysentryError
from keysentry.intake import bounded_json
from keysentry.intake.bounded_json import TooDeep

KEY_ID_HEADER = "Github-Public-Key-Identifier"
SIGNATURE_HEADER = "Github-Public-Key-Signature"
MAX_BATCH = 1000  # more tokens than GitHub ever sends at once is not a partner request
MAX_TOKEN = 4096


class MalformedReport(KeysentryError):
    """The body is not a batch of partner reports."""


@dataclass(frozen=True)
class PartnerReport:
    """One token GitHub found.  ``token`` is a secret: it is scanned in memory and never stored."""

    token: str
    type: str
    url: str | None
    source: str

    @property
    def token_hash(self) -> str:
        return token_hash(self.token)

    def __repr__(self) -> str:  # never show the token, even in a traceback
        return f"PartnerReport(type={self.type!r}, url={self.url!r}, source={self.source!r}, token='***')"


def token_hash(token: str) -> str:
    """What GitHub's feedback calls ``token_hash``: SHA-256 of the raw token, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def load_public_keys(source: Path | str | dict[str, Any]) -> dict[str, ec.EllipticCurvePublicKey]:
    """GitHub's secret scanning public keys by identifier, from the meta endpoint's JSON (or a file)."""
    data = source if isinstance(source, dict) else json.loads(Path(source).read_text())
    keys: dict[str, ec.EllipticCurvePublicKey] = {}
    for entry in data.get("public_keys", []):
        key = load_pem_public_key(entry["key"].encode())
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            keys[entry["key_identifier"]] = key
    return keys


def signature_is_valid(
    keys: dict[str, ec.EllipticCurvePublicKey], identifier: str | None, signature: str | None, body: bytes
) -> bool:
    """Whether ``signature`` (base64 DER) is the named GitHub key's ECDSA P-256 signature of ``body``."""
    if not identifier or not signature:
        return False
    key = keys.get(identifier)
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def parse_batch(body: bytes) -> list[PartnerReport]:
    """The reports in a partner request body; :class:`MalformedReport` says what is wrong with it."""
    try:
        data = bounded_json.loads(body)
    except TooDeep as exc:
        raise MalformedReport(str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedReport(f"the body is not JSON: {exc}") from None
    if not isinstance(data, list) or not data:
        raise MalformedReport("the body must be a non-empty JSON array of reports")
    if len(data) > MAX_BATCH:
        raise MalformedReport(f"more than {MAX_BATCH} reports in one request")
    reports = []
    for n, item in enumerate(data):
        if not isinstance(item, dict):
            raise MalformedReport(f"report {n} is not an object")
        token, kind, url, source = (item.get(k) for k in ("token", "type", "url", "source"))
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
            raise MalformedReport(
                f"report {n}: token must be a non-empty string of at most {MAX_TOKEN} characters"
            )
        if not isinstance(kind, str) or not kind:
            raise MalformedReport(f"report {n}: type must be a non-empty string")
        if url is not None and not isinstance(url, str):
            raise MalformedReport(f"report {n}: url must be a string")
        if source is not None and not isinstance(source, str):
            raise MalformedReport(f"report {n}: source must be a string")
        reports.append(PartnerReport(token, kind, url, (source or "unknown").lower()))
    return reports
