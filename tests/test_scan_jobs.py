"""Scan jobs, the unit of a scan fanned out over workers: one worker at a time per job, a job left by a
dead worker taken again once its claim runs out (and rescanned without a duplicate sighting), a large
history shared out in parts that together read every blob once, and an outcome that never reads as clean
when the input was damaged."""

from __future__ import annotations

import random
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from helpers import KEYSENTRY, commit_file, git, key_for, secret_for
from keysentry.app.scan_queue import PlanError, plan, run_job
from keysentry.app.wiring import build_responder
from keysentry.clock import utcnow
from keysentry.config.settings import Settings
from keysentry.sources.git import GitBlobRef, iter_blob_refs
from keysentry.store import open_store
from keysentry.store.scan_jobs import (
    DONE,
    FAILED,
    INCOMPLETE,
    JobResult,
    JobSpec,
    claim_job,
    create_batch,
    finish_job,
    jobs_of,
    mark_enqueued,
    release_job,
    renew_job,
    stale_jobs,
)

MINUTE = timedelta(minutes=1)


def leaky_repo(path: Path, seed: int, files: int = 1) -> tuple[Path, str]:
    """A repository whose history holds a key pair (deleted again at HEAD) among ``files`` other files."""
    rng = random.Random(seed)
    kid = key_for("123456789012", rng)
    for n in range(files):
        commit_file(path, f"src/f{n}.py", f"value_{n} = {rng.random()!r}\n" * 20, f"file {n}")
    commit_file(path, "deploy.env", f"AWS_ACCESS_KEY_ID={kid}\nAWS_SECRET_ACCESS_KEY={secret_for(rng)}\n")
    (path / "deploy.env").unlink()
    git(path, "commit", "-qam", "remove the settings")
    return path, kid


def test_one_worker_at_a_time_and_a_dead_workers_job_is_taken_again(database_url: str) -> None:
    store = open_store(database_url)
    now = utcnow()
    batch, [job] = create_batch(store, [JobSpec("/srv/repos/a", max_file_size=1000)], now)
    assert stale_jobs(store, now, MINUTE) == [job]  # never enqueued
    mark_enqueued(store, [job], now)
    assert stale_jobs(store, now, MINUTE) == []
    taken = claim_job(store, job, "worker-a/1", now, MINUTE)
    assert taken is not None and taken.attempts == 1 and taken.target == "/srv/repos/a"
    assert claim_job(store, job, "worker-b/1", now, MINUTE) is None  # a duplicate message
    assert renew_job(store, job, "worker-a/1", now + timedelta(seconds=50), MINUTE)
    # worker-a dies: once its claim runs out the job is stale (enqueued again) and another takes it.
    dead = now + timedelta(minutes=3)
    assert stale_jobs(store, dead, timedelta(hours=1), batch) == [job]
    mark_enqueued(store, [job], dead)
    assert stale_jobs(store, dead, timedelta(hours=1), batch) == []  # not again at every round
    again = claim_job(store, job, "worker-b/1", dead, MINUTE)
    assert again is not None and again.attempts == 2
    # worker-a comes back to life: it can neither renew nor overwrite worker-b's result.
    assert not renew_job(store, job, "worker-a/1", dead, MINUTE)
    assert not finish_job(store, job, "worker-a/1", JobResult(DONE, findings=9))
    assert finish_job(store, job, "worker-b/1", JobResult(DONE, findings=1, blobs=3))
    [view] = jobs_of(store, batch)
    assert (view.state, view.findings, view.blobs, view.claimed_by) == (DONE, 1, 3, None)
    assert claim_job(store, job, "worker-c/1", dead + MINUTE * 10, MINUTE) is None  # finished: never again
    assert stale_jobs(store, dead + MINUTE * 10, MINUTE) == []
    store.dispose()


def test_a_released_job_is_queued_again(database_url: str) -> None:
    store = open_store(database_url)
    now = utcnow()
    _, [job] = create_batch(store, [JobSpec("/srv/repos/b")], now)
    mark_enqueued(store, [job], now)
    assert claim_job(store, job, "worker-a/1", now, MINUTE) is not None
    assert not release_job(store, job, "worker-b/1")  # not theirs
    assert release_job(store, job, "worker-a/1")
    assert stale_jobs(store, now, MINUTE) == [job]  # enqueued at the next round
    store.dispose()


