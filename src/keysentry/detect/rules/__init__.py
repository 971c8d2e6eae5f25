"""Credential types as data: one TOML file per type in this folder.

A rule names its parts, each a regular expression with exactly one capturing
group for the value:

* ``secret`` (required): the secret itself.  Hashed the moment it is matched.
* ``id`` (optional): a public identifier that goes with the secret (an AWS key
  ID, a Twilio account SID).  When present it is the anchor the engine looks
  for, and the secret is searched near it (see ``[pairing]``).
* ``token`` (optional, with ``id``): a third part searched near the id the same
  way, such as the session token of a temporary AWS key.

The engine runs every anchor pattern in one automaton pass over a blob, then
confirms each candidate with Python's ``re`` in a window around it.  Patterns
must therefore be written in the subset Python ``re`` and PCRE share (no
possessive quantifiers or atomic groups, no named groups).

Rules also carry keywords (one must occur near the anchor), offline validators
(``detect/validators.py``), what to suppress as a documentation example or
placeholder, and true and false examples that the test suite runs.
The file format is documented in ``docs/rules.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tomllib
from functools import cache
from importlib import resources
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from keysentry.detect import disk_cache
from keysentry.errors import KeysentryError

CHAR_CLASSES = {"upper", "lower", "digit"}
Severity = Literal["critical", "high", "medium", "low"]
SEVERITIES: tuple[str, ...] = get_args(Severity)  # the worst first
# How sure keysentry is that a finding is a real credential (not how bad it would be: that is severity).
# high: a self-identifying format whose checksum or structure holds, or a verified pair; medium: a typed
# rule with no structural check; low: generic, malformed, or failing its format's checksum.
Confidence = Literal["high", "medium", "low"]
CONFIDENCE_RANK: dict[str, int] = {"high": 3, "medium": 2, "low": 1}


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    pattern: str
    requires_classes: tuple[str, ...] = ()
    min_entropy: float = 0.0  # Shannon entropy of the captured value, bits per character
    max_length: int = 512  # longest match in bytes: how far the confirm window reaches
    # What the automaton looks for instead of ``pattern``, when the pattern's lookarounds (which the
    # automaton cannot check) would make it match nearly everywhere: a pattern without lookarounds that
    # starts where ``pattern``'s match starts, or inside the name it begins with, wherever ``pattern``
    # matches.  ``pattern`` is then tried from there only.  The generic rules have one.
    prefilter: str | None = None


class Pairing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_distance_bytes: int = 600
    max_distance_lines: int = 6
    keyword_window_bytes: int = 48
    # Farther than max_distance_bytes, on the id's own line (a dumped environment, minified JSON, one
    # long INI or env line): a secret that a keyword names, with no other id between them.  0: never.
    named_max_distance_bytes: int = 0
    # Farther still, on any line: a secret a keyword names in the id's own JSON object, env block, INI
    # section or YAML mapping, with no other id between them (keysentry.detect.structure).  0: never.
    structure_max_distance_bytes: int = 0
    keywords: tuple[str, ...] = ()  # words that introduce the secret (preferred when several fit)
    token_keywords: tuple[str, ...] = ()  # the same for the optional token part (AWS session tokens)
    unpaired_id_severity: Severity = "medium"  # an ID alone cannot be used: lower than a pair
    report_unpaired_id: bool = False  # report an id seen without its secret (AWS key IDs: yes)


class Suppress(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key_id_substrings: tuple[str, ...] = ()
    key_id_suffixes: tuple[str, ...] = ()
    secret_substrings: tuple[str, ...] = ()  # case-sensitive: documentation examples
    placeholders: tuple[str, ...] = ()  # case-insensitive substrings of the secret: your-key-here …
    min_distinct_body_chars: int = 0  # an id body with fewer distinct characters is a placeholder
    min_distinct_secret_chars: int = 0
    # Whole secrets that documentation uses as samples (SQLAlchemy's scott:tiger, docker's postgres):
    # case-insensitive, the whole value.  Reported as ignored, with the reason.
    sample_secrets: tuple[str, ...] = ()


class Validate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    checks: tuple[str, ...] = ()  # names in keysentry.detect.validators.VALIDATORS
    # A value that fails the checks is dropped, unless this says why it is still worth reporting: then
    # it is a low-confidence finding with this reason ("fails GitHub's checksum, probably a test value").
    failing_reason: str = ""
    # With failing_reason: checks a failing value must still pass to be reported (the rest is dropped),
    # such as "an unencrypted PEM armor" for a key whose body does not parse.
    failing_must_pass: tuple[str, ...] = ()


class Context(BaseModel):
    """What the name a value is assigned to must not say, for a rule whose pattern includes that name
    (``DB_PASSWORD = "…"``, ``<password>…</password>``, ``--token …``).

    The name is the text the pattern matched before the value; it is split into words at ``_ . - :``
    and at camelCase (``passwordHash`` → password, hash), and a value whose name has a word of the
    named lists (in ``detect/name_words.toml``) is not a secret: ``password_hash``, ``tokenType``,
    ``min_password_length``, ``public_key``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reject_name_lists: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _lists_exist(self) -> Context:
        unknown = set(self.reject_name_lists) - set(name_word_lists())
        if unknown:
            raise ValueError(f"[context] names unknown lists {sorted(unknown)}; see detect/name_words.toml")
        return self

    @property
    def rejected_words(self) -> frozenset[str]:
        return _words_of(self.reject_name_lists)


