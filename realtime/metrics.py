"""The server's Prometheus metrics (prometheus-client), declared once for every layer.

Here, at the ground, because the layers that measure are on both sides of the arrows: the device
endpoint (decisions), the event log (group commits), the bus and the Redis pipe (realtime/). The
shell (api/health.py) only renders them on /metrics.

The scan path is the product's hot path (~350 µs of CPU a scan): what it adds here is a count in
a dict and a histogram observation kept as plain numbers (`Tally`), moved into prometheus-client's
metrics when they are read (README "Health and metrics" has the measurement). Gauges that describe a
state (devices connected, queue depths) are not kept up to date on the scan path at all: they are
read from their owners (`probe`) when a scrape comes, and every few seconds when several workers
share one scrape (multiprocess mode: a worker cannot read another's queues, so each writes its
own values to the shared directory; `refresh_loop`).

Several workers (`gatehouse serve --workers N`): the serve command points PROMETHEUS_MULTIPROC_DIR
at a fresh directory before the workers start; prometheus-client then keeps every value in a file
per worker there and the worker that answers a scrape adds them all up (gauges: `livesum`, the sum
over the workers alive). The choice is prometheus-client's, made when it is first imported, so the
directory must be in the environment before the process imports this module.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)

# No `_created` series beside every counter and histogram: nothing here reads them.
disable_created_metrics()

# The mode prometheus-client chose at its import (PROMETHEUS_MULTIPROC_DIR set or not).
MULTIPROCESS: bool = bool(getattr(values.ValueClass, "_multiprocess", False))

# Decisions are answered in well under a millisecond when quiet and tens of milliseconds at the
# morning rush; past a second the gate has given up.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)

SCANS = Counter(
    "gatehouse_scans",
    "Scans decided by this server: result (granted/denied), the reason code, the entry method",
    ["result", "reason", "method"],
)
DECISION_SECONDS = Histogram(
    "gatehouse_decision_seconds",
    "A gate's scan from the frame's arrival to its answer being sent",
    buckets=_LATENCY_BUCKETS,
)
DEVICES_CONNECTED = Gauge(
    "gatehouse_devices_connected", "Gate devices connected (all workers)", multiprocess_mode="livesum"
)
GRAPHQL_SUBSCRIBERS = Gauge(
    "gatehouse_graphql_subscribers",
    "GraphQL subscriptions running, by subscription field",
    ["field"],
    multiprocess_mode="livesum",
)
QUEUE_DEPTH = Gauge(
    "gatehouse_queue_depth",
    "Items waiting: event_log (group commit), bus_publish (to Redis), drawing (badge/report files)",
    ["queue"],
    multiprocess_mode="livesum",
)
SQLITE_WAL_PAGES = Gauge(
    "gatehouse_sqlite_wal_pages",
    "Pages in the SQLite write-ahead log at its latest checkpoint (started over past a limit)",
    multiprocess_mode="livemax",
)
GROUP_COMMIT_ROWS = Histogram(
    "gatehouse_group_commit_rows",
    "Gate events committed together in one group commit",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
DB_COMMIT_SECONDS = Histogram(
    "gatehouse_db_commit_seconds",
    "Time of one group commit of gate events (the statement and its commit)",
    buckets=_LATENCY_BUCKETS,
)
REDIS_SECONDS = Histogram(
    "gatehouse_redis_seconds",
    "Round trip of one command on the scan path's pipelined Redis connection",
    ["command"],
    buckets=_LATENCY_BUCKETS,
)

# The client's process metrics (process_cpu_seconds_total, ...) are not collected in multiprocess
# mode; these two are the same values per worker (a `pid` label with several), in both modes.
WORKER_CPU_SECONDS = Gauge(
    "gatehouse_worker_cpu_seconds", "CPU time this worker has used (user and system)", multiprocess_mode="liveall"
)
WORKER_MEMORY_BYTES = Gauge(
    "gatehouse_worker_resident_memory_bytes", "This worker's resident memory", multiprocess_mode="liveall"
)
_process = ProcessCollector(registry=None)


class Tally:
    """A histogram's observations kept as plain numbers on the hot path and moved into
    prometheus-client's histogram by `flush` (before a scrape; every few seconds with workers).

    prometheus-client's own `observe` takes a lock per value it touches and, with several workers,
    writes each one to a memory-mapped file: 1.4 µs an observation in one process, 3.3 µs with several workers,
    for numbers nobody reads until the next scrape. Here an observation is a bisect and two
    additions (~0.15-0.3 µs); `flush` adds the counts gathered since the last one to the histogram's
    buckets and sum (its `_buckets` and `_sum` values, which `observe` itself updates: a private
    part of prometheus-client, pinned in pyproject.toml and read back by tests/test_metrics_health.py).
    Everything runs on the event loop's thread."""

    __slots__ = ("_bounds", "_counts", "_sum", "_target")

    def __init__(self, target: Histogram) -> None:
        self._target = target
        self._bounds: list[float] = list(target._upper_bounds[:-1])  # the last is +Inf
        self._counts = [0] * (len(self._bounds) + 1)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: the first bound >= value, as prometheus-client's `value <= bound`.
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    def flush(self) -> None:
        counts, total = self._counts, self._sum
        if not any(counts):
            return
        self._counts = [0] * len(counts)
        self._sum = 0.0
        target: Any = self._target
        target._sum.inc(total)
        for bucket, count in zip(target._buckets, counts, strict=True):
            if count:
                bucket.inc(count)


