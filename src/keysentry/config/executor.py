"""Where the service's background work runs: ``[executor]`` in ``keysentry.toml`` (or
``KEYSENTRY_EXECUTOR`` as JSON).

```toml
[executor]
kind = "celery"                              # default "inline": threads in the service, no broker
broker_url = "redis://127.0.0.1:6379/0"      # or amqp://guest:guest@127.0.0.1:5672// (RabbitMQ)
```

With ``celery``, ``keysentry serve`` enqueues each exposure's steps and each outbox round on the broker
and ``keysentry worker`` processes (any number, on any machine sharing the store) run them.  The store
stays the system of record: the broker only carries "do this now", and what is pending in the store is
enqueued again when a message was lost (docs/scaling.md).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from keysentry.config import StrictModel
from keysentry.config.durations import parse_duration

QUEUES = ("respond", "notify", "scan", "watch")
MiB = 1024 * 1024


class ExecutorSettings(StrictModel):
    kind: Literal["inline", "celery"] = Field(
        default="inline",
        description="inline: the service runs its background work in its own threads (no broker); "
        "celery: it enqueues the work for `keysentry worker` processes.",
    )
    broker_url: SecretStr = Field(  # it may hold the broker's password: shown masked
        default=SecretStr("redis://127.0.0.1:6379/0"),
        description="The Celery broker: redis://… (the default) or amqp://… (RabbitMQ).",
    )
    schedule_interval: timedelta = Field(
        default=timedelta(seconds=1),
        description="How often the replica holding the scheduler's lease asks the store what is due.",
    )
    requeue_after: timedelta = Field(
        default=timedelta(seconds=60),
        description="An exposure still pending this long after it was enqueued (its message lost with a "
        "broker, or its worker gone) is enqueued again; a duplicate is harmless (claims).",
    )
    scheduler_lease: timedelta = Field(
        default=timedelta(seconds=10),
        description="How long the replica that schedules holds the role without renewing it; another "
        "replica takes over after this.",
    )

    history_part: int = Field(
        default=128 * MiB,
        gt=0,
        description="A fanned-out scan splits a local repository whose objects take more than this many "
        "bytes on disk (git count-objects) into parts of about this size, scanned by different workers.",
    )
    max_history_parts: int = Field(default=32, ge=1, description="At most this many parts per repository.")

    @field_validator("schedule_interval", "requeue_after", "scheduler_lease", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value
