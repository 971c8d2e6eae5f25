"""GitHub's public credential revocation API: ``POST /credentials/revoke`` with up to 1,000 tokens,
unauthenticated, answered 202 (GitHub revokes them and tells their owners).  It takes ``ghp_``,
``github_pat_``, ``gho_``, ``ghu_`` and ``ghr_`` tokens.

Unauthenticated callers get 60 requests an hour, so tokens are batched: a sender thread gathers what
the responses hand it for ``linger`` seconds (or until 1,000 are waiting) and sends them in one request.
The rate limit is read from every answer (``x-ratelimit-remaining``, ``x-ratelimit-reset``): when it is
spent, or GitHub answers 403/429 for it, the tokens stay queued and go out when it resets, never
dropped.  A response asks with :meth:`GitHubRevocation.revoke`, which waits briefly for its batch and
otherwise raises :class:`~keysentry.errors.Deferred` with when to ask again; asking again for the
same token finds the same place in the queue (keyed by its SHA-256), so a token is sent once.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import httpx

from keysentry.authority.issuer_http import IssuerCallError, client, issuer_call
from keysentry.errors import Deferred

log = logging.getLogger(__name__)

MAX_BATCH = 1000  # what the API takes in one request
REVOKE_PATH = "/credentials/revoke"


@dataclass(frozen=True)
class Revoked:
    """GitHub accepted the token for revocation in a request of ``batch`` tokens."""

    at: float
    batch: int
    request_id: str


class GitHubRevocation:
    def __init__(self, api_url: str, linger: float = 0.5, timeout: float = 10.0) -> None:
        self.url = api_url.rstrip("/") + REVOKE_PATH
        self.linger = linger
        self._http = client(timeout)
        self._lock = threading.Condition()
        self._queue: dict[str, bytes] = {}  # fingerprint → token, waiting to be sent
        self._futures: dict[str, Future[Revoked]] = {}  # until the response takes its answer
        self._first_queued: float | None = None
        self.remaining: int | None = None  # what GitHub said is left of the hour's requests
        self.reset_at = 0.0  # when it said the budget comes back (epoch seconds)
        self.requests = 0  # sent, for the figures
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- what a response calls --------------------------------------------------------------
    def revoke(self, fingerprint: str, token: bytes, wait: float) -> Revoked:
        """Queue the token (once) and wait up to ``wait`` seconds for GitHub's answer; raises
        :class:`Deferred` (the token stays queued) or :class:`IssuerCallError`."""
        future = self._submit(fingerprint, token)
        try:
            revoked = future.result(timeout=wait)
        except FutureTimeout:
            raise Deferred(self._waiting_for(), self.next_send_at()) from None
        except IssuerCallError:
            with self._lock:
                self._futures.pop(fingerprint, None)  # asked again, it is sent again
            raise
        with self._lock:
            self._futures.pop(fingerprint, None)
        return revoked

    def next_send_at(self) -> float:
        """When the queued tokens are due to go out (epoch seconds)."""
        with self._lock:
            now = time.time()
            due = (self._first_queued or now) + self._linger(now)
            if self.remaining == 0 and self.reset_at > due:
                due = self.reset_at + 1
            return due

    def _waiting_for(self) -> str:
        if self.remaining == 0 and self.reset_at > time.time():
            reset = time.strftime("%H:%M:%S UTC", time.gmtime(self.reset_at))
            return f"queued: GitHub's revocation rate limit is spent until {reset}; the token goes then"
        return "queued with GitHub's next revocation batch"

    def _submit(self, fingerprint: str, token: bytes) -> Future[Revoked]:
        with self._lock:
            future = self._futures.get(fingerprint)
            if future is None:
                future = self._futures[fingerprint] = Future()
                self._queue[fingerprint] = token
                if self._first_queued is None:
                    self._first_queued = time.time()
                self._lock.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="keysentry-github-revoke", daemon=True)
                self._thread.start()
            return future

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()

    # --- the sender -------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._next_batch()
            if batch:
                self._send(batch)

    def _next_batch(self) -> dict[str, bytes]:
        """Wait until a batch is due (full, or lingered, and the rate limit allows); take it."""
        with self._lock:
            while not self._stop.is_set():
                if not self._queue:
                    self._lock.wait(1.0)
                    continue
                now = time.time()
                due = (self._first_queued or now) + self._linger(now)
                if len(self._queue) >= MAX_BATCH:
                    due = now
                if self.remaining == 0 and self.reset_at + 1 > due:
                    due = self.reset_at + 1  # waited out, not dropped
                if now < due:
                    self._lock.wait(due - now)
                    continue
                taken = dict(list(self._queue.items())[:MAX_BATCH])
                for fp in taken:
                    del self._queue[fp]
                self._first_queued = time.time() if self._queue else None
                return taken
        return {}

    def _linger(self, now: float) -> float:
        """How long to gather: ``linger``, or longer when few requests are left of the hour, so that
        the last ten are spread over the time to the reset rather than spent on a few tokens each."""
        if self.remaining is None or self.remaining > 10 or self.reset_at <= now:
            return self.linger
        return max(self.linger, (self.reset_at - now) / max(self.remaining, 1))

    def _send(self, batch: dict[str, bytes]) -> None:
        tokens = [t.decode("ascii", "replace") for t in batch.values()]
        try:
            with issuer_call(f"GitHub POST {REVOKE_PATH} ({len(tokens)} tokens)"):
                response = self._http.post(
                    self.url,
                    json={"credentials": tokens},
                    headers={"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"},
                )
        except IssuerCallError as exc:
            self._fail(batch, exc)
            return
        self.requests += 1
        self._read_limit(response)
        limited = response.status_code == 429 or (response.status_code == 403 and self.remaining == 0)
        if limited:
            with self._lock:
                self.remaining = 0
                if self.reset_at <= time.time():  # no reset given: try again in a minute
                    self.reset_at = time.time() + 60
            log.warning("GitHub's revocation rate limit is spent; %d tokens wait for it", len(batch))
            with self._lock:  # back in the queue, first in line
                self._queue = {**batch, **self._queue}
                self._first_queued = self._first_queued or time.time()
            return
        if response.status_code != 202:
            error = IssuerCallError(
                # not its body: an error may quote what was sent, and that is a batch of tokens
                f"GitHub POST {REVOKE_PATH} answered {response.status_code}",
                response.status_code,
            )
            self._fail(batch, error)
            return
        done = Revoked(time.time(), len(batch), response.headers.get("x-github-request-id", ""))
        with self._lock:
            for fp in batch:
                future = self._futures.get(fp)
                if future is not None and not future.done():
                    future.set_result(done)

    def _read_limit(self, response: httpx.Response) -> None:
        remaining = response.headers.get("x-ratelimit-remaining")
        reset = response.headers.get("x-ratelimit-reset")
        retry_after = response.headers.get("retry-after")
        with self._lock:
            if remaining is not None and remaining.isdigit():
                self.remaining = int(remaining)
            if reset is not None and reset.isdigit():
                self.reset_at = float(reset)
            if retry_after is not None and retry_after.isdigit():
                self.remaining, self.reset_at = 0, time.time() + int(retry_after)

    def _fail(self, batch: dict[str, bytes], error: IssuerCallError) -> None:
        with self._lock:
            for fp in batch:
                future = self._futures.get(fp)
                if future is not None and not future.done():
                    future.set_exception(error)
