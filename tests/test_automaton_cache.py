"""The compiled automaton and the parsed rule files are kept between runs, never loaded stale or
damaged, and never required."""

from __future__ import annotations

from pathlib import Path

import hyperscan
import pytest

from keysentry.detect import automaton_cache, disk_cache
from keysentry.detect.engine import Engine
from keysentry.detect.rules import load_rules

PAIR = (
    b"aws_access_key_id = AKIAWQ7672VSXKNGZL34\n"
    b"aws_secret_access_key = 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\n"
)
EXPRESSIONS, FLAGS = [b"AKIA[A-Z2-7]{16}", b"ghp_[A-Za-z0-9]{36}"], [0, 0]


def counting_compiler() -> tuple[list[int], object]:
    calls: list[int] = []

    def compile_() -> hyperscan.Database:
        calls.append(1)
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        db.compile(expressions=EXPRESSIONS, ids=[0, 1], flags=FLAGS)
        return db

    return calls, compile_


def hits(db: hyperscan.Database, data: bytes) -> list[int]:
    found: list[int] = []
    db.scan(data, match_event_handler=lambda i, *_: found.append(i), scratch=hyperscan.Scratch(db))
    return found


def test_a_second_run_loads_what_the_first_compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYSENTRY_CACHE_DIR", str(tmp_path))
    calls, compile_ = counting_compiler()
    first = automaton_cache.database(EXPRESSIONS, FLAGS, compile_)  # type: ignore[arg-type]
    second = automaton_cache.database(EXPRESSIONS, FLAGS, compile_)  # type: ignore[arg-type]
    assert len(calls) == 1 and len(list(tmp_path.glob("automaton-*.hsdb"))) == 1
    assert hits(first, b"x AKIAWQ7672VSXKNGZL34 y") == hits(second, b"x AKIAWQ7672VSXKNGZL34 y") == [0]
    # Another set of expressions (a rule changed) is another file, never the old database.
    other = automaton_cache.database([EXPRESSIONS[1]], [0], compile_)  # type: ignore[arg-type]
    assert len(calls) == 2 and len(list(tmp_path.glob("automaton-*.hsdb"))) == 2
    assert other is not None


def test_a_damaged_cache_is_compiled_again_and_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYSENTRY_CACHE_DIR", str(tmp_path))
    calls, compile_ = counting_compiler()
    automaton_cache.database(EXPRESSIONS, FLAGS, compile_)  # type: ignore[arg-type]
    [path] = tmp_path.glob("automaton-*.hsdb")
    for damage in (path.read_bytes()[:-100], path.read_bytes()[:40] + b"\xff" * 64, b""):
        path.write_bytes(damage)
        db = automaton_cache.database(EXPRESSIONS, FLAGS, compile_)  # type: ignore[arg-type]
        assert hits(db, b"ghp_" + b"a1B2" * 9) == [1]
    assert len(calls) == 4
    assert disk_cache.read(path.name) is not None  # rewritten whole


def test_without_a_writable_cache_the_engine_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    for setting in (str(blocked / "cache"), "off"):
        monkeypatch.setenv("KEYSENTRY_CACHE_DIR", setting)
        [match] = Engine(load_rules()).scan(PAIR)
        assert match.key_id == "AKIAWQ7672VSXKNGZL34" and match.kind == "pair"
    assert blocked.read_text() == ""


def test_the_rules_are_parsed_once_and_a_changed_or_damaged_copy_is_never_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEYSENTRY_CACHE_DIR", str(tmp_path))
    load_rules.cache_clear()
    try:
        first = load_rules()
        [kept] = tmp_path.glob("rules-*.json")
        load_rules.cache_clear()
        assert load_rules() == first  # read back from the cache
        kept.write_bytes(kept.read_bytes()[:-50])  # damaged: parsed again, rewritten whole
        load_rules.cache_clear()
        assert load_rules() == first and disk_cache.read(kept.name) is not None
    finally:
        load_rules.cache_clear()
