"""HTTP for the watchers: polite to public services, bounded in what it downloads.

A service that asks us to wait (429, or GitHub's 403 with ``X-RateLimit-Remaining: 0``) raises
:class:`Throttled` with how long, taken from ``Retry-After`` or ``X-RateLimit-Reset``; the caller keeps
its place and comes back then.  Downloads stream and stop at a byte limit, so a huge or endless
response costs at most that much memory."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from keysentry import __version__
from keysentry.errors import SourceError

USER_AGENT = f"keysentry/{__version__} (exposed credential watcher; +https://github.com/keysentry/keysentry)"
DEFAULT_WAIT = 60.0


class Throttled(SourceError):
    """The service asked us to wait ``wait`` seconds before asking again."""

    def __init__(self, url: str, wait: float, reason: str) -> None:
        super().__init__(f"{url}: {reason}; waiting {wait:.0f} s")
        self.wait = wait


class TooLarge(SourceError):
    """A download went past the byte limit."""


def _seconds_until(value: str | None, now: float) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) or ``X-RateLimit-Reset`` (epoch seconds) as a wait."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            return None
    return max(0.0, number - now) if number > 1_000_000_000 else number


def throttle_wait(response: httpx.Response, now: float | None = None) -> float | None:
    """How long the response tells us to wait, or None when it does not."""
    now = time.time() if now is None else now
    limited = response.status_code == 429 or (
        response.status_code == 403
        and (response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers)
    )
    if not limited:
        return None
    for header in ("retry-after", "x-ratelimit-reset"):
        wait = _seconds_until(response.headers.get(header), now)
        if wait is not None:
            return wait + (1.0 if header == "x-ratelimit-reset" else 0.0)
    return DEFAULT_WAIT


class SourceClient:
    """One connection pool per watcher, with our user agent and the source's own headers."""

    def __init__(self, headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        self.http = httpx.Client(
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            timeout=timeout,
            follow_redirects=True,
        )

    def get(self, url: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
        """The response, 2xx or 304; :class:`Throttled` when asked to wait; SourceError otherwise."""
        try:
            response = self.http.get(url, headers=headers, params=params or None)
        except httpx.HTTPError as exc:
            raise SourceError(f"{url}: {type(exc).__name__}: {exc}") from exc
        wait = throttle_wait(response)
        if wait is not None:
            raise Throttled(url, wait, f"HTTP {response.status_code} (rate limited)")
        if response.status_code >= 400:
            raise SourceError(f"{url}: HTTP {response.status_code}")
        return response

    def json(self, url: str, **params: Any) -> Any:
        response = self.get(url, **params)
        try:
            return response.json()
        except ValueError as exc:
            raise SourceError(f"{url}: the answer is not JSON") from exc

    def download(self, url: str, max_bytes: int) -> bytes:
        """The whole body, or :class:`TooLarge` as soon as it passes ``max_bytes``."""
        try:
            with self.http.stream("GET", url) as response:
                wait = throttle_wait(response)
                if wait is not None:
                    raise Throttled(url, wait, f"HTTP {response.status_code} (rate limited)")
                if response.status_code >= 400:
                    raise SourceError(f"{url}: HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise TooLarge(f"{url}: {int(declared)} bytes, more than the {max_bytes} allowed")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"{url}: more than the {max_bytes} bytes allowed")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise SourceError(f"{url}: {type(exc).__name__}: {exc}") from exc
        return b"".join(chunks)

    def close(self) -> None:
        self.http.close()
