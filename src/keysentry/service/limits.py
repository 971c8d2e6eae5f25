"""Limits at the door (``[service]``): a rate per API token on the report API, kept as token buckets,
and a deadline for a request's body, so that clients sending a byte a second cannot hold the service.

Both act before any work: a token over its rate is answered 429 with ``Retry-After`` before its body
is read; a body that has not all arrived by ``body_timeout`` after the request started is answered 408
(the connection is then closed by the server)."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class TokenBuckets:
    """``rate`` a minute per key, ``burst`` at once; ``wait(key)`` takes one or says how long to wait."""

    def __init__(self, rate: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = rate / 60
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def wait(self, key: str) -> float:
        """0 if ``key`` may go now (and one is taken), else the seconds until it may."""
        if self.per_second <= 0:
            return 0.0
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.per_second)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.per_second


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class BodyDeadline:
    """ASGI middleware: a request's body must have arrived within ``timeout`` seconds of its start,
    else 408 (if nothing was answered yet) and the request ends there."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        started = timed_out = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def receiving() -> Message:
            nonlocal timed_out
            try:
                return await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                timed_out = True
                raise _TooSlow from None

        try:
            await self.app(scope, receiving, sending)
        except BaseException:  # (the middlewares between may wrap it in an exception group)
            if not timed_out:
                raise
            if not started:
                await _answer(send, 408, f"the body did not arrive within {self.timeout:g} s")


class _TooSlow(Exception):
    pass


async def _answer(send: Send, status: int, error: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": error}).encode()
    fields: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *((k.encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": fields})
    await send({"type": "http.response.body", "body": body})


__all__: list[Any] = ["BodyDeadline", "TokenBuckets", "retry_after"]
