"""Limits at the door of ``keysentry serve``: ``[service]`` in ``keysentry.toml`` (or
``KEYSENTRY_SERVICE`` as JSON).

```toml
[service]
report_rate = 120          # reports a minute per API token on POST /v1/reports (0: no limit)
report_burst = 30          # reports one token may send at once before the rate applies
header_timeout = "10s"     # a request's headers must arrive within this (else disconnected)
body_timeout = "30s"       # a request's whole body must arrive within this (else 408)
max_report_bytes = 16777216   # the largest body of any request (else 413)
max_bodies_bytes = 268435456  # the bodies of all requests at once (else 503 with Retry-After)
```

A token over its rate gets 429 with ``Retry-After`` (seconds) and nothing is read of its body.  The
rate is kept by each replica for itself: with N replicas behind a balancer a token may send up to N
times it.  GitHub's partner endpoint is not rate limited (GitHub sends what it finds, batched); it
and every other request are bounded by ``header_timeout``, ``body_timeout`` and the body limits.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from keysentry.config import StrictModel
from keysentry.config.durations import parse_duration


class ServiceSettings(StrictModel):
    report_rate: int = Field(
        default=120,
        ge=0,
        description="Reports a minute per API token on POST /v1/reports; over it, 429 with Retry-After "
        "(0: no limit).",
    )
    report_burst: int = Field(
        default=30, ge=1, description="Reports one token may send at once before the rate applies."
    )
    header_timeout: timedelta = Field(
        default=timedelta(seconds=10),
        description="A request's headers must all arrive within this of connecting (or of the previous "
        "response); else the connection is closed.",
    )
    body_timeout: timedelta = Field(
        default=timedelta(seconds=30),
        description="A request's whole body must arrive within this, however slowly it trickles (else 408).",
    )
    max_report_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="The largest body of any request, a report's included (else 413, before it is read "
        "when its Content-Length says so).",
    )
    max_bodies_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="The bodies of all requests being received or handled at once, in bytes; over it, a "
        "new one gets 503 with Retry-After.",
    )

    @field_validator("header_timeout", "body_timeout", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value
