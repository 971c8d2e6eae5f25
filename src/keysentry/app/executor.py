"""Scale-out on Celery: the service's background work as tasks on a broker, run by ``keysentry worker``
processes on any number of machines that share the store.

The store stays the system of record; a message only says "do this now" and carries IDs, never a
secret.  Tasks:

* ``keysentry.advance(exposure_id)`` (queue ``respond``): run the exposure's steps until it has nothing
  left to do now.  The run claims the exposure in the store first (:mod:`keysentry.store.claims`), so
  a duplicate message, or two workers, never run the same exposure at once.
* ``keysentry.deliver()`` (queue ``notify``): one outbox round, until nothing is due; messages are
  leased in the store, so rounds on several workers share the messages.
* ``keysentry.scan(job_id)`` (queue ``scan``): scan one job of a fanned-out scan (a repository, folder
  or URL, or a part of a large history; :mod:`keysentry.app.scan_queue`) and record what it finds; the
  exposures it records are enqueued on ``respond``.
* ``keysentry.poll(name)`` (queue ``watch``): one poll of one watched source (``[watch]``), if it is due
  and no other worker polls it (:mod:`keysentry.app.watch_queue`).

Every task is acknowledged late and rejected back to the queue if its worker process dies
(``acks_late``, ``reject_on_worker_lost``).  What a lost message leaves undone is still pending in the
store: the replica that holds the scheduler's lease asks the store every ``schedule_interval`` what is
due (timed steps, retries, work whose claim ran out) and enqueues it again, so losing the broker, or a
worker, loses no work.  The lease makes that round run on one replica however many are up; it lives in
the store rather than in a beat scheduler, so it needs nothing the deployment does not already have and
works the same with Redis and RabbitMQ.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from keysentry.clock import utcnow
from keysentry.config.settings import Settings
from keysentry.respond.claims import process_identity
from keysentry.store.claims import drop_lease, take_lease

if TYPE_CHECKING:
    from celery import Celery

    from keysentry.respond.responder import Responder

log = logging.getLogger(__name__)

ADVANCE, DELIVER, SCAN, POLL = "keysentry.advance", "keysentry.deliver", "keysentry.scan", "keysentry.poll"
ROUTES = {ADVANCE: "respond", DELIVER: "notify", SCAN: "scan", POLL: "watch"}
SCHEDULER_LEASE = "scheduler"


def broker_label(url: str) -> str:
    """The broker's address without its credentials, for messages and logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def celery_app(settings: Settings, build: Callable[[Settings], Responder] | None = None) -> Celery:
    """keysentry's Celery application for ``settings``.  With ``build`` (a worker), its tasks too, each
    process building its own responder from ``settings`` on its first task."""
    from celery import Celery

    app = Celery("keysentry", broker=settings.executor.broker_url.get_secret_value(), set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_routes={name: {"queue": queue} for name, queue in ROUTES.items()},
        task_default_queue="respond",
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # A publish waits at most about a second for a broker that is down; the store keeps the work.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.3},
    )
    if build is not None:
        _register_tasks(app, settings, build)
    return app


# --- in a worker ------------------------------------------------------------------------------
def _register_tasks(app: Celery, settings: Settings, build: Callable[[Settings], Responder]) -> None:
    # What only a worker needs (the watchers, the scan pipeline): loaded here, so that a command that
    # only enqueues (keysentry scan --executor celery) starts without them.
    from keysentry.app.scan_queue import run_job
    from keysentry.app.watch_queue import QueuedPolls
    from keysentry.app.wiring import recording
    from keysentry.store.cursors import Cursors
    from keysentry.watch.build import build_watchers
    from keysentry.watch.runner import WatchRunner

    responders: dict[int, Responder] = {}  # by process: a prefork child builds its own
    lock = threading.Lock()

    def responder() -> Responder:
        with lock:
            built = responders.get(os.getpid())
            if built is None:
                built = responders[os.getpid()] = build(settings)
                # An announcement queued by a step is delivered by a round on the notify queue.
                built.dispatcher.on_wake = lambda: publish(app, DELIVER)
                built.on_recorded(lambda ids: publish_each(app, ADVANCE, ids))
            return built

    from celery.signals import worker_process_init

    @worker_process_init.connect(weak=False)  # type: ignore[untyped-decorator]
    def _build(**_: Any) -> None:
        """Each pool process builds its responder (AWS clients, the store's pool) before its first task,
        so that the first exposure a worker takes waits for nothing but AWS."""
        try:
            responder()
            from keysentry.detect.scanner import engine_for

            engine_for()  # the detection engine: scans, and the log filter that keeps secrets out of logs
        except Exception:  # the task will try again, and say why
            log.exception("could not build the responder")
            return
        log.info("keysentry worker process %d ready", os.getpid())

    @app.task(name=ADVANCE)  # type: ignore[untyped-decorator]
    def advance(exposure_id: int) -> int:
        """Run one exposure's steps; how many ran (0: nothing to do, or another run holds it)."""
        return len(responder().advance(int(exposure_id)))

    @app.task(name=DELIVER)  # type: ignore[untyped-decorator]
    def deliver() -> int:
        """Send what the outbox has due; how many messages were tried."""
        return len(responder().dispatcher.drain())

    runs = itertools.count(1)
    polls: dict[int, QueuedPolls] = {}

    def watchers() -> QueuedPolls:
        built_responder = responder()  # (takes the lock itself)
        with lock:
            built = polls.get(os.getpid())
            if built is None:
                store = built_responder.store
                runner = WatchRunner(build_watchers(settings), Cursors(store), recording(built_responder))
                built = polls[os.getpid()] = QueuedPolls(runner, store, settings)
            return built

    @app.task(name=POLL)  # type: ignore[untyped-decorator]
    def poll(name: str) -> str:
        """Poll one watched source if it is due and nobody else polls it; what happened."""
        return watchers().poll(str(name), f"{process_identity()}/poll-{next(runs)}")

    @app.task(name=SCAN)  # type: ignore[untyped-decorator]
    def scan(job_id: int) -> str | None:
        """Scan one job of a fanned-out scan and record what it found (its exposures are enqueued to be
        answered); the job's outcome, or None when it was not this run's to do."""
        owner = f"{process_identity()}/scan-{next(runs)}"
        result = run_job(int(job_id), responder(), settings, owner)
        return None if result is None else result.state


