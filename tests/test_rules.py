"""Every rule file carries true and false examples, and every example behaves as it says."""

from __future__ import annotations

import re
import string

import pytest

from keysentry.detect import load_rules, scan_bytes

RULES = load_rules()
TRUE_CASES = [(r.id, i, ex) for r in RULES for i, ex in enumerate(r.examples.true)]
FALSE_CASES = [(r.id, i, ex) for r in RULES for i, ex in enumerate(r.examples.false)]


def rule(rule_id: str):
    return next(r for r in RULES if r.id == rule_id)


@pytest.mark.parametrize("rule_id", [r.id for r in RULES])
def test_every_rule_has_at_least_three_true_and_three_false_examples(rule_id: str) -> None:
    r = rule(rule_id)
    assert len(r.examples.true) >= 3, f"{rule_id} needs three true examples"
    assert len(r.examples.false) >= 3, f"{rule_id} needs three false examples"


@pytest.mark.parametrize(
    ("rule_id", "n", "example"), TRUE_CASES, ids=[f"{c[0]}-true-{c[1]}" for c in TRUE_CASES]
)
def test_true_example_is_found_as_a_live_credential(rule_id: str, n: int, example) -> None:
    matches = scan_bytes(example.text.encode(), [rule(rule_id)])
    live = [m for m in matches if m.secret_fingerprint and not m.suppressed]
    assert len(live) == 1, f"expected one live finding, got {[m.key_id for m in live]}"
    if example.id is not None:
        assert live[0].key_id == example.id
    assert live[0].confidence == rule(rule_id).confidence


@pytest.mark.parametrize(
    ("rule_id", "n", "example"), FALSE_CASES, ids=[f"{c[0]}-false-{c[1]}" for c in FALSE_CASES]
)
def test_false_example_is_not_reported_as_a_live_credential(rule_id: str, n: int, example) -> None:
    """Not reported, or (``reported = "low"``: a token failing its checksum, a key whose body does not
    parse) reported only at low confidence, with the rule's reason."""
    matches = scan_bytes(example.text.encode(), [rule(rule_id)])
    live = [m for m in matches if m.secret_fingerprint and not m.suppressed]
    if example.reported == "low":
        assert [(m.confidence, m.confidence_reason) for m in live] == [
            ("low", rule(rule_id).validate_.failing_reason)
        ], example.why
    else:
        assert live == [], example.why


def _other_char(c: str) -> str:
    """A different character of the same kind (upper, lower, digit); anything else is kept."""
    for alphabet in (string.ascii_uppercase, string.ascii_lowercase, string.digits):
        if c in alphabet:
            return alphabet[(alphabet.index(c) + 7) % len(alphabet)]
    return c


@pytest.mark.parametrize("rule_id", [r.id for r in RULES if r.display.prefix_chars])
def test_a_displayed_prefix_is_the_formats_own_never_characters_of_the_secret(rule_id: str) -> None:
    """A finding shows the first ``prefix_chars`` characters of a secret (``ghp_…``): they must be the
    format's fixed prefix.  Changing them must make the value no longer match: if it still matches, they
    are random characters of the secret and would be printed."""
    r = rule(rule_id)
    pattern = re.compile(r.parts["secret"].pattern)
    for example in r.examples.true:
        value = next(pattern.finditer(example.text)).group(1)
        n = r.display.prefix_chars
        changed = "".join(_other_char(c) for c in value[:n]) + value[n:]
        text = example.text.replace(value, changed)
        assert not any(m.group(1) == changed for m in pattern.finditer(text)), (
            f"{rule_id} would print {n} characters of the secret itself"
        )
