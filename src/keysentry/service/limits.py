"""Limits at the door (``[service]``): a rate per API token on the report API, kept as token buckets,
and bounds on every request's body (its size, the memory all bodies take at once, its time), so that
neither large bodies nor clients sending a byte a second can hold the service.

All act before any work: a token over its rate is answered 429 with ``Retry-After`` before its body
is read; a body too large, one too many at once, or one that has not all arrived by ``body_timeout``
is answered 413, 503 or 408 (the connection is then closed)."""

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


class BodyLimits:
    """ASGI middleware at the door, for every request with a body:

    * its size: a ``Content-Length`` over ``max_body`` is answered 413 before a byte is read, and a
      body sent in chunks is cut off with 413 as soon as it passes ``max_body``;
    * the memory all bodies take at once: while the bodies being received and handled add up to more
      than ``in_flight`` bytes, a new one is answered 503 with ``Retry-After`` (its bytes counted from
      its ``Content-Length``, or as they arrive);
    * its time: it must have arrived within ``timeout`` seconds of the request's start, else 408.

    Each refusal happens only if nothing was answered yet, and ends the request."""

    def __init__(self, app: ASGIApp, timeout: float, max_body: int, in_flight: int) -> None:
        self.app = app
        self.timeout = timeout
        self.max_body = max_body
        self.in_flight = in_flight
        self.held = 0  # bytes of the bodies being received or handled now (one event loop: no lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            await _answer(send, 413, f"a body may hold {self.max_body} bytes at most")
            return
        if declared and self.held and self.held + declared > self.in_flight:  # (one alone always fits)
            await _answer(send, 503, "too many bodies at once: try again", {"Retry-After": "1"})
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        started, refused, charged, received = False, "", declared or 0, 0
        self.held += charged

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        async def receiving() -> Message:
            nonlocal refused, charged, received
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                refused = "slow"
                raise _Refused from None
            received += len(message.get("body", b""))
            if received > self.max_body:
                refused = "large"
                raise _Refused
            if received > charged:  # (a body in chunks: counted as it arrives)
                if self.held > charged and self.held + received - charged > self.in_flight:
                    refused = "busy"
                    raise _Refused
                self.held += received - charged
                charged = received
            return message

        try:
            await self.app(scope, receiving, sending)
        except BaseException:  # (the middlewares between may wrap it in an exception group)
            if not refused:
                raise
            if not started:
                status, error = {
                    "slow": (408, f"the body did not arrive within {self.timeout:g} s"),
                    "large": (413, f"a body may hold {self.max_body} bytes at most"),
                    "busy": (503, "too many bodies at once: try again"),
                }[refused]
                await _answer(send, status, error, {"Retry-After": "1"} if status == 503 else None)
        finally:
            self.held -= charged


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                return None
    return None


class _Refused(Exception):
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


__all__: list[Any] = ["BodyLimits", "TokenBuckets", "retry_after"]
