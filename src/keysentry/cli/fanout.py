"""``keysentry scan --executor celery``: hand the targets to ``keysentry worker`` processes (one job per
repository, a large history in parts), then follow the batch to its end, or leave it (``--detach``) and
follow it later (``--follow BATCH``)."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from keysentry.app.executor import broker_label, celery_app
from keysentry.app.scan_queue import PlanError, plan, requeue_stale, start_batch
from keysentry.cli.common import EXIT_CLEAN, EXIT_FOUND, EXIT_INCOMPLETE, err, out
from keysentry.config.settings import Settings
from keysentry.errors import ConfigError
from keysentry.escaping import terminal
from keysentry.store.db import Store, open_store
from keysentry.store.scan_jobs import DONE, FAILED, INCOMPLETE, JobView, finished_of, jobs_of

if TYPE_CHECKING:
    from celery import Celery

POLL_SECONDS = 0.25  # how often the store is asked what finished
REQUEUE_SECONDS = 2.0  # how often what a dead worker left is looked for


def fan_out(
    settings: Settings,
    targets: list[str],
    history: bool,
    max_file_size: int,
    detach: bool,
    as_json: bool,
) -> int:
    """Record and enqueue one job per target; follow them unless ``detach``; the exit code."""
    if not targets:
        raise ConfigError("nothing to scan: name repositories, folders or URLs, or give --targets-from")
    try:
        specs = plan(targets, settings, history, max_file_size)
    except PlanError as exc:
        raise ConfigError(str(exc)) from None
    store = open_store(settings.resolved_database_url())
    app = celery_app(settings)
    try:
        batch, ids = start_batch(app, store, specs)
        parts = len(specs) - len(dict.fromkeys(s.target for s in specs))
        split = f" ({parts} more for the parts of large histories)" if parts else ""
        err.print(
            f"batch {batch}: {len(ids)} scan job(s){split} queued on {broker_label(broker_of(settings))}",
            highlight=False,
        )
        if detach:
            err.print(f"follow it with: keysentry scan --follow {batch}", highlight=False)
            if as_json:
                out.print_json(json.dumps({"batch": batch, "jobs": ids}))
            return EXIT_CLEAN
        return follow_batch(store, app, settings, batch, as_json)
    finally:
        store.dispose()


def broker_of(settings: Settings) -> str:
    return settings.executor.broker_url.get_secret_value()


def follow(settings: Settings, batch: str, as_json: bool) -> int:
    store = open_store(settings.resolved_database_url())
    try:
        if not jobs_of(store, batch):
            raise ConfigError(f"no scan batch {batch!r} in {store.url}")
        return follow_batch(store, celery_app(settings), settings, batch, as_json)
    finally:
        store.dispose()


def follow_batch(store: Store, app: Celery, settings: Settings, batch: str, as_json: bool) -> int:
    """Wait for every job of the batch, printing each as it finishes; enqueue again what a dead worker
    or a lost message left (so that following a batch is enough to finish it); the exit code."""
    total = len(jobs_of(store, batch))
    shown: set[int] = set()
    next_requeue = time.monotonic() + REQUEUE_SECONDS
    columns = [TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("jobs", total=total)
        while True:
            new = finished_of(store, batch) - shown
            if new:
                for job in jobs_of(store, batch, new):
                    print_job(out, job, as_json)
                shown |= new
                bar.update(task, completed=len(shown))
            if len(shown) == total:
                break
            if time.monotonic() >= next_requeue:
                next_requeue = time.monotonic() + REQUEUE_SECONDS
                try:
                    requeue_stale(app, store, settings, batch)
                except Exception as exc:  # the broker is away: the jobs wait in the store
                    err.print(f"could not enqueue again ({terminal(exc)}); still waiting", highlight=False)
            time.sleep(POLL_SECONDS)
    return summarize(jobs_of(store, batch), as_json)


def print_job(console: Console, job: JobView, as_json: bool) -> None:
    if as_json:
        record = {
            "job": job.id,
            "target": job.target,
            "part": job.shard + 1,
            "parts": job.shards,
            "state": job.state,
            "findings": job.findings,
            "exposures": job.exposures,
            "blobs": job.blobs,
            "bytes": job.bytes,
            "skipped": job.skipped,
            "attempts": job.attempts,
            "problem": job.problem,
        }
        console.out(json.dumps(record), highlight=False)
        return
    what = terminal(job.part)
    if job.state == FAILED:
        console.print(
            f"[red]failed[/]      {what}: {terminal(job.problem or 'no reason given')}", highlight=False
        )
        return
    counts = (
        f"{job.findings} finding(s), {job.exposures} exposure(s) recorded; "
        f"{job.blobs:,} blobs, {job.bytes / 1e6:,.1f} MB"
    )
    if job.state == INCOMPLETE:
        problem = terminal(job.problem or "")
        console.print(f"[yellow]incomplete[/]  {what}: {counts}; could not read: {problem}", highlight=False)
    elif job.findings:
        console.print(f"[red]found[/]       {what}: {counts}", highlight=False)
    else:
        console.print(f"[green]clean[/]       {what}: {counts}", highlight=False)


def summarize(jobs: list[JobView], as_json: bool) -> int:
    states = Counter(j.state for j in jobs)
    findings = sum(j.findings for j in jobs)
    exposures = sum(j.exposures for j in jobs)
    retried = sum(1 for j in jobs if j.attempts > 1)
    line = (
        f"{len(jobs)} job(s): {states[DONE]} done, {states[INCOMPLETE]} incomplete, {states[FAILED]} failed; "
        f"{findings} finding(s), {exposures} exposure(s) recorded and handed to the response"
        + (f"; {retried} scanned again after a worker stopped" if retried else "")
    )
    err.print(line, highlight=False)
    if states[FAILED] or states[INCOMPLETE]:
        err.print(
            "[bold yellow]incomplete:[/] some targets could not be scanned in full; their findings are "
            "not all there",
        )
        return EXIT_INCOMPLETE
    return EXIT_FOUND if findings else EXIT_CLEAN
