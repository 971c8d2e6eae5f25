"""Offline checks a candidate must pass before it is reported.

A rule names its checks in ``[validate] checks``; each is a function here that takes the
captured value (as ``str``) and returns True when the value is well formed.  Checks never talk
to the network: they verify what a credential's format promises on its own (a checksum, a
structure), which weeds out placeholders, typos and made-up documentation examples.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import string
import zlib
from collections.abc import Callable

from keysentry.detect.secret_shape import secret_shaped

BASE62_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
BASE36_ALPHABET = string.digits + string.ascii_lowercase


def _encode(number: int, alphabet: str, width: int) -> str:
    """``number`` written in the base of ``alphabet``, left-padded with its zero to ``width``."""
    base = len(alphabet)
    digits = ""
    while number:
        number, remainder = divmod(number, base)
        digits = alphabet[remainder] + digits
    return digits.rjust(width, alphabet[0])


def _crc32(text: str) -> int:
    return zlib.crc32(text.encode("ascii")) & 0xFFFFFFFF


def base62_crc32(text: str) -> str:
    """The six-character base62 CRC32 that GitHub's and npm's prefixed tokens end with."""
    return _encode(_crc32(text), BASE62_ALPHABET, 6)


def _base62_crc32_tail(body: str) -> bool:
    """The last six characters of ``body`` are the base62 CRC32 of the characters before them.

    This is the layout of GitHub's prefixed tokens (``ghp_`` + 30 random + 6 checksum) and of
    npm's granular tokens (``npm_`` + 30 random + 6 checksum).
    """
    if len(body) <= 6 or not body.isascii() or not body.isalnum():
        return False
    return base62_crc32(body[:-6]) == body[-6:]


def github_crc32(value: str) -> bool:
    """``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_`` tokens end in a base62 CRC32 of their body."""
    prefix, sep, body = value.partition("_")
    return bool(sep) and prefix in {"ghp", "gho", "ghu", "ghs", "ghr"} and _base62_crc32_tail(body)


def npm_crc32(value: str) -> bool:
    """``npm_`` tokens end in a base62 CRC32 of their body, as GitHub's do."""
    return value.startswith("npm_") and _base62_crc32_tail(value[4:])


def gitlab_crc32(value: str) -> bool:
    """GitLab routable tokens (``glpat-<payload>.01.<len><crc>``) end in a base36 CRC32.

    The last seven characters are the CRC32 of everything before them, in lower-case base36.
    Legacy tokens (a prefix and 20 random characters, no dot) carry no checksum and pass.
    """
    if "." not in value:
        return True
    head, tail = value[:-7], value[-7:]
    if len(head) < 8 or not all(c in BASE36_ALPHABET for c in tail):
        return False
    return _encode(_crc32(head), BASE36_ALPHABET, 7) == tail


def atlassian_crc32(value: str) -> bool:
    """Atlassian API tokens (``ATATT3…=XXXXXXXX``) end in the CRC32, upper-case hex, of all before it."""
    head, sep, tail = value.rpartition("=")
    if not sep or len(tail) != 8 or not value.startswith("ATATT3"):
        return False
    return f"{_crc32(head + sep):08X}" == tail


# ---- private keys --------------------------------------------------------------------------------

_ARMOR = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)
_ESCAPED_NEWLINE = re.compile(r"\\+[nr]")
_HEADER_LINE = re.compile(r"^[ \t]*[A-Za-z-]+:[^\n]*$", re.MULTILINE)


def _armor(value: str) -> tuple[str, str, bool] | None:
    """The label, the base64 body (newlines, escapes and indentation removed), and whether the
    block carried RFC 1421 headers (``Proc-Type: 4,ENCRYPTED`` …)."""
    m = _ARMOR.search(value)
    if m is None:
        return None
    text = _ESCAPED_NEWLINE.sub("\n", m.group(2)).replace("\r", "")
    headers = bool(_HEADER_LINE.search(text))
    if headers:
        text = _HEADER_LINE.sub("", text)
    return m.group(1), "".join(text.split()), headers


def _b64decode(text: str, *, urlsafe: bool = False) -> bytes | None:
    text = text.rstrip("=")
    text += "=" * (-len(text) % 4)
    try:
        if urlsafe:
            return base64.b64decode(text, altchars=b"-_", validate=True)
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _der_sequence(data: bytes) -> bytes | None:
    """The contents of ``data`` when it is exactly one DER SEQUENCE, else None."""
    if len(data) < 2 or data[0] != 0x30:
        return None
    first = data[1]
    if first < 0x80:
        length, offset = first, 2
    else:
        count = first & 0x7F
        if count == 0 or count > 3 or len(data) < 2 + count:
            return None
        length, offset = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    if offset + length != len(data):
        return None
    return data[offset:]


def pem_body(value: str) -> bool:
    """An unencrypted PEM private key: no headers, and a body that decodes to a DER SEQUENCE
    whose first element is the version INTEGER 0 or 1 (PKCS#1, SEC1, DSA and PKCS#8 all start so)."""
    armor = _armor(value)
    if armor is None or armor[2]:
        return False
    der = _b64decode(armor[1])
    contents = _der_sequence(der) if der is not None else None
    return contents is not None and contents[:3] in (b"\x02\x01\x00", b"\x02\x01\x01")


