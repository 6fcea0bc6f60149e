"""Device alerts: stored, then pushed to guards on the `device_alerts` channel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise.transactions import in_transaction

from realtime.messages import DeviceAlertMessage
from resolvers.core import clock
from resolvers.core.commit_order import ALERT_LOG, ids_in_commit_order
from resolvers.core.models import DeviceAlert
from resolvers.notifications import alarms
from resolvers.runtime import Runtime


@dataclass(frozen=True)
class AlertSpec:
    """An alert to raise (`raise_alerts`)."""

    kind: str
    message: str
    device_id: int | None = None
    gate_id: int | None = None
    payload: dict[str, Any] | None = None
    # The first alert of a window `count_in_window` opened: the window gets its id once it is
    # stored, or is closed again if it could not be.
    opens_window: bool = False


# Alerts stored in one transaction at most: the writer is the gate events' too, and a long
# transaction holds their group commit back.
ALERTS_PER_TRANSACTION = 50


async def raise_alert(
    rt: Runtime,
    kind: str,
    message: str,
    device_id: int | None = None,
    gate_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> DeviceAlert:
    [alert] = await raise_alerts(rt, [AlertSpec(kind, message, device_id, gate_id, payload)])
    return alert


async def raise_alerts(rt: Runtime, specs: Sequence[AlertSpec]) -> list[DeviceAlert]:
    """The alerts stored, then pushed, in order. Several go in one transaction: a batch of gate
    events can raise many (anti-passback, exits without entry), and a transaction apiece on the
    writer halved the scans a second the server could store (bench/scan_throughput.py)."""
    alerts: list[DeviceAlert] = []
    try:
        for start in range(0, len(specs), ALERTS_PER_TRANSACTION):
            alerts.extend(await _store_and_push(rt, specs[start : start + ALERTS_PER_TRANSACTION]))
    except BaseException:
        for spec in specs[len(alerts) :]:
            if spec.opens_window:
                _window_failed(spec.kind, spec.gate_id)
        raise
    for spec, alert in zip(specs, alerts, strict=True):
        if spec.opens_window:
            _window_raised(spec.kind, spec.gate_id, alert.id, spec.payload)
    return alerts


async def _store_and_push(rt: Runtime, chunk: Sequence[AlertSpec]) -> list[DeviceAlert]:
    """One transaction's alerts, then their pushes."""
    stored: list[DeviceAlert] = []
    async with in_transaction() as conn:
        # A resumed `deviceAlerts` replays after an alert id: ids in commit order across workers
        # (resolvers/core/commit_order.py), one lock for the transaction's alerts.
        await ids_in_commit_order(conn, ALERT_LOG)
        for spec in chunk:
            alert = await DeviceAlert.create(
                at=clock.now(),
                device_id=spec.device_id,
                gate_id=spec.gate_id,
                kind=spec.kind,
                message=spec.message,
                payload=spec.payload or {},
                using_db=conn,
            )
            # Security's phones and robots (README "Notifications"): in the alert's transaction.
            await alarms.on_alert(rt, spec.kind, alert.id, spec.message, conn, spec.payload)
            stored.append(alert)
    for alert in stored:
        rt.bus.send(
            DeviceAlertMessage(
                alert.id, alert.at, alert.kind, alert.message, device_id=alert.device_id, gate_id=alert.gate_id
            )
        )
    return stored


_last_raised: dict[tuple[str, int | None, int | None, str | None], float] = {}
THROTTLE_SECONDS = 60.0


async def raise_alert_throttled(
    rt: Runtime,
    kind: str,
    message: str,
    device_id: int | None = None,
    gate_id: int | None = None,
    subject: str | None = None,
    seconds: float = THROTTLE_SECONDS,
) -> DeviceAlert | None:
    """At most one alert per `seconds` (a minute by default) per (kind, device, gate, subject)
    from this process: a device stuck on a wrong gate id must not flood the guards or the table.
    `subject` is what else the alert is about (e.g. a client address); it is kept in the payload."""
    key = (kind, device_id, gate_id, subject)
    now = time.monotonic()
    last = _last_raised.get(key)
    if last is not None and now - last < seconds:
        return None
    _last_raised[key] = now
    if len(_last_raised) > 10_000:
        _last_raised.clear()
    payload = {"subject": subject} if subject is not None else None
    return await raise_alert(rt, kind, message, device_id=device_id, gate_id=gate_id, payload=payload)


