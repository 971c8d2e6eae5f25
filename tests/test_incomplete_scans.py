"""A damaged input never reads as clean: what could not be read is named, everything readable is still
scanned, and the scan says it is incomplete in every output and in its exit code (2)."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from helpers import KEYSENTRY, commit_file, git, jsonl_records, key_for, secret_for

pytestmark = pytest.mark.timeout(120)


def scan(target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KEYSENTRY, "scan", str(target), *args], capture_output=True, text=True, check=False
    )


def drop_object(repo: Path, oid: str) -> None:
    """Delete a loose object, as a broken mirror or a partial clone leaves it."""
    (repo / ".git" / "objects" / oid[:2] / oid[2:]).unlink()


@pytest.fixture
def broken_history(tmp_path: Path) -> tuple[Path, str, list[str]]:
    """Three files whose blobs are gone, then a commit that leaks a key pair (read after them)."""
    repo = tmp_path / "mirror"
    repo.mkdir()
    git(repo, "init", "-q")
    for n in range(3):
        commit_file(repo, f"notes/n{n}.txt", f"note {n}\n", f"note {n}")
    rng = random.Random(7)
    kid = key_for("123456789012", rng)
    commit_file(
        repo, "deploy.env", f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret_for(rng)}\n", "deploy"
    )
    gone = [git(repo, "rev-parse", f"HEAD:notes/n{n}.txt").strip() for n in range(3)]
    for oid in gone:
        drop_object(repo, oid)
    return repo, kid, gone


def test_missing_blobs_do_not_end_the_walk_and_the_scan_says_it_is_incomplete(broken_history) -> None:
    repo, kid, gone = broken_history
    done = scan(repo, "--format", "jsonl")
    assert done.returncode == 2, done.stderr  # incomplete, although a credential was found
    findings, summary = jsonl_records(done.stdout)
    assert [f["key_id"] for f in findings] == [kid]
    assert summary["complete"] is False
    assert sorted(u["reason"].split()[1] for u in summary["unreadable"]) == sorted(gone)
    assert "INCOMPLETE: 3 input(s) could not be read" in done.stderr


def test_the_text_and_sarif_outputs_say_so_too(broken_history, tmp_path: Path) -> None:
    repo, kid, gone = broken_history
    text = scan(repo)
    assert text.returncode == 2
    assert kid in text.stdout and "INCOMPLETE" in text.stdout
    assert all("could not read" in text.stdout and oid in text.stdout for oid in gone)
    out = tmp_path / "scan.sarif"
    sarif = scan(repo, "--format", "sarif", "--output", str(out))
    assert sarif.returncode == 2 and "INCOMPLETE" in sarif.stderr
    [run] = json.loads(out.read_text())["runs"]
    [invocation] = run["invocations"]
    assert invocation["executionSuccessful"] is False
    errors = [n for n in invocation["toolExecutionNotifications"] if n["level"] == "error"]
    assert len(errors) == 3 and all(any(oid in e["message"]["text"] for oid in gone) for e in errors)
    assert [r["ruleId"] for r in run["results"]] == ["aws-access-key"]


def test_a_missing_tree_is_named_and_the_rest_of_the_history_is_read(tmp_path: Path) -> None:
    repo = tmp_path / "mirror"
    repo.mkdir()
    git(repo, "init", "-q")
    commit_file(repo, "lib/a.txt", "a\n", "lib")
    tree = git(repo, "rev-parse", "HEAD:lib").strip()
    git(repo, "rm", "-q", "-r", "lib")
    git(repo, "commit", "-q", "-m", "drop lib")
    rng = random.Random(8)
    kid = key_for("123456789012", rng)
    commit_file(repo, "app.env", f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret_for(rng)}\n", "app")
    drop_object(repo, tree)
    done = scan(repo, "--format", "jsonl")
    assert done.returncode == 2
    findings, summary = jsonl_records(done.stdout)
    assert [f["key_id"] for f in findings] == [kid]
    assert any(tree in u["reason"] for u in summary["unreadable"])


def _truncated_tar() -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"hello\n" * 2000
        info = tarfile.TarInfo("a.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()[:3000]


def test_a_truncated_archive_makes_the_scan_incomplete(tmp_path: Path) -> None:
    folder = tmp_path / "dist"
    folder.mkdir()
    (folder / "pkg-1.0.tar").write_bytes(_truncated_tar())
    done = scan(folder, "--format", "jsonl")
    assert done.returncode == 2, done.stdout
    findings, summary = jsonl_records(done.stdout)
    assert findings == [] and summary["complete"] is False
    assert "corrupt" in summary["unreadable"][0]["reason"]


def test_what_was_left_out_on_purpose_does_not_make_a_scan_incomplete(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("x" * 5000)
    (tmp_path / "image.bin").write_bytes(b"\x00\x01\x02" * 100)
    done = scan(tmp_path, "--format", "jsonl", "--max-file-size", "1000")
    assert done.returncode == 0, done.stdout
    findings, summary = jsonl_records(done.stdout)
    assert findings == [] and summary["complete"] is True and summary["skipped"] == 2


class FlakyMirror:
    """A watcher whose first poll meets a missing object, and whose second reads everything."""

    name = "mirror"

    def __init__(self) -> None:
        self.seen: list[dict] = []

    def poll(self, state: dict):  # type: ignore[no-untyped-def]
        from keysentry.content import Provenance, Skipped
        from keysentry.detect.scanner import ScanReport
        from keysentry.watch.base import WatchPoll

        self.seen.append(dict(state))
        damaged = [
            Skipped(Provenance("git", repository="r", blob="ab12"), "object ab12 is missing", damaged=True)
        ]
        report = ScanReport(skipped=damaged if len(self.seen) == 1 else [])
        return WatchPoll(report, 60.0, "polled", {"tip": len(self.seen)}, items=1)


def test_an_incomplete_poll_keeps_the_watchers_cursor_where_it_was(tmp_path: Path) -> None:
    from keysentry.store import open_store
    from keysentry.store.cursors import Cursors
    from keysentry.watch.runner import WatchRunner

    store = open_store(f"sqlite:///{tmp_path / 'k.db'}")
    recorded = []
    watcher = FlakyMirror()
    runner = WatchRunner([watcher], Cursors(store), lambda _w, poll: recorded.append(poll))
    runner.poll(watcher)  # type: ignore[arg-type]
    assert Cursors(store).get("mirror") == {} and runner.incomplete == {"mirror": 1}
    runner.poll(watcher)  # type: ignore[arg-type]  # reads the same range again, completely this time
    assert watcher.seen == [{}, {}]
    assert Cursors(store).get("mirror") == {"tip": 2}
    assert len(recorded) == 2  # what each poll found was handed on, incomplete or not
    store.dispose()


def test_an_unreadable_inputs_hostile_name_is_shown_inert(tmp_path: Path) -> None:
    """The name of what could not be read comes from whoever published it: escape sequences, markup and
    chat mentions print as text."""
    folder = tmp_path / "dist"
    folder.mkdir()
    name = '"><script>alert(1)<!channel>\x1b[2J[bold]x.tar'
    (folder / name).write_bytes(_truncated_tar())
    done = scan(folder)
    assert done.returncode == 2
    assert "\x1b" not in done.stdout and "could not read" in done.stdout
    assert "[bold]x" in done.stdout and "<script>" in done.stdout  # markup shown, not applied
