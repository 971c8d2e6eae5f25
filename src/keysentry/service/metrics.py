"""``/metrics`` for Prometheus, read from the store at each scrape, so that every process of the
service reports the same figures: exposures by state, containment and notification latency
(histograms), the outbox by channel and state, failed delivery attempts, and each watcher's last
successful poll and the work it has waiting (a stalled watcher shows as an old timestamp)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from keysentry.store.db import Store
from keysentry.store.queries import figures

BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


def _histogram(name: str, doc: str, seconds: list[float]) -> HistogramMetricFamily:
    counts = [sum(1 for s in seconds if s <= bound) for bound in BUCKETS]
    buckets = [(str(bound), count) for bound, count in zip(BUCKETS, counts, strict=True)]
    buckets.append(("+Inf", len(seconds)))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=sum(seconds))


class StoreCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Any]:
        read = figures(self.store)
        states, times, outbox, failed, cursors = (
            read.states,
            read.times,
            read.outbox,
            read.failed,
            read.cursors,
        )
        by_state = GaugeMetricFamily("keysentry_exposures", "Exposures by state.", labels=["state"])
        for state, count in states:
            by_state.add_metric([state], count)
        yield by_state
        yield _histogram(
            "keysentry_containment_seconds",
            "From detection to the quarantine being in place.",
            [(c - d).total_seconds() for d, c, _ in times if c is not None],
        )
        yield _histogram(
            "keysentry_notification_seconds",
            "From detection to the owner being told.",
            [(n - d).total_seconds() for d, _, n in times if n is not None],
        )
        queue = GaugeMetricFamily(
            "keysentry_outbox_messages", "Notifications by channel and state.", labels=["channel", "state"]
        )
        for channel, state, count in outbox:
            queue.add_metric([channel, state], count)
        yield queue
        failures = CounterMetricFamily(
            "keysentry_delivery_failures", "Failed delivery attempts by channel.", labels=["channel"]
        )
        for channel, count in failed:
            failures.add_metric([channel], count)
        yield failures
        polled = GaugeMetricFamily(
            "keysentry_watch_last_poll_timestamp_seconds",
            "When each watcher last polled its source successfully.",
            labels=["watcher"],
        )
        waiting = GaugeMetricFamily(
            "keysentry_watch_pending",
            "Commits, releases or packages a watcher has yet to read.",
            labels=["watcher"],
        )
        for name, cursor, updated_at in cursors:
            polled.add_metric([name], updated_at.timestamp())
            waiting.add_metric([name], len((cursor or {}).get("pending") or []))
        yield polled
        yield waiting