@cache
def _words_of(names: tuple[str, ...]) -> frozenset[str]:
    lists = name_word_lists()
    return frozenset(w for name in names for w in lists[name])


@cache
def name_word_lists() -> dict[str, frozenset[str]]:
    """The word lists of ``detect/name_words.toml``, lower-case."""
    text = resources.files("keysentry.detect").joinpath("name_words.toml").read_text(encoding="utf-8")
    return {name: frozenset(w.lower() for w in words) for name, words in tomllib.loads(text).items()}


class Display(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Without an id part a finding is shown as the first N characters of the secret, which must be
    # a fixed, non-secret prefix ("ghp_", "xoxb-"), then "…" and the fingerprint's first characters.
    prefix_chars: int = 0


class Issuer(BaseModel):
    """Who issued the credential, where its owner rotates it, and how keysentry may revoke it.

    ``revocation`` names a way the issuer offers to revoke a leaked token (the respond room knows how
    to call it): ``github-credentials-revoke``, ``slack-auth-revoke``, ``gitlab-admin-token``.  Without
    one the response is to tell the owner, with ``rotate_url``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    rotate_url: str = Field(pattern=r"^https://")
    revocation: str | None = None


class TrueExample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str
    id: str | None = None  # the id the rule must report, when it has an id part


class FalseExample(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str
    why: str
    # "low": reported, but only as a low-confidence finding (a token failing its checksum); "nothing":
    # not reported at all, nor as an ignored example.
    reported: Literal["nothing", "low"] = "nothing"


class Examples(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    true: tuple[TrueExample, ...] = Field(min_length=3)
    false: tuple[FalseExample, ...] = Field(min_length=3)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    description: str
    credential_type: str
    severity: Severity = "high"
    confidence_: Confidence | None = Field(default=None, alias="confidence")  # None: see .confidence
    # Why every finding of this rule has the confidence it has, when that is not obvious ("a value assigned
    # to a name that says password; no issuer's format confirms it").
    confidence_reason: str | None = None
    keywords: tuple[str, ...] = ()  # case-insensitive; one must occur within keyword_window of the anchor
    keyword_window: int = 256
    # A keyword-anchored rule for secrets no typed rule knows (``password = "…"``): where a typed rule
    # finds the same secret, or a match that overlaps this one, the typed rule's finding is the one kept.
    catch_all: bool = False
    parts: dict[str, Part]
    pairing: Pairing = Field(default_factory=Pairing)
    validate_: Validate = Field(default_factory=Validate, alias="validate")
    suppress: Suppress = Field(default_factory=Suppress)
    display: Display = Field(default_factory=Display)
    context: Context = Field(default_factory=Context)
    issuer: Issuer
    examples: Examples

    @model_validator(mode="after")
    def _parts_are_known(self) -> Rule:
        if "secret" not in self.parts:
            raise ValueError("a rule needs a 'secret' part")
        unknown = set(self.parts) - {"secret", "id", "token"}
        if unknown:
            raise ValueError(f"unknown parts {sorted(unknown)}; use 'secret', optionally 'id' and 'token'")
        if "token" in self.parts and "id" not in self.parts:
            raise ValueError("a 'token' part goes with an 'id' part")
        for name, part in self.parts.items():
            if set(part.requires_classes) - CHAR_CLASSES:
                raise ValueError(f"part {name}: unknown character classes; use {sorted(CHAR_CLASSES)}")
        if self.context.reject_name_lists and "id" in self.parts:
            raise ValueError("[context] goes with a rule that has only a 'secret' part")
        if self.validate_.failing_must_pass and not self.validate_.failing_reason:
            raise ValueError("[validate] failing_must_pass goes with failing_reason")
        if any(e.reported == "low" for e in self.examples.false) and not self.validate_.failing_reason:
            raise ValueError("a false example reported as 'low' needs [validate] failing_reason")
        if "id" in self.parts:
            missing = [e.text[:40] for e in self.examples.true if e.id is None]
            if missing:
                raise ValueError(f"true examples of a rule with an id part must name the id: {missing}")
        return self

    @property
    def confidence(self) -> Confidence:
        """A match's confidence when its checks pass: as the rule says, else high with a structural
        check (a checksum, a DER body) and medium without."""
        if self.confidence_ is not None:
            return self.confidence_
        return "high" if self.validate_.checks else "medium"

    @property
    def anchor(self) -> str:
        """The part the automaton looks for."""
        return "id" if "id" in self.parts else "secret"


class RuleError(KeysentryError):
    """A rule file is malformed."""


def parse_rule(text: str, source: str = "<rule>") -> Rule:
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"rule file {source}: {exc}") from exc
    return _validated(table, source)


def _validated(table: dict[str, Any], source: str) -> Rule:
    try:
        return Rule.model_validate(table)
    except ValidationError as exc:
        raise RuleError(f"rule file {source}: {exc}") from exc


def _tables(files: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    """The rule files parsed: TOML is parsed in Python (a tenth of a second for 200 files), so the
    tables are kept in the cache folder as JSON, named after a digest of every file's name and bytes."""
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode() + b"\0" + data + b"\0")
    key = f"rules-{digest.hexdigest()[:40]}.json"
    kept = disk_cache.read(key)
    if kept is not None:
        try:
            tables = json.loads(kept)
            if isinstance(tables, list) and len(tables) == len(files):
                return tables
        except ValueError:
            pass
    tables = []
    for name, data in files:
        try:
            tables.append(tomllib.loads(data.decode("utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise RuleError(f"rule file {name}: {exc}") from exc
    with contextlib.suppress(TypeError):  # a TOML value JSON cannot hold (a date): parsed each time
        disk_cache.write(key, json.dumps(tables).encode())
    return tables


@cache
def load_rules() -> tuple[Rule, ...]:
    """Every bundled rule, validated; a broken rule file is a clear error, not a silent skip."""
    folder = resources.files(__package__)
    entries = sorted((e for e in folder.iterdir() if e.name.endswith(".toml")), key=lambda e: e.name)
    files = [(e.name, e.read_bytes()) for e in entries]
    rules = []
    for (name, _), table in zip(files, _tables(files), strict=True):
        rule = _validated(table, name)
        if rule.id != name.removesuffix(".toml"):
            raise RuleError(f"rule file {name}: its id is {rule.id!r}; name the file after the id")
        rules.append(rule)
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise RuleError(f"duplicate rule ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    return tuple(rules)


@cache
def _rules_by_id() -> dict[str, Rule]:
    return {r.id: r for r in load_rules()}


def rule_by_id(rule_id: str) -> Rule | None:
    """A bundled rule by its id (None for a rule that is no longer bundled)."""
    return _rules_by_id().get(rule_id)


@cache
def catch_all_rule_ids() -> frozenset[str]:
    """The bundled generic rules' ids (``catch_all``)."""
    return frozenset(r.id for r in load_rules() if r.catch_all)
