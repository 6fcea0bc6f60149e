"""The server's Prometheus metrics (prometheus-client), declared once for every layer.

Here, at the ground, because the layers that measure are on both sides of the arrows: the device
endpoint (decisions), the event log (group commits), the bus and the Redis pipe (realtime/). The
shell (api/health.py) only renders them on /metrics.

The scan path is the product's hot path (~350 µs of CPU a scan): what it adds here is one
counter increment on a child looked up once per (result, reason, method) and one histogram
observation, about 1-2 µs (README "Health and metrics" has the measurement). Gauges that describe a
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
import os
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram, ProcessCollector, disable_created_metrics

# No `_created` series beside every counter and histogram: nothing here reads them.
disable_created_metrics()

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir"))

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

_scan_counters: dict[tuple[bool, str, str], Counter] = {}
_observe_decision = DECISION_SECONDS.observe


def scan_decided(granted: bool, reason: str, method: str) -> None:
    """One decision counted (a few hundred nanoseconds once its labels were seen)."""
    key = (granted, reason, method)
    counter = _scan_counters.get(key)
    if counter is None:
        counter = _scan_counters[key] = SCANS.labels("granted" if granted else "denied", reason, method)
    counter.inc()


def scan_answered(granted: bool, reason: str, method: str, seconds: float) -> None:
    """A gate's scan answered `seconds` after its frame arrived."""
    scan_decided(granted, reason, method)
    _observe_decision(seconds)


_redis_histograms: dict[str, Histogram] = {}


def redis_timer(command: str) -> Histogram:
    """The histogram of one Redis command's round trips (EVALSHA, PUBLISH, ...)."""
    histogram = _redis_histograms.get(command)
    if histogram is None:
        # Only the commands the server sends: a label per command name, never per key.
        histogram = _redis_histograms[command] = REDIS_SECONDS.labels(command)
    return histogram


# --------------------------------------------------------------------------- gauges read when asked

_probes: dict[tuple[Gauge, tuple[str, ...]], Callable[[], float]] = {}


def probe(gauge: Gauge, read: Callable[[], float], *labels: str) -> None:
    """`gauge` (with `labels`) takes the value `read()` returns whenever the metrics are refreshed.
    A probe registered again under the same labels replaces the earlier one (a new app)."""
    _probes[(gauge, labels)] = read


def refresh() -> None:
    """Every probed gauge set from its owner (before a scrape; every few seconds with workers)."""
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


REFRESH_SECONDS = 5.0


async def refresh_loop() -> None:
    """With several workers, each writes its probed gauges now and then for the others' scrapes."""
    while True:
        refresh()
        await asyncio.sleep(REFRESH_SECONDS)
