"""Checks on a captured value: character classes, entropy, documentation examples and placeholders."""

from __future__ import annotations

import math
import re
from collections import Counter

from keysentry.detect.pairing import Span
from keysentry.detect.rules import Context, Part, Rule

CLASS_TESTS = {
    "upper": re.compile(rb"[A-Z]"),
    "lower": re.compile(rb"[a-z]"),
    "digit": re.compile(rb"[0-9]"),
}


def shannon_entropy(value: bytes) -> float:
    """Bits per character."""
    if not value:
        return 0.0
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in Counter(value).values())


def value_passes(part: Part, value: bytes) -> bool:
    if not all(CLASS_TESTS[c].search(value) for c in part.requires_classes):
        return False
    return not (part.min_entropy and shannon_entropy(value) < part.min_entropy)


_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def words(text: str) -> list[str]:
    """The words of a name as people write them, in order and as written: runs of letters split at
    camelCase (``PKCS7PrivateKey`` → PKCS, 7, Private, Key), and runs of digits."""
    return _WORDS.findall(text)


def name_words(name: bytes) -> set[str]:
    """The words of a name, lower-case: ``DB_PASSWORD`` → db, password; ``passwordHash`` →
    password, hash; ``spring.datasource.password`` → spring, datasource, password."""
    return {w.lower() for w in words(name.decode("latin-1"))}


def named_otherwise(context: Context, data: bytes, span: Span) -> bool:
    """The name the value is assigned to says it is not a secret (``password_hash``, ``token_type``)."""
    if not context.reject_name_lists or span.matched_from < 0:
        return False
    return not context.rejected_words.isdisjoint(name_words(data[span.matched_from : span.start]))


def is_example_secret(rule: Rule, secret: bytes) -> bool:
    return any(sub.encode() in secret for sub in rule.suppress.secret_substrings)


def suppression(rule: Rule, key_id: str | None, secret: bytes | None) -> str | None:
    """Why this is not a live credential, or None."""
    s = rule.suppress
    if key_id is not None:
        if any(key_id.endswith(suffix) for suffix in s.key_id_suffixes) or any(
            sub in key_id for sub in s.key_id_substrings
        ):
            return "documentation example key ID"
        if s.min_distinct_body_chars and len(set(key_id[4:])) < s.min_distinct_body_chars:
            return "placeholder key ID"
    if secret is not None:
        if is_example_secret(rule, secret):
            return "documentation example secret"
        lowered = secret.lower()
        if any(lowered == sample.lower().encode() for sample in s.sample_secrets):
            return "well-known sample credential from documentation"
        if any(p.lower().encode() in lowered for p in s.placeholders):
            return "placeholder secret"
        if s.min_distinct_secret_chars and len(set(secret)) < s.min_distinct_secret_chars:
            return "placeholder secret"
    return None
