"""GitHub's public events, polled the way GitHub asks: ETag (a 304 costs nothing), X-Poll-Interval,
rate limits waited out without losing a commit; every pushed commit read through the commits API and
its new lines scanned at their line numbers, files without a patch read whole from the blobs API."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from helpers import planted_pair
from keysentry.errors import SourceError
from keysentry.store import open_store
from keysentry.store.cursors import Cursors
from keysentry.watch.github_events import GitHubEventsWatch, new_side
from keysentry.watch.runner import WatchRunner
from public_sources import PublicSource, Reply, Request, json_reply, zip_bytes

REPO = "octocat/Hello-World"


@pytest.fixture
def github(public_source: PublicSource) -> PublicSource:
    return public_source


def sha(n: int) -> str:
    return f"{n:040x}"


def push_event(event_id: int, commits: list[str] | None, head: str, before: str = sha(999)) -> dict:
    payload: dict = {
        "repository_id": 1296269,
        "push_id": 10115855396,
        "ref": "refs/heads/main",
        "head": head,
        "before": before,
    }
    if commits is not None:
        payload.update(
            size=len(commits),
            distinct_size=len(commits),
            commits=[
                {
                    "sha": c,
                    "author": {"email": "octocat@github.com", "name": "Monalisa Octocat"},
                    "message": "change",
                    "distinct": True,
                    "url": f"https://api.github.com/repos/{REPO}/commits/{c}",
                }
                for c in commits
            ],
        )
    return {
        "id": str(event_id),
        "type": "PushEvent",
        "actor": {"id": 583231, "login": "octocat", "url": "https://api.github.com/users/octocat"},
        "repo": {"id": 1296269, "name": REPO, "url": f"https://api.github.com/repos/{REPO}"},
        "payload": payload,
        "public": True,
        "created_at": "2026-12-02T09:00:00Z",
    }


def other_event(event_id: int) -> dict:
    return {
        "id": str(event_id),
        "type": "WatchEvent",
        "actor": {"login": "someone"},
        "repo": {"id": 1, "name": "someone/else"},
        "payload": {"action": "started"},
        "public": True,
        "created_at": "2026-12-02T09:00:00Z",
    }


def commit(commit_sha: str, files: list[dict]) -> dict:
    return {
        "sha": commit_sha,
        "node_id": "C_kwDOABCD",
        "commit": {
            "author": {
                "name": "Monalisa Octocat",
                "email": "octocat@github.com",
                "date": "2026-12-02T08:59:00Z",
            },
            "committer": {"name": "GitHub", "email": "noreply@github.com", "date": "2026-12-02T08:59:00Z"},
            "message": "change",
        },
        "html_url": f"https://github.com/{REPO}/commit/{commit_sha}",
        "parents": [{"sha": sha(999)}],
        "stats": {"total": 2, "additions": 2, "deletions": 0},
        "files": files,
    }


def patched(name: str, patch: str, status: str = "modified") -> dict:
    return {
        "sha": sha(7),
        "filename": name,
        "status": status,
        "additions": 2,
        "deletions": 1,
        "changes": 3,
        "blob_url": f"https://github.com/{REPO}/blob/x/{name}",
        "patch": patch,
    }


def feed(
    github: PublicSource,
    events: list[dict],
    etag: str = '"a18c3bded88eb5dbb5c849a489412bf3"',
    interval: int = 17,
) -> None:
    def answer(request: Request) -> Reply:
        if request.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag, "X-Poll-Interval": str(interval)})
        return json_reply(events, ETag=etag, **{"X-Poll-Interval": str(interval)})

    github.routes["/events"] = answer


def test_pushed_commits_are_scanned_with_etag_and_poll_interval(github: PublicSource) -> None:
    kid, secret = planted_pair(1)
    old_kid, old_secret = planted_pair(2)
    c1 = sha(1)
    feed(github, [push_event(101, [c1], head=c1), other_event(100)])
    patch = (
        "@@ -10,3 +10,4 @@ settings:\n"
        " region: us-east-1\n"
        f"-aws_access_key_id: {old_kid}\n"
        f"-aws_secret_access_key: {old_secret}\n"
        f"+aws_access_key_id: {kid}\n"
        f"+aws_secret_access_key: {secret}\n"
        " output: json"
    )
    github.routes[f"/repos/{REPO}/commits/{c1}"] = json_reply(
        commit(c1, [patched("deploy/config.yml", patch)])
    )
    watch = GitHubEventsWatch(github.url)

    poll = watch.poll({})
    assert poll.next_poll == 17  # X-Poll-Interval
    assert poll.report is not None
    assert [f.key_id for f in poll.report.findings] == [kid]  # the removed lines are not in the file
    location = poll.report.findings[0].locations[0]
    assert location.line == 11  # the file's line, from the hunk header
    p = location.provenance
    assert (p.kind, p.commit, p.path, p.author) == (
        "github-events",
        c1,
        "deploy/config.yml",
        "Monalisa Octocat",
    )
    assert p.url == f"https://github.com/{REPO}/blob/{c1}/deploy/config.yml"

    again = watch.poll(poll.state)
    assert again.report is None and again.items == 0
    assert github.requests[-1].headers["if-none-match"] == '"a18c3bded88eb5dbb5c849a489412bf3"'
    assert len(github.got(f"/repos/{REPO}/commits/{c1}")) == 1  # a 304 reads nothing else


def test_only_events_newer_than_the_last_are_read(github: PublicSource) -> None:
    c1, c2 = sha(1), sha(2)
    kid, secret = planted_pair(3)
    for c in (c1, c2):
        github.routes[f"/repos/{REPO}/commits/{c}"] = json_reply(
            commit(
                c,
                [
                    patched(
                        "a.env", f"@@ -0,0 +1,2 @@\n+AWS_ACCESS_KEY_ID={kid}\n+AWS_SECRET_ACCESS_KEY={secret}"
                    )
                ],
            )
        )
    feed(github, [push_event(201, [c1], head=c1)], etag='"one"')
    watch = GitHubEventsWatch(github.url)
    state = watch.poll({}).state
    feed(github, [push_event(202, [c2], head=c2), push_event(201, [c1], head=c1)], etag='"two"')
    poll = watch.poll(state)
    assert poll.items == 1
    assert [loc.provenance.commit for loc in poll.report.findings[0].locations] == [c2]
    assert len(github.got(f"/repos/{REPO}/commits/{c1}")) == 1


def test_lean_push_payloads_are_read_through_compare(github: PublicSource) -> None:
    """GitHub's newer push events carry head and before without the commit list."""
    kid, secret = planted_pair(4)
    before, c1, c2 = sha(50), sha(51), sha(52)
    feed(github, [push_event(301, None, head=c2, before=before)])
    github.routes[f"/repos/{REPO}/compare/{before}...{c2}"] = json_reply(
        {"status": "ahead", "ahead_by": 2, "commits": [{"sha": c1}, {"sha": c2}]}
    )
    github.routes[f"/repos/{REPO}/commits/{c1}"] = json_reply(
        commit(c1, [patched("one.txt", f"@@ -0,0 +1 @@\n+key {kid}", status="added")])
    )
    github.routes[f"/repos/{REPO}/commits/{c2}"] = json_reply(
        commit(c2, [patched("two.txt", f"@@ -1 +1,2 @@\n key {kid}\n+secret {secret}")])
    )
    poll = GitHubEventsWatch(github.url).poll({})
    assert poll.items == 2
    found = [f for f in poll.report.findings if f.has_secret]
    assert [f.key_id for f in found] == [kid]
    assert found[0].locations[0].provenance.commit == c2


