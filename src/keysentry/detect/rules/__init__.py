"""Credential types as data: one TOML file per type in this folder.

A rule names its parts (each a regular expression with one capturing group),
how two parts pair up, what to suppress as a documentation example or
placeholder, and true and false examples that the test suite runs.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from keysentry.errors import KeysentryError

CHAR_CLASSES = {"upper", "lower", "digit"}


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pattern: str
    requires_classes: list[str] = Field(default_factory=list)


class Pairing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_distance_bytes: int = 600
    max_distance_lines: int = 6
    keyword_window_bytes: int = 48
    keywords: list[str] = Field(default_factory=list)


class Suppress(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_id_suffixes: list[str] = Field(default_factory=list)
    secret_substrings: list[str] = Field(default_factory=list)
    min_distinct_body_chars: int = 0


class TrueExample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    key_id: str


class FalseExample(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    why: str


class Examples(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    true: list[TrueExample]
    false: list[FalseExample]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    description: str
    credential_type: str
    parts: dict[str, Part]
    pairing: Pairing = Field(default_factory=Pairing)
    suppress: Suppress = Field(default_factory=Suppress)
    examples: Examples


class RuleError(KeysentryError):
    """A rule file is malformed."""


@cache
def load_rules() -> tuple[Rule, ...]:
    """Every bundled rule, validated; a broken rule file is a clear error, not a silent skip."""
    rules = []
    folder = resources.files(__package__)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        try:
            rule = Rule.model_validate(tomllib.loads(entry.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, ValidationError) as exc:
            raise RuleError(f"rule file {entry.name}: {exc}") from exc
        for part in rule.parts.values():
            unknown = set(part.requires_classes) - CHAR_CLASSES
            if unknown:
                raise RuleError(f"rule file {entry.name}: unknown character classes {sorted(unknown)}")
        rules.append(rule)
    return tuple(rules)
