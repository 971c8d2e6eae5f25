"""Whether a value assigned to a secret-sounding name looks like a literal secret.

The generic rules (``generic-password``, ``generic-secret``) find ``password = "…"``, ``token: …``,
``<password>…</password>`` and ``--password …`` wherever they are written.  Most such values in real
code are not secrets at all: a variable (``password = self.password``), a call
(``token = get_token()``), a template (``${DB_PASSWORD}``, ``{{ .Values.password }}``), a path to a
key file, an e-mail address, a word, or a placeholder a person wrote for others to replace
(``changeme``, ``<your-token>``, ``xxxxxxxx``).  This check keeps what is left: a literal with enough
different characters, of more than one kind, none of the stop words in ``secret_shape.toml``.

It is the same idea as detect-secrets' keyword plugin (quoted literals, a list of false positives)
and gitleaks' generic rule (an entropy floor, stop words), written for our engine: the name is
checked by the rule's ``[context]``, the value here.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources

from keysentry.detect.checks import shannon_entropy, words

MIN_LENGTH = 8
MIN_ENTROPY = 3.0  # bits per character: "Summer2024!" has 3.3, "hunter22" 2.75, "aaaabbbb" 1.0
MIN_DISTINCT = 6

_CALL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\(")
_REFERENCE = re.compile(
    r"[A-Za-z_$][A-Za-z0-9_$]*(?:(?:\.|::|->|\?\.)[A-Za-z_$][A-Za-z0-9_$]*)+(?:\[[^\]]*\]|\(\))?"
)
_INDEXED = re.compile(r"[A-Za-z_$][A-Za-z0-9_.$]*\[")
_WORDS_ONLY = re.compile(r"[A-Za-z_:.-]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_EMAIL = re.compile(r"[^@\s]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PATH = re.compile(r"(?:[~.]{0,2}/)?(?:[A-Za-z0-9_.@-]+/)+[A-Za-z0-9_.@-]*")
_FILE = re.compile(
    r"\.(?:txt|pem|key|crt|cer|der|csr|pub|json|ya?ml|xml|ini|cfg|conf|env|properties|p12|pfx|jks|"
    r"keystore|py|js|ts|go|rb|java|php|html?|md|sh|log|gpg|asc|sql|db|sqlite|lock|tmp)$"
)
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_UPPER, _LOWER, _DIGIT = re.compile(r"[A-Z]"), re.compile(r"[a-z]"), re.compile(r"[0-9]")
_OTHER = re.compile(r"[^A-Za-z0-9]")


@cache
def _stop_lists() -> tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]:
    text = resources.files(__package__).joinpath("secret_shape.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    return (
        tuple(data["markers"]),
        tuple(w.lower() for w in data["stop_words"]),
        frozenset(w.lower() for w in data["whole_values"]),
    )


def _kinds(value: str) -> int:
    return sum(1 for r in (_UPPER, _LOWER, _DIGIT, _OTHER) if r.search(value))


def _is_code(value: str) -> bool:
    """A variable, an attribute, an index, a call or a type, not a literal."""
    return bool(
        _CALL.search(value)
        or _REFERENCE.fullmatch(value)
        or _INDEXED.match(value)
        or _WORDS_ONLY.fullmatch(value)
        or _is_a_type_name(value)
    )


def _is_a_type_name(value: str) -> bool:
    """An identifier made of words (``PKCS7PrivateKeyTypes``, ``OAuth2AuthorizationCodeGrant``): a
    random secret splits into runs of one or two letters, names into words."""
    if not _IDENTIFIER.fullmatch(value):
        return False
    runs = [w for w in words(value) if w.isalpha()]
    return bool(runs) and sum(map(len, runs)) / len(runs) >= 4


def _is_a_name_for_something_else(value: str) -> bool:
    """An e-mail address, a path or a file name: where a secret is, not the secret."""
    if _EMAIL.fullmatch(value) or _FILE.search(value.lower()):
        return True
    return bool(_PATH.fullmatch(value)) and _kinds(value.replace("/", "")) < 3


def secret_shaped(value: str) -> bool:
    """True when ``value`` could be a literal secret rather than code, a template or a placeholder."""
    if len(value) < MIN_LENGTH or value[0] in "$%@&*#<>{[(/\\.:;|=,?^~!":
        return False
    markers, stop_words, whole_values = _stop_lists()
    lowered = value.lower()
    if lowered in whole_values or any(m in value for m in markers) or "://" in value:
        return False
    if lowered.startswith("arn:") or _UUID.fullmatch(value):
        return False  # a resource name; a UUID is an ID or an idempotency token far more often than a key
    if _PERCENT_ESCAPE.search(value):
        return False  # URL-encoded: the engine's URL-decoding pass sees the value itself
    if not re.search(r"[A-Za-z]", value) or _is_code(value) or _is_a_name_for_something_else(value):
        return False
    if any(w in lowered for w in stop_words):
        return False
    bits = shannon_entropy(value.encode("latin-1", "replace"))  # the engine's values are latin-1 text
    return len(set(value)) >= MIN_DISTINCT and _kinds(value) >= 2 and bits >= MIN_ENTROPY
