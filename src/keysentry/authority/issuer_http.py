"""Where an issuer's HTTP errors become ours, once: every call to GitHub, Slack or GitLab runs inside
:func:`issuer_call`, which turns httpx's failures into :class:`IssuerCallError` naming the call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from keysentry.errors import AuthorityError


class IssuerCallError(AuthorityError):
    """An issuer refused or failed one call; ``status`` is its HTTP status (0: no answer came)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@contextmanager
def issuer_call(what: str) -> Iterator[None]:
    try:
        yield
    except httpx.HTTPError as exc:
        raise IssuerCallError(f"{what} failed: {type(exc).__name__}: {exc}") from exc


def client(timeout: float) -> httpx.Client:
    """No proxies from the environment, no redirects: the issuer's URL is the one configured."""
    return httpx.Client(timeout=timeout, trust_env=False, follow_redirects=False)
