"""Fault injection for the crash-safety tests, inert unless its variable is set."""

from __future__ import annotations

import os
import signal

CRASH_ENV = "KEYSENTRY_CRASH_AT"


def crash_point(name: str) -> None:
    """Fault injection for the crash-safety tests: ``KEYSENTRY_CRASH_AT=contain.after_call`` kills the
    process with SIGKILL at that point, as a power cut would; with ``KEYSENTRY_CRASH_GROUP=1``, its whole
    process group (a Celery worker and its pool's processes, as when its machine dies).  Inert unless
    that variable is set."""
    if os.environ.get(CRASH_ENV) == name:
        if os.environ.get("KEYSENTRY_CRASH_GROUP") == "1":
            os.killpg(os.getpgrp(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
