"""uvicorn's HTTP/1.1 protocol (h11) with a deadline for a request's headers: a client that has not
sent all of a request's headers within ``[service] header_timeout`` of connecting, or of the previous
response on its connection, is disconnected.  uvicorn itself waits for headers for as long as they
trickle in, so clients sending a byte a second would hold their connections (and the service's file
descriptors) for ever; the body has its own deadline (``body_timeout``, :mod:`keysentry.service.limits`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderDeadlineProtocol(H11Protocol):
    header_timeout = 10.0  # seconds; set per service by ``with_header_timeout``
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # still in a request's headers, or between requests
            self._arm()
        else:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's headers have the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for a service whose headers must arrive within ``seconds``."""
    attributes: dict[str, Any] = {"header_timeout": seconds}
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), attributes)