def publish(app: Celery, task: str, *args: Any) -> None:
    """Enqueue one task (by name, on its queue); raises when the broker cannot be reached."""
    app.send_task(task, args=list(args), queue=ROUTES[task], retry=True)


def publish_each(app: Celery, task: str, ids: list[int], sent: list[int] | None = None) -> None:
    """One message per ID, in order; each ID sent is appended to ``sent``, so that after a failure (it is
    raised) the caller knows which were not."""
    for one in ids:
        publish(app, task, one)
        if sent is not None:
            sent.append(one)


# --- in the service ---------------------------------------------------------------------------
class QueuedResponse:
    """``keysentry serve`` with ``[executor] kind = "celery"``: what intake records is enqueued as soon as
    it is committed, and the replica holding the scheduler's lease enqueues what the store says is due.
    The same interface as :class:`keysentry.respond.worker.ResponseWorker` (start, stop, wake, submit).
    """

    def __init__(
        self,
        responder: Responder,
        settings: Settings,
        app: Celery | None = None,
        watched: list[str] | None = None,
    ) -> None:
        self.responder = responder
        from keysentry.app.watch_queue import PollScheduler

        self.polls = PollScheduler(watched or [], settings.executor.requeue_after)
        self.settings = settings
        self.app = app or celery_app(settings)
        self.identity = f"{process_identity()}/scheduler"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._handed: list[int] = []
        self._deliver = False  # a delivery round was asked for (an operator's action here)
        self._queued: dict[int, datetime] = {}  # leader: when each pending exposure was last enqueued
        self._next_scan = utcnow()
        self._thread: threading.Thread | None = None
        self.leading = False
        responder.on_recorded(self.submit)
        responder.dispatcher.on_wake = self._ask_delivery

    def start(self, rounds: bool = True) -> None:
        if rounds:
            self._thread = threading.Thread(target=self._run, name="keysentry-enqueue", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.leading:
            try:
                drop_lease(self.responder.store, SCHEDULER_LEASE, self.identity)  # another leads at once
            except Exception:  # stopping must not fail on a database hiccup: the lease just runs out
                log.exception("could not give the scheduler's lease up")

    def submit(self, exposure_ids: list[int]) -> None:
        with self._lock:
            self._handed.extend(exposure_ids)
        self._wake.set()

    def wake(self) -> None:
        with self._lock:
            self._next_scan = utcnow()
        self._wake.set()

    def _ask_delivery(self) -> None:
        with self._lock:
            self._deliver = True
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self._wake.wait(self.round())

    def round(self) -> float:
        """Enqueue what was handed over and, as the scheduler, what is due; seconds until the next."""
        interval = self.settings.executor.schedule_interval.total_seconds()
        with self._lock:
            handed, self._handed = self._handed, []
            deliver, self._deliver = self._deliver, False
        try:
            self._publish_each(ADVANCE, handed)
            if deliver:
                publish(self.app, DELIVER)
            self._lead()
        except Exception as exc:  # the broker or the store is away: what was handed over is kept
            log.warning("enqueueing failed (%s); retried in %.0f s", exc, interval)
            with self._lock:
                self._deliver = self._deliver or deliver
            return interval
        with self._lock:
            return max(0.0, (self._next_scan - utcnow()).total_seconds())

    def _publish_each(self, task: str, exposure_ids: list[int]) -> None:
        sent: list[int] = []
        try:
            publish_each(self.app, task, exposure_ids, sent)
        except Exception:
            with self._lock:
                self._handed[:0] = exposure_ids[len(sent) :]  # kept for the next round
            raise
        finally:
            now = utcnow()
            self._queued.update((exposure_id, now) for exposure_id in sent)

    def _lead(self) -> None:
        """As the replica holding the scheduler's lease (renewed here), once per ``schedule_interval``:
        enqueue the exposures the store says are due, unless enqueued less than ``requeue_after`` ago,
        and a delivery round when messages are due."""
        now = utcnow()
        with self._lock:
            if now < self._next_scan:
                return
            self._next_scan = now + self.settings.executor.schedule_interval
        executor = self.settings.executor
        store = self.responder.store
        self.leading = take_lease(store, SCHEDULER_LEASE, self.identity, now, executor.scheduler_lease)
        if not self.leading:
            self._queued.clear()
            return
        pending = self.responder.pending(backoff=True)
        still, recent = set(pending), now - executor.requeue_after
        self._queued = {i: at for i, at in self._queued.items() if at > recent and i in still}
        self._publish_each(ADVANCE, [i for i in pending if i not in self._queued])
        waiting, due = self.responder.dispatcher.waiting()
        if waiting and due is not None and due <= now:
            publish(self.app, DELIVER)
        from keysentry.app.scan_queue import requeue_stale

        requeue_stale(self.app, store, self.settings)
        for name in self.polls.due(store, now):
            publish(self.app, POLL, name)
            self.polls.sent(name, now)
