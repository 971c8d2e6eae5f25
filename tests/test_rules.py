"""Every rule file carries true and false examples, and every example behaves as it says."""

from __future__ import annotations

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