@dataclass
class AlertWindow:
    """One alert standing for every repeat of its kind at its gate within `seconds`."""

    opened: float  # monotonic
    seconds: float
    message: Callable[[int], str]
    rewrite_seconds: float  # the count's rewrites after the first, at most this often
    alert_id: int = 0  # 0 until the window's first alert is stored
    # The first alert's payload (its event, its person, ...): a rewrite changes only the count.
    payload: dict[str, Any] = field(default_factory=dict)
    count: int = 1
    written: int = 1
    flush: asyncio.Task[None] | None = None


_windows: dict[tuple[str, int | None], AlertWindow] = {}
AGGREGATE_SECONDS = 60.0
AGGREGATE_FLUSH_SECONDS = 1.0
_flushes: set[asyncio.Task[None]] = set()


def count_in_window(
    kind: str,
    gate_id: int | None,
    message: Callable[[int], str],
    seconds: float = AGGREGATE_SECONDS,
    rewrite_seconds: float = AGGREGATE_FLUSH_SECONDS,
) -> AlertWindow | None:
    """The (kind, gate)'s window in this process, counted one more, or None when none was open:
    then a new one is, and the caller raises its first alert (`message(1)`, payload `count` 1) with
    `raise_alerts` and `AlertSpec.opens_window`. A repeat within the window adds to the
    alert's `payload.count` and its message (`message(count)`), is not pushed again, and is written
    within a second for the first repeat, then at most every `rewrite_seconds` (an UPDATE each:
    200 gates' windows rewritten every second cost the scan path 8% of its CPU).
    Synchronous: a burst finds the window open before the first alert is stored."""
    key = (kind, gate_id)
    now = time.monotonic()
    current = _windows.get(key)
    if current is None or now - current.opened >= current.seconds:
        if len(_windows) > 10_000:
            _windows.clear()
        _windows[key] = AlertWindow(opened=now, seconds=seconds, message=message, rewrite_seconds=rewrite_seconds)
        return None
    current.count += 1
    if current.flush is None:
        delay = AGGREGATE_FLUSH_SECONDS if current.written == 1 else current.rewrite_seconds
        current.flush = asyncio.create_task(_flush_later(current, delay))
        _flushes.add(current.flush)
        current.flush.add_done_callback(_flushes.discard)
    return current


def _window_raised(kind: str, gate_id: int | None, alert_id: int, payload: Mapping[str, Any] | None = None) -> None:
    if (window := _windows.get((kind, gate_id))) is not None and not window.alert_id:
        window.alert_id = alert_id
        window.payload = dict(payload or {})


def _window_failed(kind: str, gate_id: int | None) -> None:
    """The window's first alert was not stored: the next repeat opens the window again."""
    if (window := _windows.get((kind, gate_id))) is not None and not window.alert_id:
        del _windows[(kind, gate_id)]


async def raise_alert_aggregated(
    rt: Runtime,
    kind: str,
    message: Callable[[int], str],
    device_id: int | None = None,
    gate_id: int | None = None,
) -> bool:
    """One alert per (kind, gate) per AGGREGATE_SECONDS window (`count_in_window`). True when this
    call raised a new alert (the first of its window), so the caller records the alarm itself
    once per window too."""
    if count_in_window(kind, gate_id, message) is not None:
        return False
    await raise_alerts(rt, [AlertSpec(kind, message(1), device_id, gate_id, {"count": 1}, opens_window=True)])
    return True


async def _flush_later(window: AlertWindow, delay: float) -> None:
    await asyncio.sleep(delay)
    window.flush = None
    for _ in range(200):  # the first alert may still be being stored
        if window.alert_id:
            break
        await asyncio.sleep(0.05)
    else:
        return
    count = window.count
    if count != window.written:
        await DeviceAlert.filter(id=window.alert_id).update(
            payload={**window.payload, "count": count}, message=window.message(count)
        )
        window.written = count
