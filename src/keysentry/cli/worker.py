"""``keysentry worker``: a Celery worker that runs keysentry's tasks (docs/scaling.md)."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from keysentry.cli.common import exits_cleanly, out, settings_from, with_executor
from keysentry.config.executor import QUEUES
from keysentry.errors import ConfigError


def worker(
    queues: Annotated[
        str,
        typer.Option(help=f"Comma-separated queues to take work from: {', '.join(QUEUES)}."),
    ] = "respond,notify,scan,watch",
    concurrency: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Tasks at once: worker processes (default: two per CPU, since responding waits on AWS "
            "most of the time; one per CPU for a worker that only scans).",
        ),
    ] = None,
    pool: Annotated[
        str,
        typer.Option(
            help="prefork (a process per task at once) or solo (one task at a time, in this process).",
        ),
    ] = "prefork",
    broker_url: Annotated[
        str | None, typer.Option(help="The broker, as [executor] broker_url (redis://… or amqp://…).")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of the shared store.")] = None,
    aws_endpoint_url: Annotated[
        str | None, typer.Option(help="Send AWS calls here (the local emulator).")
    ] = None,
) -> None:
    """Run keysentry's background work from a Celery broker, beside `keysentry serve --executor celery`.

    Any number of workers, on any machines that reach the store and the broker,
    share the work: each exposure's steps (queue respond), the outbox's deliveries
    (notify), repository scans (scan, from `keysentry scan --executor celery`) and
    the polls of the sources in [watch] (watch; one at a time per source).  An
    exposure is claimed in the store before its steps run, so no two workers ever
    run it at once; a worker that dies leaves its tasks to the others (they are acknowledged only when done)
    and its claims run out after claim_lease.  Stop with Ctrl-C or SIGTERM: the
    tasks in hand finish first.  Needs the celery extra: pip install 'keysentry[celery]'.

    Examples:

      keysentry worker --database-url postgresql+psycopg://keysentry@db/ks

      keysentry worker --queues scan          # scanning: one process per CPU

      keysentry worker --broker-url amqp://guest:guest@rabbit:5672//   # RabbitMQ
    """
    run_worker(queues, concurrency, pool, broker_url, database_url, aws_endpoint_url)


@exits_cleanly
def run_worker(
    queues: str,
    concurrency: int | None,
    pool: str,
    broker_url: str | None,
    database_url: str | None,
    endpoint: str | None,
) -> None:
    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(chosen) - set(QUEUES))
    if unknown or not chosen:
        raise ConfigError(f"--queues: unknown queue(s) {unknown or chosen}; choose from {', '.join(QUEUES)}")
    # Not Celery's threads pool: with late acknowledgement on Redis, its workers were seen to stop taking
    # tasks after a few hundred (tests/test_scale_out.py), so every task runs in a process of its own.
    if pool not in ("prefork", "solo"):
        raise ConfigError(f"--pool: {pool!r} is not one of prefork, solo")
    settings = with_executor(
        settings_from(database_url=database_url, aws_endpoint_url=endpoint), broker_url=broker_url
    )
    try:
        from keysentry.app.executor import broker_label, celery_app
    except ImportError as exc:  # the celery extra is not installed
        raise ConfigError(f"keysentry worker needs Celery: pip install 'keysentry[celery]' ({exc})") from None
    from keysentry.app.wiring import build_responder

    if concurrency is None:
        cpus = os.cpu_count() or 1
        concurrency = 1 if pool == "solo" else cpus if chosen == ["scan"] else 2 * cpus
    app = celery_app(settings, build=build_responder)
    broker = broker_label(settings.executor.broker_url.get_secret_value())
    out.print(
        f"keysentry worker: queues {', '.join(chosen)} · {pool}, {concurrency} at once · broker {broker} · "
        f"store {settings.resolved_database_url()}"
    )
    app.worker_main(
        [
            "worker",
            "--queues",
            ",".join(chosen),
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"keysentry-{os.getpid()}@{socket.gethostname()}",
            "--loglevel",
            settings.log_level,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