def pem_armor_unencrypted(value: str) -> bool:
    """PEM armor without encryption headers around a body of real length (a key that does not parse
    is then malformed or truncated, not encrypted: that is the private-key-encrypted rule's)."""
    armor = _armor(value)
    return armor is not None and not armor[2] and len(armor[1]) >= 64 and "..." not in value


_OPENSSH_MAGIC = b"openssh-key-v1\x00"


def _openssh_cipher(value: str) -> bytes | None:
    """The cipher name of an OpenSSH private key (``none`` when unencrypted), or None if malformed."""
    armor = _armor(value)
    if armor is None or armor[0] != "OPENSSH PRIVATE KEY":
        return None
    data = _b64decode(armor[1])
    if data is None or not data.startswith(_OPENSSH_MAGIC):
        return None
    offset = len(_OPENSSH_MAGIC)
    size = int.from_bytes(data[offset : offset + 4], "big")
    cipher = data[offset + 4 : offset + 4 + size]
    if size == 0 or size > 64 or len(cipher) != size:
        return None
    return cipher


def openssh_unencrypted(value: str) -> bool:
    """An OpenSSH private key (``openssh-key-v1``) stored without a passphrase."""
    return _openssh_cipher(value) == b"none"


def private_key_encrypted(value: str) -> bool:
    """A private key protected by a passphrase: PKCS#8 ``ENCRYPTED PRIVATE KEY``, a traditional
    PEM key with ``Proc-Type: 4,ENCRYPTED``, or an OpenSSH key whose cipher is not ``none``."""
    armor = _armor(value)
    if armor is None:
        return False
    label, body, headers = armor
    if label == "OPENSSH PRIVATE KEY":
        cipher = _openssh_cipher(value)
        return cipher is not None and cipher != b"none"
    data = _b64decode(body)
    if data is None:
        return False
    if label == "ENCRYPTED PRIVATE KEY":
        contents = _der_sequence(data)
        return contents is not None and contents[:1] == b"\x30"
    return headers and "4,ENCRYPTED" in value and len(data) % 8 == 0 and len(data) >= 32


_PGP_ARMOR = re.compile(
    r"-----BEGIN PGP PRIVATE KEY BLOCK-----(.*?)-----END PGP PRIVATE KEY BLOCK-----", re.DOTALL
)


def _crc24(data: bytes) -> int:
    """OpenPGP's CRC-24 (RFC 4880, 6.1), the checksum of an armored block's ``=XXXX`` line."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def pgp_secret_key(value: str) -> bool:
    """An armored OpenPGP private key: its body decodes to packets that start with a secret-key packet
    (tag 5), and the armor's CRC-24 line, where there is one, matches the body."""
    m = _PGP_ARMOR.search(value)
    if m is None:
        return False
    text = _ESCAPED_NEWLINE.sub("\n", m.group(1)).replace("\r", "")
    lines = [line.strip() for line in text.split("\n")]
    if "" in lines[1:]:  # the armor headers (Version:, Comment:) end at the first blank line
        lines = lines[lines.index("", 1) + 1 :]
    checksum = next((line[1:] for line in lines if line.startswith("=") and len(line) == 5), None)
    body = "".join(line for line in lines if line and not (line.startswith("=") and len(line) == 5))
    data = _b64decode(body)
    if not data or len(data) < 32:
        return False
    if checksum is not None:
        crc = _b64decode(checksum)
        if crc is None or int.from_bytes(crc, "big") != _crc24(data):
            return False
    tag = data[0]
    if not tag & 0x80:
        return False
    return (tag & 0x3F) == 5 if tag & 0x40 else ((tag >> 2) & 0x0F) == 5


# ---- other structured tokens ---------------------------------------------------------------------


def discord_bot_token(value: str) -> bool:
    """The first segment of a Discord bot token is the bot's numeric user ID (a snowflake), base64."""
    first = value.split(".", 1)[0]
    decoded = _b64decode(first, urlsafe=True)
    return decoded is not None and decoded.isdigit() and 17 <= len(decoded) <= 20


_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _bech32_polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(_BECH32_GENERATOR):
            if (top >> i) & 1:
                checksum ^= generator
    return checksum


def age_bech32(value: str) -> bool:
    """``AGE-SECRET-KEY-1…`` is Bech32: its last six characters are a checksum of the rest."""
    lowered = value.lower()
    hrp, sep, data = lowered.rpartition("1")
    if not sep or not hrp or len(data) < 7 or any(c not in _BECH32_CHARSET for c in data):
        return False
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    return _bech32_polymod(expanded + [_BECH32_CHARSET.index(c) for c in data]) == 1


def grafana_cloud_payload(value: str) -> bool:
    """Grafana Cloud tokens are ``glc_`` and base64 JSON naming the org (``o``) and the key (``k``)."""
    if not value.startswith("glc_"):
        return False
    data = _b64decode(value[4:])
    if data is None:
        return False
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(payload, dict) and "o" in payload and "k" in payload


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "secret-shaped-value": secret_shaped,
    "github-crc32": github_crc32,
    "npm-crc32": npm_crc32,
    "gitlab-crc32": gitlab_crc32,
    "atlassian-crc32": atlassian_crc32,
    "pem-body": pem_body,
    "pem-armor-unencrypted": pem_armor_unencrypted,
    "openssh-unencrypted": openssh_unencrypted,
    "private-key-encrypted": private_key_encrypted,
    "pgp-secret-key": pgp_secret_key,
    "discord-bot-token": discord_bot_token,
    "age-bech32": age_bech32,
    "grafana-cloud-payload": grafana_cloud_payload,
}
