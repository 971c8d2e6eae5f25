"""The repository a report names is what was scanned (the folder, or the URL given); a local clone's
origin is a field of its own, and becomes a link only when it is a web URL."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import commit_file, env_pair, git, jsonl_records, key_for, respond, run_keysentry, secret_for
from keysentry.config.settings import Settings
from keysentry.service.app import create_app
from keysentry.store import open_store
from keysentry.store.tokens import create_token


def leaky_clone(tmp_path: Path, origin: str, seed: int = 1) -> tuple[Path, str]:
    rng = random.Random(seed)
    kid = key_for("123456789012", rng)
    repo = tmp_path / "checkout"
    commit_file(repo, "deploy.env", f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret_for(rng)}\n")
    git(repo, "remote", "add", "origin", origin)
    return repo, kid


def test_a_local_clone_is_named_by_its_folder_with_its_origin_apart(tmp_path: Path) -> None:
    repo, _ = leaky_clone(tmp_path, "https://x-access-token:ghp_secret1@github.com/acme/app.git")
    done = run_keysentry("scan", str(repo), "--format", "jsonl")
    assert "ghp_secret1" not in done.stdout + done.stderr
    [finding], _ = jsonl_records(done.stdout)
    [loc] = finding["locations"]
    assert loc["repository"] == str(repo.resolve())
    assert loc["origin"] == "https://github.com/acme/app.git"
    sarif = tmp_path / "s.sarif"
    run_keysentry("scan", str(repo), "--format", "sarif", "--output", str(sarif))
    run = json.loads(sarif.read_text())["runs"][0]
    assert run["versionControlProvenance"][0]["repositoryUri"] == "https://github.com/acme/app.git"
    assert run["results"][0]["properties"]["origin"] == "https://github.com/acme/app.git"


def test_a_url_scan_is_named_by_the_url(tmp_path: Path) -> None:
    repo, _ = leaky_clone(tmp_path, "https://github.com/acme/app.git")
    url = repo.resolve().as_uri()
    [finding], _ = jsonl_records(run_keysentry("scan", url, "--format", "jsonl").stdout)
    [loc] = finding["locations"]
    assert loc["repository"] == url and loc["origin"] is None


@pytest.mark.parametrize(
    ("origin", "link"),
    [
        ("https://github.com/acme/app.git", True),
        ("git@github.com:acme/app.git", False),
        ("javascript:alert(1)//x.git", False),
    ],
)
def test_the_dashboard_links_an_origin_only_when_it_is_a_web_url(
    settings: Settings, tmp_path: Path, new_user, origin: str, link: bool
) -> None:
    user = new_user("workloads-dev")
    repo = tmp_path / "checkout"
    commit_file(repo, "deploy.env", env_pair(user))
    git(repo, "remote", "add", "origin", origin)
    settings = settings.model_copy(update={"investigation_delays": []})
    responder, _ = respond(settings, repo)
    responder.store.dispose()
    store = open_store(settings.resolved_database_url())
    token = create_token(store, "viewer-person", "viewer")
    store.dispose()
    with TestClient(create_app(settings, background=False)) as client:
        client.post("/login", data={"token": token})
        page = client.get("/exposures/1").text
    assert f"repository {repo.resolve()}" in page
    escaped = origin.replace("&", "&amp;")
    assert (f'<a href="{escaped}"' in page) is link
    assert f">{escaped}</a>" in page if link else f"origin {escaped}" in page