def test_files_without_a_patch_are_read_whole_from_the_blobs_api(github: PublicSource) -> None:
    kid, secret = planted_pair(5)
    c1, blob = sha(61), sha(62)
    archive = zip_bytes({"creds/.env": f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret}\n"})
    encoded = base64.encodebytes(archive).decode()  # GitHub wraps base64 at 60 columns too
    feed(github, [push_event(401, [c1], head=c1)])
    github.routes[f"/repos/{REPO}/commits/{c1}"] = json_reply(
        commit(
            c1, [{"sha": blob, "filename": "backup.zip", "status": "added", "additions": 0, "deletions": 0}]
        )
    )
    github.routes[f"/repos/{REPO}/git/blobs/{blob}"] = json_reply(
        {
            "sha": blob,
            "node_id": "B_1",
            "size": len(archive),
            "url": "x",
            "content": encoded,
            "encoding": "base64",
        }
    )
    poll = GitHubEventsWatch(github.url).poll({})
    assert [f.key_id for f in poll.report.findings] == [kid]
    assert poll.report.findings[0].locations[0].provenance.path == "backup.zip!creds/.env"


def test_a_rate_limit_is_waited_out_and_no_commit_is_lost(github: PublicSource) -> None:
    kid, secret = planted_pair(6)
    c1, c2 = sha(71), sha(72)
    feed(github, [push_event(501, [c1, c2], head=c2)])
    github.routes[f"/repos/{REPO}/commits/{c1}"] = json_reply(
        commit(c1, [patched("x.md", "@@ -1 +1 @@\n+hello")])
    )
    reset = int(time.time()) + 40
    github.routes[f"/repos/{REPO}/commits/{c2}"] = json_reply(
        {"message": "API rate limit exceeded", "documentation_url": "https://docs.github.com/rest"},
        status=403,
        **{"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
    )
    watch = GitHubEventsWatch(github.url)
    poll = watch.poll({})
    assert 30 <= poll.next_poll <= 45  # until the reset, not the poll interval
    assert [p["sha"] for p in poll.state["pending"]] == [c2]

    github.routes[f"/repos/{REPO}/commits/{c2}"] = json_reply(
        commit(
            c2,
            [patched(".env", f"@@ -0,0 +1,2 @@\n+AWS_ACCESS_KEY_ID={kid}\n+AWS_SECRET_ACCESS_KEY={secret}")],
        )
    )
    later = watch.poll(poll.state)  # the feed answers 304; the pending commit is read
    assert [f.key_id for f in later.report.findings] == [kid]
    assert later.state["pending"] == []
    assert len(github.got(f"/repos/{REPO}/commits/{c1}")) == 1


def test_a_throttled_feed_waits_for_retry_after(github: PublicSource) -> None:
    github.routes["/events"] = json_reply({"message": "slow down"}, status=429, **{"Retry-After": "90"})
    poll = GitHubEventsWatch(github.url).poll({})
    assert poll.report is None and poll.next_poll == 90


def test_hostile_answers_are_clear_errors_or_ignored(github: PublicSource) -> None:
    github.routes["/events"] = json_reply({"not": "a list"})
    with pytest.raises(SourceError, match="expected a list of events"):
        GitHubEventsWatch(github.url).poll({})
    c1 = sha(81)
    bad = [
        {"id": "x"},
        {"id": "602", "type": "PushEvent", "repo": {"name": "../../etc"}, "payload": {"head": c1}},
        push_event(603, ["not-a-sha"], head="also-not"),
    ]
    feed(github, [*bad, push_event(604, [c1], head=c1)])
    github.routes[f"/repos/{REPO}/commits/{c1}"] = Reply(
        200, b"{not json", {"Content-Type": "application/json"}
    )
    poll = GitHubEventsWatch(github.url).poll({})  # the broken commit is logged and skipped
    assert poll.report is None and poll.state["pending"] == []
    assert [r.path for r in github.requests if r.path.startswith("/repos")] == [f"/repos/{REPO}/commits/{c1}"]


def test_patch_lines_keep_their_place() -> None:
    patch = "@@ -1,2 +1,2 @@\n a\n-b\n+B\n@@ -40,1 +40,2 @@\n x\n+y\n\\ No newline at end of file"
    lines = new_side(patch).decode().split("\n")
    assert lines[:2] == ["a", "B"] and lines[39:41] == ["x", "y"] and len(lines) == 41
    assert new_side("@@ -1 +999999999 @@\n+x") == b""  # a hostile hunk is not padded out


def test_the_cursor_is_kept_in_the_store(github: PublicSource, tmp_path: Path) -> None:
    """A restarted watcher asks with the ETag its predecessor saved, so nothing is read twice."""
    c1 = sha(91)
    feed(github, [push_event(701, [c1], head=c1)], etag='"kept"')
    github.routes[f"/repos/{REPO}/commits/{c1}"] = json_reply(
        commit(c1, [patched("a.md", "@@ -1 +1 @@\n+hi")])
    )
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        runner = WatchRunner([GitHubEventsWatch(github.url)], Cursors(store), lambda _w, _p: None)
        runner.poll(runner.watchers[0])
        restarted = WatchRunner([GitHubEventsWatch(github.url)], Cursors(store), lambda _w, _p: None)
        assert restarted.poll(restarted.watchers[0]).items == 0
        assert github.got("/events")[-1].headers["if-none-match"] == '"kept"'
        assert Cursors(store).get("github-events")["feeds"]["/events"]["last_event_id"] == "701"
    finally:
        store.dispose()
