"""Watchers at work: ``keysentry serve`` runs those enabled in ``[watch]`` and what they find is
contained like any report; ``keysentry watch`` polls from the command line with CI exit codes; a
cursor moves on only once what was found is recorded."""

from __future__ import annotations

import json
import random
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import KEYSENTRY, env_pair, exposure_of, github_token, wait_for
from keysentry.app.logs import configure_logging
from keysentry.config.settings import Settings
from keysentry.config.watch import WatchSettings
from keysentry.detect.aws_keys import fingerprint
from keysentry.emulator.issuers import IssuerStandIn
from keysentry.service.app import create_app
from keysentry.store import open_store
from keysentry.store.cursors import Cursors
from keysentry.watch.pypi import PyPIWatch
from keysentry.watch.runner import WatchRunner
from public_sources import PublicSource, json_reply, tar_gz
from test_watch_github_events import commit, feed, patched, push_event, sha
from test_watch_registries import changes, publish_npm, publish_pypi, rss

REPO = "octocat/Hello-World"


@pytest.fixture
def public(public_source: PublicSource) -> PublicSource:
    return public_source


def test_serve_contains_what_its_watchers_find(settings: Settings, public: PublicSource, new_user) -> None:  # type: ignore[no-untyped-def]
    """An AWS key pair pushed to GitHub and one released on PyPI are contained; a GitHub token in the
    same push is revoked through GitHub's revocation API (the stand-in), once, and announced."""
    pushed, released = new_user(), new_user()
    token = github_token(random.Random(9))
    issuers = IssuerStandIn().start()
    c1 = sha(1)
    feed(public, [push_event(9001, [c1], head=c1)])
    lines_added = [*env_pair(pushed).splitlines(), f"GITHUB_TOKEN={token}"]
    env_patch = "@@ -0,0 +1,3 @@\n" + "".join(f"+{line}\n" for line in lines_added)
    public.routes[f"/repos/{REPO}/commits/{c1}"] = json_reply(commit(c1, [patched("prod.env", env_patch)]))
    publish_pypi(
        public, "acme-tools", "3.0.0", {"acme_tools-3.0.0.tar.gz": tar_gz({"acme/.env": env_pair(released)})}
    )
    public.routes["/rss/updates.xml"] = rss(public.url, [("acme-tools", "3.0.0")])
    watching = WatchSettings(github_events=True, github_api_url=public.url, pypi=True, pypi_url=public.url)
    service = settings.model_copy(
        update={
            "watch": watching,
            "investigation_delays": [],
            "issuers": Settings(issuers=issuers.settings()).issuers,
        }
    )
    configure_logging("DEBUG", settings.log_file, "json")

    with TestClient(create_app(service, background=True)) as client:
        responder = client.app.state.responder  # type: ignore[attr-defined]

        def contained(kid: str) -> bool:
            try:
                return exposure_of(responder, kid).state in ("contained", "notified")
            except Exception:
                return False

        assert wait_for(lambda: contained(pushed.access_key_id) and contained(released.access_key_id), 60)
        revoked = f"ghp_…{fingerprint(token)[:8]}"
        assert wait_for(lambda: exposure_of(responder, revoked).state == "notified", 30)
        assert exposure_of(responder, revoked).containment["applied"] is True
        assert issuers.times_revoked(token) == 1 and issuers.github_requests == [1]
        from_push = exposure_of(responder, pushed.access_key_id)
        assert [(s.source_kind, s.commit, s.path) for s in from_push.sightings] == [
            ("github-events", c1, "prod.env")
        ]
        from_release = exposure_of(responder, released.access_key_id)
        assert [s.source_kind for s in from_release.sightings] == ["pypi"]
        expected = [
            'keysentry_watch_last_poll_timestamp_seconds{watcher="github-events"}',
            'keysentry_watch_pending{watcher="pypi"} 0.0',
        ]
        assert wait_for(lambda: all(e in client.get("/metrics").text for e in expected), 10)
        detail = client.get(f"/v1/exposures/{from_push.id}", headers={"Authorization": "Bearer x"})
        assert detail.status_code == 401  # the API still wants a token
    configure_logging("INFO", None)  # the rest of the session logs as before
    lines = [
        json.loads(line) for line in (settings.log_file or Path("/nonexistent")).read_text().splitlines()
    ]
    assert any(e["logger"] == "keysentry.watch.runner" and "github-events" in e["message"] for e in lines)
    assert all({"time", "level", "logger", "message"} <= set(e) for e in lines)
    text = json.dumps(lines)
    assert pushed.secret_access_key not in text and released.secret_access_key not in text
    assert token not in text
    issuers.stop()