_scan_counts: dict[tuple[bool, str, str], int] = defaultdict(int)
_decisions = Tally(DECISION_SECONDS)
_redis_tallies: dict[str, Tally] = {}


def scan_decided(granted: bool, reason: str, method: str) -> None:
    """One decision counted (added to gatehouse_scans_total at the next flush)."""
    _scan_counts[(granted, reason, method)] += 1


def scan_answered(granted: bool, reason: str, method: str, seconds: float) -> None:
    """A gate's scan answered `seconds` after its frame arrived."""
    _scan_counts[(granted, reason, method)] += 1
    _decisions.observe(seconds)


def redis_timer(command: str) -> Tally:
    """Where one Redis command's round trips are observed (EVALSHA, PUBLISH, ...)."""
    tally = _redis_tallies.get(command)
    if tally is None:
        # Only the commands the server sends: a label per command name, never per key.
        tally = _redis_tallies[command] = Tally(REDIS_SECONDS.labels(command))
    return tally


def flush() -> None:
    """What the hot path gathered since the last flush, into prometheus-client's metrics."""
    if _scan_counts:
        counts = dict(_scan_counts)
        _scan_counts.clear()
        for (granted, reason, method), count in counts.items():
            SCANS.labels("granted" if granted else "denied", reason, method).inc(count)
    _decisions.flush()
    for tally in list(_redis_tallies.values()):
        tally.flush()


# --------------------------------------------------------------------------- gauges read when asked

_probes: dict[tuple[Gauge, tuple[str, ...]], Callable[[], float]] = {}


def probe(gauge: Gauge, read: Callable[[], float], *labels: str) -> None:
    """`gauge` (with `labels`) takes the value `read()` returns whenever the metrics are refreshed.
    A probe registered again under the same labels replaces the earlier one (a new app)."""
    _probes[(gauge, labels)] = read


def refresh() -> None:
    """The hot path's tallies flushed and every probed gauge set from its owner (before a scrape;
    every few seconds with workers)."""
    flush()
    for family in _process.collect():
        if family.name == "process_cpu_seconds":
            WORKER_CPU_SECONDS.set(family.samples[0].value)
        elif family.name == "process_resident_memory_bytes":
            WORKER_MEMORY_BYTES.set(family.samples[0].value)
    for (gauge, labels), read in list(_probes.items()):
        try:
            value = float(read())
        except Exception:
            continue  # a probe whose owner stopped: the gauge keeps its last value
        (gauge.labels(*labels) if labels else gauge).set(value)


def exposition() -> bytes:
    """The metrics in Prometheus' text format: this process's, or every worker's (multiprocess)."""
    refresh()
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


REFRESH_SECONDS = 5.0


async def refresh_loop() -> None:
    """With several workers, each writes its probed gauges now and then for the others' scrapes."""
    while True:
        refresh()
        await asyncio.sleep(REFRESH_SECONDS)
