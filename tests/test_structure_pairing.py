"""Pairing follows structure, not a byte window: an AWS key ID and the secret its key names, in one JSON
object, env block, INI section or YAML mapping, are paired however many lines lie between them; in two
different ones, they are not."""

from __future__ import annotations

import json
import random

from helpers import key_for, secret_for
from keysentry.detect.aws_keys import fingerprint
from keysentry.detect.scanner import scan_bytes

RNG = random.Random(2026)
KEY_ID, SECRET = key_for("123456789012", RNG), secret_for(RNG)
OTHER_SECRET = secret_for(RNG)


def found(text: str) -> dict[str, str]:
    """Key ID → the SHA-256 of the secret paired with it ("" for none), for the AWS key rule."""
    return {
        m.key_id: m.secret_fingerprint for m in scan_bytes(text.encode()) if m.rule_id == "aws-access-key"
    }


def paired(text: str) -> bool:
    return found(text) == {KEY_ID: fingerprint(SECRET.encode())}


def alone(text: str) -> bool:
    return found(text) == {KEY_ID: ""}


def settings(n: int, indent: str = "", sep: str = "=") -> str:
    return "".join(f"{indent}SETTING_{i}{sep}{'value-' * 3}{i}\n" for i in range(n))


def test_a_pretty_printed_json_object_pairs_its_id_and_secret_hundreds_of_lines_apart() -> None:
    document = {
        "AccessKeyId": KEY_ID,
        **{f"field{i}": {"nested": [i, {"deeper": "x" * 20}]} for i in range(300)},
        "SecretAccessKey": SECRET,
    }
    text = json.dumps({"Credentials": document}, indent=2)
    assert text.count("\n") > 1000
    assert paired(text)
    # Minified, as an escaped string inside another document (a Terraform state, a CloudFormation output).
    assert paired(json.dumps({"outputs": json.dumps({"Credentials": document})}))


def test_secrets_of_other_json_objects_are_not_taken() -> None:
    """The ID's object has no secret; the next object, far away, has one: they are not a pair."""
    filler = {f"field{i}": "y" * 30 for i in range(200)}
    text = json.dumps(
        [{"AccessKeyId": KEY_ID, **filler}, {"name": "other", **filler, "client_secret": OTHER_SECRET}],
        indent=2,
    )
    assert alone(text)


def test_an_env_file_pairs_the_id_at_the_top_with_the_secret_at_the_bottom() -> None:
    text = (
        f"# production\nAWS_ACCESS_KEY_ID={KEY_ID}\n"
        + settings(200)
        + f"\nexport AWS_SECRET_ACCESS_KEY={SECRET}\n"
    )
    assert paired(text)


def test_code_between_two_assignments_ends_the_block() -> None:
    text = (
        f'AWS_ACCESS_KEY_ID = "{KEY_ID}"\n\n\ndef handler(event, context):\n'
        + "".join(f"    step_{i} = work({i})\n" for i in range(200))
        + f'    return {{"secret": "{SECRET}"}}\n'
    )
    assert alone(text)


def test_an_ini_section_pairs_across_its_settings_but_not_across_sections() -> None:
    own = (
        f"[profile prod]\naws_access_key_id = {KEY_ID}\n"
        + settings(150, sep=" = ")
        + f"aws_secret_access_key = {SECRET}\n"
    )
    assert paired(own)
    split = f"[profile prod]\naws_access_key_id = {KEY_ID}\n" + settings(150, sep=" = ")
    split += f"[profile dev]\naws_secret_access_key = {SECRET}\n"
    assert alone(split)


def test_a_yaml_mapping_pairs_its_keys_but_not_a_sibling_mapping() -> None:
    nested = "    tags:\n" + settings(40, indent="      ", sep=": ")
    own = (
        "environments:\n  staging:\n"
        f"    aws_access_key_id: {KEY_ID}\n"
        + settings(120, indent="    ", sep=": ")
        + nested
        + f"    aws_secret_access_key: {SECRET}\n"
    )
    assert paired(own)
    sibling = (
        "environments:\n  staging:\n"
        f"    aws_access_key_id: {KEY_ID}\n"
        + settings(120, indent="    ", sep=": ")
        + f"  production:\n    aws_secret_access_key: {SECRET}\n"
    )
    assert alone(sibling)
    listed = (
        "accounts:\n"
        f"  - aws_access_key_id: {KEY_ID}\n"
        + settings(60, indent="    ", sep=": ")
        + f"    aws_secret_access_key: {SECRET}\n"
        f"  - name: other\n" + settings(60, indent="    ", sep=": ")
    )
    assert paired(listed)
    next_item = f"accounts:\n  - aws_access_key_id: {KEY_ID}\n" + settings(60, indent="    ", sep=": ")
    next_item += f"  - aws_secret_access_key: {SECRET}\n"
    assert alone(next_item)


def test_a_secret_with_another_id_between_belongs_to_that_id() -> None:
    """Two keys of one block, each ID far from the one secret: the secret goes to the ID it follows
    with no other ID between them, and the first ID stays alone."""
    other = key_for("123456789012", RNG)
    text = (
        f"FIRST_AWS_ACCESS_KEY_ID={KEY_ID}\n"
        + settings(100)
        + f"SECOND_AWS_ACCESS_KEY_ID={other}\n"
        + settings(100)
        + f"SECOND_AWS_SECRET_ACCESS_KEY={SECRET}\n"
    )
    assert found(text) == {KEY_ID: "", other: fingerprint(SECRET.encode())}