def test_a_cursor_moves_on_only_once_the_findings_are_recorded(public: PublicSource, tmp_path: Path) -> None:
    kid_line = "AWS_ACCESS_KEY_ID=AKIAQYLPMN5HHHFPZAM2\nAWS_SECRET_ACCESS_KEY=" + "Xy12" * 10 + "\n"
    publish_pypi(public, "p", "1", {"p-1.tar.gz": tar_gz({"p/.env": kid_line})})
    public.routes["/rss/updates.xml"] = rss(public.url, [("p", "1")])
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    handed: list[str] = []

    def failing(_watcher, _poll):  # type: ignore[no-untyped-def]
        raise RuntimeError("the store went away")

    def recording(_watcher, poll):  # type: ignore[no-untyped-def]
        handed.extend(f.key_id for f in poll.report.findings)

    try:
        with pytest.raises(RuntimeError):
            WatchRunner([PyPIWatch(public.url)], Cursors(store), failing).poll(PyPIWatch(public.url))
        assert Cursors(store).get("pypi") == {}
        runner = WatchRunner([PyPIWatch(public.url)], Cursors(store), recording)
        runner.poll(runner.watchers[0])
        assert handed == ["AKIAQYLPMN5HHHFPZAM2"]
        assert Cursors(store).get("pypi")["seen"] == ["p==1"]
    finally:
        store.dispose()


def test_keysentry_watch_npm_once_exit_codes(public: PublicSource, tmp_path: Path) -> None:
    public.routes["/"] = json_reply({"db_name": "registry", "update_seq": 70})
    public.routes["/_changes"] = changes(70, [])
    env = {
        "PATH": "/usr/bin:/bin",
        "KEYSENTRY_DATA_DIR": str(tmp_path),
        "KEYSENTRY_WATCH": json.dumps({"npm_replicate_url": public.url, "npm_registry_url": public.url}),
    }
    run = [KEYSENTRY, "watch", "--npm", "--once", "--no-respond"]

    def watch() -> subprocess.CompletedProcess[str]:
        return subprocess.run(run, env=env, capture_output=True, text=True, check=False, timeout=120)

    assert watch().returncode == 0  # from now on
    secret = "Q" * 8 + "wErTy12/" * 4
    line = f"AWS_ACCESS_KEY_ID=AKIAQYLPMN5HHHFPZAM2\nAWS_SECRET_ACCESS_KEY={secret}\n"
    publish_npm(public, "left-pad-ng", {"2.0.0": (tar_gz({"package/.env": line}), datetime.now(UTC))})
    public.routes["/_changes"] = changes(70, ["left-pad-ng"])
    done = watch()
    assert done.returncode == 1, done.stderr
    assert "AKIAQYLPMN5HHHFPZAM2" in done.stdout and secret not in done.stdout + done.stderr
    public.routes["/_changes"] = changes(71, [])
    assert watch().returncode == 0
    nothing = subprocess.run(
        [KEYSENTRY, "watch", "--once"],
        env={**env, "KEYSENTRY_WATCH": "{}"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert nothing.returncode == 2 and "nothing to watch" in nothing.stderr
