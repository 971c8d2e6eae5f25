"""A scan fanned out over the ``scan`` queue: one job per repository, folder or URL (a large local history
in several parts), recorded in the store, scanned by ``keysentry worker`` processes, followed to the end
by whoever started it.

* :func:`plan` turns what the user named into jobs; :func:`start_batch` records them and enqueues one
  message per job (the message carries the job's ID only).
* :func:`run_job` is the worker's side: claim the job (a duplicate message, or a second worker, finds
  it taken), keep the claim alive while scanning, record what was found (the exposures are enqueued on
  ``respond``), then finish the job with its counts, or as incomplete, or as failed, and why.
* :func:`requeue_stale` enqueues again what a lost message or a dead worker left: run by whoever follows
  the batch and by the replica holding the scheduler's lease.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from keysentry.clock import utcnow
from keysentry.config.settings import Settings
from keysentry.errors import SourceError
from keysentry.faults import crash_point
from keysentry.sources.git import (
    is_bare_repository,
    is_remote,
    objects_size,
    without_credentials,
    without_credentials_in,
)
from keysentry.store.db import Store
from keysentry.store.scan_jobs import (
    DONE,
    FAILED,
    INCOMPLETE,
    JobResult,
    JobSpec,
    claim_job,
    create_batch,
    finish_job,
    mark_enqueued,
    release_job,
    renew_job,
    stale_jobs,
)

if TYPE_CHECKING:
    from celery import Celery

    from keysentry.respond.responder import Responder

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3  # a job whose scan raised this many times is failed, with the last error


class PlanError(ValueError):
    """A target that cannot be handed to workers, and why."""


def plan(targets: list[str], settings: Settings, history: bool, max_file_size: int) -> list[JobSpec]:
    """One job per target; a local repository whose objects exceed ``[executor] history_part`` becomes
    several, each a part of its blobs.  Local paths are made absolute: the workers must see them at the
    same place (a shared file system), or be given clone URLs."""
    executor = settings.executor
    specs: list[JobSpec] = []
    for target in dict.fromkeys(targets):
        if target == "-":
            raise PlanError("standard input cannot be handed to workers: scan it here, without --executor")
        if is_remote(target):
            if without_credentials(target) != target:
                raise PlanError(
                    f"{without_credentials(target)}: a URL with credentials in it is not sent over the "
                    "broker; give the workers git credentials (a credential helper) and the plain URL"
                )
            specs.append(JobSpec(target, history, max_file_size))
            continue
        path = Path(target).absolute()
        if not path.exists():
            raise PlanError(f"{target}: no such file or folder")
        parts = 1
        if history and ((path / ".git").exists() or is_bare_repository(path)):
            size = objects_size(path)  # (a worker finds out, and says, if it is no repository after all)
            parts = max(1, min(executor.max_history_parts, math.ceil(size / executor.history_part)))
        specs.extend(JobSpec(str(path), history, max_file_size, n, parts) for n in range(parts))
    return specs


def enqueue(app: Celery, store: Store, job_ids: list[int]) -> None:
    """One ``keysentry.scan`` message per job; the jobs sent are marked enqueued (those that could not be
    sent stay as they were, for the next round), and the error, if any, is raised after."""
    from keysentry.app.executor import SCAN, publish_each

    sent: list[int] = []
    try:
        publish_each(app, SCAN, job_ids, sent)
    finally:
        mark_enqueued(store, sent, utcnow())


def start_batch(app: Celery, store: Store, specs: list[JobSpec]) -> tuple[str, list[int]]:
    """Record the jobs (durable first), then enqueue them; the batch's ID and its jobs'.  A broker that
    cannot be reached leaves the jobs queued in the store, enqueued again by :func:`requeue_stale`."""
    batch, ids = create_batch(store, specs)
    try:
        enqueue(app, store, ids)
    except Exception as exc:
        log.warning("could not enqueue every scan job (%s); they are enqueued again later", exc)
    return batch, ids


def requeue_stale(app: Celery, store: Store, settings: Settings, batch: str | None = None) -> list[int]:
    """Enqueue again the jobs a lost message or a dead worker left (of ``batch``, or all); their IDs."""
    stale = stale_jobs(store, utcnow(), settings.executor.requeue_after, batch)
    if stale:
        log.info("scan jobs %s: enqueued again (message lost, or their worker stopped)", stale)
        enqueue(app, store, stale)
    return stale


@contextmanager
def kept_alive(renew: Callable[[], bool], every: timedelta) -> Iterator[threading.Event]:
    """Call ``renew`` every ``every`` in a thread while the block runs; the event is set if a renewal
    says the claim is no longer ours."""
    stop, lost = threading.Event(), threading.Event()

    def loop() -> None:
        while not stop.wait(every.total_seconds()):
            try:
                if not renew():
                    lost.set()
                    return
            except Exception:  # the store is away for a moment: the next renewal may reach it
                log.exception("could not renew a scan job's claim")

    thread = threading.Thread(target=loop, name="keysentry-scan-claim", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()


def run_job(job_id: int, responder: Responder, settings: Settings, owner: str) -> JobResult | None:
    """Scan one job and record what it found; None when the job is not ours to run (finished, or held
    by another worker whose claim is alive)."""
    from keysentry.scan.pipeline import ScanOptions, scan_targets  # (a worker's: not loaded to enqueue)

    store, lease = responder.store, settings.claim_lease
    job = claim_job(store, job_id, owner, utcnow(), lease)
    if job is None:
        log.info("scan job %s: finished, or another worker has it", job_id)
        return None
    log.info("scan job %s: scanning %s (attempt %d)", job_id, without_credentials(job.part), job.attempts)
    with kept_alive(lambda: renew_job(store, job_id, owner, utcnow(), lease), lease / 3) as lost:
        try:
            options = ScanOptions(
                history=job.history, max_file_size=job.max_file_size, shard=(job.shard, job.shards)
            )
            report = scan_targets([job.target], options)
            exposures = responder.record_report(report)
            crash_point("scan.after_record")
            damaged = report.damaged
            problem = (
                "; ".join(f"{s.provenance.describe()}: {s.reason}" for s in damaged[:3])
                + (f" (and {len(damaged) - 3} more)" if len(damaged) > 3 else "")
                if damaged
                else None
            )
            result = JobResult(
                INCOMPLETE if report.incomplete else DONE,
                blobs=report.blobs_scanned,
                bytes=report.bytes_scanned,
                findings=len(report.findings),
                exposures=len(set(exposures)),
                skipped=len(report.skipped),
                problem=problem,
            )
        except SourceError as exc:  # not a repository, a clone that failed: the job cannot succeed
            result = JobResult(FAILED, problem=without_credentials_in(str(exc)))
        except Exception as exc:  # the store, or the machine, failed us: tried again, a few times
            problem = f"{type(exc).__name__}: {without_credentials_in(str(exc))}"
            if job.attempts < MAX_ATTEMPTS:
                log.exception("scan job %s failed (attempt %d); it is enqueued again", job_id, job.attempts)
                release_job(store, job_id, owner)
                return None
            log.exception("scan job %s failed %d times; given up", job_id, job.attempts)
            result = JobResult(FAILED, problem=problem)
    if lost.is_set() or not finish_job(store, job_id, owner, result):
        log.warning(
            "scan job %s: its claim was taken over while scanning; the other run's result stands", job_id
        )
        return None
    return result