def test_the_parts_of_a_history_read_every_blob_once(tmp_path: Path) -> None:
    repo, _ = leaky_repo(tmp_path / "big", 3, files=60)
    whole = {r.provenance.blob for r in iter_blob_refs(repo, 10**6) if isinstance(r, GitBlobRef)}
    parts = [
        {r.provenance.blob for r in iter_blob_refs(repo, 10**6, shard=(n, 4)) if isinstance(r, GitBlobRef)}
        for n in range(4)
    ]
    assert len(whole) == 61  # 60 files and the settings
    assert set().union(*parts) == whole
    assert sum(len(p) for p in parts) == len(whole)  # disjoint
    assert all(parts)  # each part has work


def test_a_history_larger_than_a_part_is_planned_in_parts(tmp_path: Path) -> None:
    repo, _ = leaky_repo(tmp_path / "big", 4, files=40)
    small, _ = leaky_repo(tmp_path / "small", 5)
    settings = Settings(executor={"history_part": 4096, "max_history_parts": 3})
    specs = plan([str(repo), "https://git.example/org/repo.git", str(repo)], settings, True, 1000)
    assert [(s.target, s.shard, s.shards) for s in specs] == [
        (str(repo), 0, 3),
        (str(repo), 1, 3),
        (str(repo), 2, 3),
        ("https://git.example/org/repo.git", 0, 1),  # its size is not known before it is cloned
    ]
    one = plan([str(small)], Settings(), True, 1000)
    assert [(s.shard, s.shards) for s in one] == [(0, 1)]
    assert [(s.shard, s.shards) for s in plan([str(repo)], settings, False, 1000)] == [(0, 1)]  # files only


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("-", "standard input cannot be handed to workers"),
        ("https://x-access-token:ghp_secret123@github.com/o/r.git", "not sent over the broker"),
        ("/no/such/folder", "no such file or folder"),
    ],
)
def test_what_cannot_be_handed_to_workers_is_refused(target: str, says: str) -> None:
    with pytest.raises(PlanError, match=says) as refused:
        plan([target], Settings(), True, 1000)
    assert "ghp_secret123" not in str(refused.value)


def test_a_rescan_after_a_worker_died_records_no_second_sighting(settings: Settings, tmp_path: Path) -> None:
    repo, kid = leaky_repo(tmp_path / "leaky", 6, files=3)
    responder = build_responder(settings)
    store = responder.store
    now = utcnow()
    _, [job] = create_batch(store, plan([str(repo)], settings, True, 10**6), now)
    # The first worker scanned and recorded, then died before finishing the job.
    assert claim_job(store, job, "dead-host:1/scan-1", now - MINUTE * 5, MINUTE) is not None
    from keysentry.scan.pipeline import ScanOptions, scan_targets

    first = responder.record_report(scan_targets([str(repo)], ScanOptions()))
    result = run_job(job, responder, settings, "worker-b:2/scan-1")
    assert result is not None and result.state == DONE
    assert (result.findings, result.exposures) == (1, 1)
    [view] = jobs_of(store, jobs_of_batch(store, job))
    assert view.attempts == 2
    with store.read() as db:
        sightings = db.execute(
            sa.text(
                "select count(*) from sightings s join exposures e on e.id = s.exposure_id "
                "where e.key_id = :k"
            ),
            {"k": kid},
        ).scalar()
    assert first and sightings == 1
    assert run_job(job, responder, settings, "worker-c:3/scan-1") is None  # done: a duplicate message
    store.dispose()


def jobs_of_batch(store, job_id: int) -> str:  # type: ignore[no-untyped-def]
    with store.read() as db:
        return str(db.execute(sa.text("select batch from scan_jobs where id = :j"), {"j": job_id}).scalar())


def test_a_damaged_history_is_incomplete_and_what_is_not_a_repository_fails(
    settings: Settings, tmp_path: Path
) -> None:
    repo, _ = leaky_repo(tmp_path / "broken", 8, files=2)
    gone = git(repo, "rev-parse", "HEAD~3:src/f0.py")
    (repo / ".git" / "objects" / gone[:2] / gone[2:]).unlink()
    responder = build_responder(settings)
    remote = "file:///nowhere/at/all.git"
    _, [broken, missing] = create_batch(
        responder.store, [JobSpec(str(repo), max_file_size=10**6), JobSpec(remote, max_file_size=10**6)]
    )
    result = run_job(broken, responder, settings, "worker:1/scan-1")
    assert result is not None and result.state == INCOMPLETE and result.findings == 1
    assert result.problem is not None and gone in result.problem
    failed = run_job(missing, responder, settings, "worker:1/scan-2")
    assert failed is not None and failed.state == FAILED and failed.problem
    responder.store.dispose()


def test_the_cli_refuses_options_workers_cannot_honour(tmp_path: Path) -> None:
    done = subprocess.run(
        [KEYSENTRY, "scan", "--executor", "celery", "--format", "sarif", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "--format sarif: not with --executor celery" in done.stderr
