"""The device fleet (POLICY 5): lifecycle, secrets, health against targets, maintenance."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.expressions import Q
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet, ValuesQuery
from tortoise.transactions import in_transaction

from realtime.messages import DeviceSessionMessage
from realtime.scan_state import ScanState
from resolvers.alerts.raising import AlertSpec, raise_alerts
from resolvers.core import clock, validation
from resolvers.core.crypto import random_token
from resolvers.core.errors import ErrorCode, UserError, not_found, parse_id
from resolvers.core.leadership import still_leads
from resolvers.core.models import (
    Decision,
    Device,
    DeviceHealthSample,
    DeviceKind,
    DeviceStatus,
    DeviceTarget,
    GateEvent,
    MaintenanceKind,
    MaintenancePlan,
    MaintenanceRecord,
)
from resolvers.core.periodic import Periodic
from resolvers.devices.commands import retry_unacknowledged
from resolvers.people import audit
from resolvers.runtime import Runtime

log = logging.getLogger("gatehouse.fleet")
HEALTH_PAGE = 500  # devices judged per round of the fleet check's queries
# Allowed lifecycle moves (retirement is its own step and final).
MOVES = {
    DeviceStatus.COMMISSIONED: {DeviceStatus.IN_SERVICE},
    DeviceStatus.IN_SERVICE: {DeviceStatus.UNDER_REPAIR},
    DeviceStatus.UNDER_REPAIR: {DeviceStatus.IN_SERVICE},
}


async def get_device(device_id: str, field: str = "id") -> Device:
    device = await Device.get_or_none(id=parse_id(device_id, "device", field))
    if device is None:
        raise not_found("device", field)
    return device


async def commission(rt: Runtime, device_id: str) -> Device:
    """Registered → commissioned, once the checklist is complete (POLICY 5.2): from now on it opens doors."""
    device = await get_device(device_id)
    if device.status is DeviceStatus.COMMISSIONED:
        return device
    if device.status is not DeviceStatus.REGISTERED:
        raise UserError(ErrorCode.NOT_ALLOWED, f"a {device.status.value} device cannot be commissioned")
    missing = [
        name
        for name, done in (
            ("network reached", device.network_reached_at),
            ("configuration loaded", device.config_loaded_at),
            ("test scan decided", device.test_scan_at),
        )
        if done is None
    ]
    if missing:
        raise UserError(ErrorCode.NOT_ALLOWED, "the commissioning checklist is not complete: " + ", ".join(missing))
    device.status = DeviceStatus.COMMISSIONED
    await device.save(update_fields=["status"])
    audit.note_change("device", device.id, {"status": "REGISTERED"}, {"status": "COMMISSIONED"})
    await rt.grants_changed()
    return device


async def set_status(rt: Runtime, device_id: str, status: DeviceStatus) -> Device:
    device = await get_device(device_id)
    if device.status is status:
        return device
    if status not in MOVES.get(device.status, set()):
        raise UserError(ErrorCode.NOT_ALLOWED, f"a {device.status.value} device cannot become {status.value}", "status")
    before = device.status.value
    device.status = status
    await device.save(update_fields=["status"])
    audit.note_change("device", device.id, {"status": before}, {"status": status.value})
    # Whether a device may open doors travels with the grants (resolvers/access/grant_index.py):
    # bumping their shared version makes every server process's next scan read it again.
    await rt.grants_changed()
    return device


async def retire(rt: Runtime, device_id: str) -> Device:
    """Final: the device is refused on connect (4401) and its live connection is closed."""
    device = await get_device(device_id)
    if device.status is not DeviceStatus.RETIRED:
        before = device.status.value
        device.status = DeviceStatus.RETIRED
        await device.save(update_fields=["status"])
        audit.note_change("device", device.id, {"status": before}, {"status": "RETIRED"})
        await rt.grants_changed()
    rt.bus.send(DeviceSessionMessage(device_id=device.id, connection="retired", close_code=4401))
    return device


async def link_asset(rt: Runtime, device_id: str, label_code: str) -> Device:
    """Record which labelled asset the device is, so scrapping the asset retires it."""
    from resolvers.items import catalogue as items

    device = await get_device(device_id)
    asset = await items.asset_by_label(rt, label_code)
    if await Device.filter(asset_id=asset.id).exclude(id=device.id).exists():
        raise UserError(ErrorCode.CONFLICT, "another device is this asset", "labelCode")
    device.asset_id = asset.id
    await device.save(update_fields=["asset_id"])
    audit.note_change("device", device.id, None, {"asset": asset.id})
    return device


async def retire_scrapped(rt: Runtime, asset_id: int) -> list[Device]:
    """An asset disposed of through the scrapping flow: any device it was is retired with it."""
    retired = []
    for device in await Device.filter(asset_id=asset_id).exclude(status=DeviceStatus.RETIRED):
        retired.append(await retire(rt, str(device.id)))
    return retired


async def rotate_secret(rt: Runtime, device_id: str) -> tuple[Device, str]:
    """A new secret, shown once; the old one stops working and the live connection must reconnect."""
    device = await get_device(device_id)
    if device.status is DeviceStatus.RETIRED:
        raise UserError(ErrorCode.NOT_ALLOWED, "a retired device has no secret")
    secret = random_token(24)
    device.secret_hash = rt.sealer.device_secret_hash(secret)
    await device.save(update_fields=["secret_hash"])
    audit.note_change("device", device.id, None, {"secretRotated": True})
    rt.bus.send(DeviceSessionMessage(device_id=device.id, connection="rotated", close_code=4401))
    return device, secret


@dataclass(frozen=True, slots=True)
class Holding:
    """A connection's hold on its device (who routes its commands), renewed with each heartbeat."""

    state: ScanState
    connection: str
    ttl: int


async def record_heartbeat(device: Device | int, stats: object, holding: Holding | None = None) -> None:
    """Heartbeat counters are totals since the device booted; store the difference.

    Stored by the time this returns, together with the other heartbeats that arrived within
    HEARTBEAT_GATHER_SECONDS (group commit): a campus of 10,000 gates heartbeats 333 times a second, and one
    transaction per heartbeat (a read, a sample, an update) took the database from the scans. The
    connection's hold is renewed first, with the batch's others in one round trip (on Redis a SET
    each was a fifth of the idle campus's server time), unless the device has reconnected since."""
    device_id = device if isinstance(device, int) else device.id
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _queue_heartbeat(device_id, stats, done, holding)
    await asyncio.shield(done)


def _queue_heartbeat(device_id: int, stats: object, done: asyncio.Future[None], holding: Holding | None = None) -> None:
    # Seen when it arrived, not when its batch is written (a quarter of a second later, or more).
    _heartbeats.append((device_id, stats, clock.now(), done, holding))
    global _heartbeat_writer
    loop = asyncio.get_running_loop()
    if _heartbeat_writer is None or _heartbeat_writer.done() or _heartbeat_writer.get_loop() is not loop:
        _heartbeat_writer = asyncio.create_task(_write_heartbeats(), name="heartbeat-writer")


def note_seen(device_id: int) -> None:
    """A device connected: stored as seen with the next batch of heartbeats, not waited for. A
    reconnecting campus made an UPDATE and a commit each, 10,000 of them queued on the writer."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    # The writer logs nothing for a batch that failed (each heartbeat's connection does): here.
    done.add_done_callback(_log_unseen)
    _queue_heartbeat(device_id, None, done)


def _log_unseen(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("a connection's last-seen time not stored: %s", done.exception())


_heartbeats: list[tuple[int, object, datetime, asyncio.Future[None], Holding | None]] = []
_heartbeat_writer: asyncio.Task[None] | None = None


# Heartbeats stored in one transaction at most: after a campus reconnects, thousands queue up, and
# one batch of them all held the event loop (building the rows) and the writer (storing them) for
# 0.1-1.1 s, which the gate events' commits waited behind (bench/stall_watch.py).
MAX_HEARTBEAT_BATCH = 250


# A heartbeat waits this long for others to share its transaction. Stored as they came, a campus's
# 333 a second went a few at a time, and each batch's fixed cost (its read, its statements, its
# commit) took 12% of the scan path's CPU. Nothing waits on a heartbeat but its own connection's
# next one (devices/endpoint.py): a newer heartbeat replaces one not yet stored.
HEARTBEAT_GATHER_SECONDS = 0.25


async def _write_heartbeats() -> None:
    """Store what is queued, then what queued up meanwhile, until nothing is left."""
    while _heartbeats:
        if len(_heartbeats) < MAX_HEARTBEAT_BATCH:
            await asyncio.sleep(HEARTBEAT_GATHER_SECONDS)
        batch = _heartbeats[:MAX_HEARTBEAT_BATCH]
        del _heartbeats[:MAX_HEARTBEAT_BATCH]
        try:
            await _renew_holdings([(device_id, holding) for device_id, *_, holding in batch if holding is not None])
            await _store_heartbeats([(device_id, stats, at) for device_id, stats, at, _, _ in batch])
        except Exception as exc:
            for *_, done, _ in batch:
                if not done.done():
                    done.set_exception(exc)
            continue
        for *_, done, _ in batch:
            if not done.done():
                done.set_result(None)


async def _renew_holdings(holdings: list[tuple[int, Holding]]) -> None:
    by_state: dict[int, tuple[ScanState, list[tuple[int, str, int]]]] = {}
    for device_id, h in holdings:
        by_state.setdefault(id(h.state), (h.state, []))[1].append((device_id, h.connection, h.ttl))
    for state, held in by_state.values():  # one state per process, but nothing here assumes it
        await state.renew_device_connections(held)


async def _store_heartbeats(batch: list[tuple[int, object, datetime]]) -> None:
    """Each device's counters' differences as samples (at their heartbeats' times), and its
    last time seen and counters, from a batch of heartbeats in the order they arrived."""
    # Only what the difference needs (whole rows cost their date parsing, 333 times a second).
    ids = {device_id for device_id, _, _ in batch}
    known: dict[int, dict[str, Any]] = {
        device_id: stats if isinstance(stats, dict) else {}
        for device_id, stats in await Device.filter(id__in=ids).values_list("id", "last_stats")
    }
    samples: list[DeviceHealthSample] = []
    last_stats: dict[int, dict[str, Any]] = {}
    last_seen: dict[int, datetime] = {}
    for device_id, stats, at in batch:  # in arrival order: a device's second heartbeat counts from its first
        if device_id not in known:
            continue
        previous_stats = last_stats.get(device_id, known[device_id])
        fresh = {
            k: v
            for k, v in (stats.items() if isinstance(stats, dict) else ())
            if k in ("scans", "decodeFailures", "recognitionAttempts", "recognitionSuccesses")
            and isinstance(v, int)
            and not isinstance(v, bool)
            and 0 <= v < 2**40
        }
        delta = {}
        for key, value in fresh.items():
            previous = previous_stats.get(key, 0)
            delta[key] = value - previous if value >= previous else value  # counters restart with the device
        # A sample of nothing adds nothing to a health sum: an idle gate's heartbeats store none
        # (a campus's idle thousands wrote a row each, 333 a second, built on the event loop).
        if any(delta.values()):
            samples.append(
                DeviceHealthSample(
                    device_id=device_id,
                    at=at,
                    scans=delta.get("scans", 0),
                    decode_failures=delta.get("decodeFailures", 0),
                    recognition_attempts=delta.get("recognitionAttempts", 0),
                    recognition_successes=delta.get("recognitionSuccesses", 0),
                )
            )
        last_stats[device_id] = {**previous_stats, **fresh}
        last_seen[device_id] = at
    if not last_stats:
        return
    conn = connections.get("default")
    if isinstance(conn, SqliteClient) and not isinstance(conn, TransactionalDBClient):
        await _sqlite_store_heartbeats(conn, samples, last_stats, last_seen)
        return
    # PostgreSQL: one statement for the samples and one for the devices, their ids, times seen and
    # counters as arrays.
    stats_field = Device._meta.fields_map["last_stats"]
    async with in_transaction() as tx:
        if samples:
            await DeviceHealthSample.bulk_create(samples, using_db=tx)
        await tx.execute_query(
            'UPDATE "device" SET "last_seen_at" = v.seen, "last_stats" = v.stats::jsonb, "offline_alerted_at" = NULL'
            " FROM unnest($1::bigint[], $2::timestamptz[], $3::text[]) AS v(id, seen, stats)"
            ' WHERE "device"."id" = v.id',
            [
                list(last_stats),
                [last_seen[device_id] for device_id in last_stats],
                [_json_text(stats_field.to_db_value(merged, Device)) for merged in last_stats.values()],
            ],
        )


_SAMPLE_COLUMNS = '"device_id", "at", "scans", "decode_failures", "recognition_attempts", "recognition_successes"'


def _heartbeats_committed(db: sqlite3.Connection, samples: list[tuple[Any, ...]], seen: list[tuple[Any, ...]]) -> None:
    """On the connection's own thread: the batch's transaction, begun and committed there, each
    part one statement of many rows. The thread gives up the GIL around every statement it steps
    and waits for it back from the busy event loop: `executemany` stepped once per row."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if samples:
            rows = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(samples))
            db.execute(
                f'INSERT INTO "device_health_sample" ({_SAMPLE_COLUMNS}) VALUES {rows}', [v for r in samples for v in r]
            )
        rows = ", ".join(["(?, ?, ?)"] * len(seen))
        db.execute(
            'UPDATE "device" SET "last_seen_at" = v.column2, "last_stats" = v.column3, "offline_alerted_at" = NULL'
            f' FROM (VALUES {rows}) AS v WHERE "device"."id" = v.column1',
            [v for r in seen for v in r],
        )
    except BaseException:
        db.rollback()
        raise
    db.commit()


async def _sqlite_store_heartbeats(
    client: SqliteClient,
    samples: list[DeviceHealthSample],
    last_stats: dict[int, dict[str, Any]],
    last_seen: dict[int, datetime],
) -> None:
    """SQLite's batch as one call on the ORM connection's thread (under the client's lock, as an
    ORM statement): an ORM transaction held the writer across several turns of the event loop, and
    with a campus connected the gate events' commits waited 50-100 ms behind it (bench/stall_watch.py
    on the campus bench). Values encoded as the ORM encodes them."""
    at = DeviceHealthSample._meta.fields_map["at"]
    sample_rows = [
        (
            s.device_id,
            at.to_db_value(s.at, DeviceHealthSample),
            s.scans,
            s.decode_failures,
            s.recognition_attempts,
            s.recognition_successes,
        )
        for s in samples
    ]
    fields = Device._meta.fields_map
    seen_rows = [
        (
            device_id,
            fields["last_seen_at"].to_db_value(last_seen[device_id], Device),
            fields["last_stats"].to_db_value(merged, Device),
        )
        for device_id, merged in last_stats.items()
    ]
    async with client.acquire_connection() as db:
        client.log.debug("heartbeats: %d health samples, %d devices seen", len(sample_rows), len(seen_rows))
        try:
            await db._execute(_heartbeats_committed, db._conn, sample_rows, seen_rows)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(exc) from exc
        except sqlite3.OperationalError as exc:
            raise OperationalError(exc) from exc


def _json_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class Health:
    window_minutes: int
    scans: int
    decode_failures: int
    decode_success: float | None
    decisions: int
    denied_ratio: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    recognition_success: float | None
    problems: list[str]


async def target_for(kind: DeviceKind) -> DeviceTarget:
    return await DeviceTarget.get_or_none(kind=kind) or DeviceTarget(kind=kind)


async def set_target(kind: DeviceKind, values: dict[str, float | None]) -> DeviceTarget:
    target = await target_for(kind)
    for name, value in values.items():
        if value is None:
            continue
        if value < 0 or (name != "max_latency_ms" and value > 1):
            raise UserError(
                ErrorCode.INVALID, "rates are fractions from 0 to 1; latency is positive milliseconds", name
            )
        setattr(target, name, value)
    await target.save()
    audit.note_change("device_target", kind.value, None, values)
    return target


async def health(device: Device, window_minutes: int = 60) -> Health:
    since = clock.now() - timedelta(minutes=window_minutes)
    samples = await DeviceHealthSample.filter(device_id=device.id, at__gte=since).values(
        "scans", "decode_failures", "recognition_attempts", "recognition_successes"
    )
    sums = (
        sum(s["scans"] for s in samples),
        sum(s["decode_failures"] for s in samples),
        sum(s["recognition_attempts"] for s in samples),
        sum(s["recognition_successes"] for s in samples),
    )
    events = await decided_since(since, [device.id]).values_list("decision", "latency_ms")
    return _health(window_minutes, sums, list(events), await target_for(device.kind))


def decided_since(since: datetime, device_ids: list[int]) -> QuerySet[GateEvent]:
    """The devices' decided events since `since` (one device's report: `health`, or one found wanting)."""
    return GateEvent.filter(device_id__in=device_ids, at__gte=since, decision__not_isnull=True)


def window_counts(since: datetime, until: datetime, latency_limits: list[float]) -> ValuesQuery[Literal[False]]:
    """Per device: its decided events from `since` to `until`, the denied ones, the timed ones and,
    for each of `latency_limits` (index i), those slower than it (`slow{i}`), counted by the
    database in one pass over the window through the gate events' time index (migration 0027).
    Bounded on both sides so that the planner takes that index: with `since` alone SQLite walked
    the whole log in device order to save itself the grouping's sort."""
    counts: dict[str, Any] = {
        "decided": Count("id"),
        "denied": Count("id", _filter=Q(decision=Decision.DENIED)),
        "timed": Count("latency_ms"),
        **{f"slow{i}": Count("id", _filter=Q(latency_ms__gt=limit)) for i, limit in enumerate(latency_limits)},
    }
    return (
        GateEvent.filter(at__gte=since, at__lte=until, decision__not_isnull=True, device_id__not_isnull=True)
        .annotate(**counts)
        .group_by("device_id")
        .values("device_id", *counts)
    )


@dataclass(frozen=True, slots=True)
class FleetWindow:
    """Every device's decisions in the window, counted once for a whole fleet check: per page of
    devices, the query went over the window's events again (or, before the time index, over every
    event the page's devices ever had: 2,000,000 events of history cost 4-5 s every 30 s)."""

    minutes: int
    since: datetime
    targets: dict[DeviceKind, DeviceTarget]
    limits: list[float]
    counted: dict[int, dict[str, Any]]


async def fleet_window(window_minutes: int = 60) -> FleetWindow:
    now = clock.now()
    since = now - timedelta(minutes=window_minutes)
    stored = {t.kind: t for t in await DeviceTarget.all()}
    targets = {kind: stored.get(kind) or DeviceTarget(kind=kind) for kind in DeviceKind}
    limits = sorted({t.max_latency_ms for t in targets.values()})
    counted = {row["device_id"]: row for row in await window_counts(since, now, limits)}
    return FleetWindow(window_minutes, since, targets, limits, counted)


async def fleet_problems(devices: list[tuple[int, DeviceKind]], window: FleetWindow | None = None) -> dict[int, Health]:
    """The `health` of those of `devices` that miss their target, from the window's counts (by
    default the last hour's, counted here) and one query of health samples for all of them, then
    one more per device found wanting.

    The window's events are counted in the database per device, not read: an hour of a campus's
    events is hundreds of thousands of rows. A p95 latency above the target is a count too: with n
    latencies sorted, the one at index k = min(n - 1, int(0.95 n)) is above T exactly when at least
    n - k of them are. A device that misses anything gets its full report (the alert quotes it),
    from its own rows as `health` reads them."""
    if not devices:
        return {}
    if window is None:
        window = await fleet_window()
    ids = [device_id for device_id, _ in devices]
    sums: dict[int, tuple[int, int, int, int]] = {}
    for row in (
        await DeviceHealthSample.filter(at__gte=window.since, device_id__in=ids)
        .group_by("device_id")
        .annotate(
            s=Sum("scans"), f=Sum("decode_failures"), a=Sum("recognition_attempts"), r=Sum("recognition_successes")
        )
        .values_list("device_id", "s", "f", "a", "r")
    ):
        sums[row[0]] = (int(row[1] or 0), int(row[2] or 0), int(row[3] or 0), int(row[4] or 0))
    wanting = []
    for device_id, kind in devices:
        target = window.targets[kind]
        scans, failures, attempts, successes = sums.get(device_id, (0, 0, 0, 0))
        counted = window.counted.get(device_id)
        decided, timed = (counted["decided"], counted["timed"]) if counted else (0, 0)
        slow = counted[f"slow{window.limits.index(target.max_latency_ms)}"] if counted else 0
        if (
            (scans and (scans - failures) / scans < target.min_decode_success)
            or (attempts and successes / attempts < target.min_recognition_success)
            or (timed and slow >= timed - min(timed - 1, int(timed * 0.95)))
            or (decided and counted is not None and counted["denied"] / decided > target.max_denied_ratio)
        ):
            wanting.append((device_id, target, (scans, failures, attempts, successes)))
    reports = {}
    for device_id, target, device_sums in wanting:
        rows = await decided_since(window.since, [device_id]).values_list("decision", "latency_ms")
        reports[device_id] = _health(window.minutes, device_sums, list(rows), target)
    return reports


def _health(
    window_minutes: int,
    sums: tuple[int, int, int, int],
    events: list[tuple[str, int | None]],
    target: DeviceTarget,
) -> Health:
    """A device's health from its samples' sums (scans, decode failures, recognition attempts and
    successes) and its decided events (decision, latency) within the window, against its target."""
    scans, failures, attempts, successes = sums
    denied = sum(1 for decision, _ in events if decision == Decision.DENIED.value)
    latencies = sorted(latency for _, latency in events if latency is not None)
    decode_success = (scans - failures) / scans if scans else None
    recognition = successes / attempts if attempts else None
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] if latencies else None
    problems = []
    if decode_success is not None and decode_success < target.min_decode_success:
        problems.append(f"decode success {decode_success:.1%} below {target.min_decode_success:.1%}")
    if recognition is not None and recognition < target.min_recognition_success:
        problems.append(f"recognition success {recognition:.1%} below {target.min_recognition_success:.1%}")
    if p95 is not None and p95 > target.max_latency_ms:
        problems.append(f"p95 decision latency {p95:.0f} ms above {target.max_latency_ms:.0f} ms")
    if events and denied / len(events) > target.max_denied_ratio:
        problems.append(f"denied ratio {denied / len(events):.0%} above {target.max_denied_ratio:.0%}")
    return Health(
        window_minutes=window_minutes,
        scans=scans,
        decode_failures=failures,
        decode_success=decode_success,
        decisions=len(events),
        denied_ratio=denied / len(events) if events else None,
        latency_p50_ms=latencies[len(latencies) // 2] if latencies else None,
        latency_p95_ms=p95,
        recognition_success=recognition,
        problems=problems,
    )


async def add_plan(device_id: str, kind: MaintenanceKind, interval_days: int, first_due_days: int | None) -> Any:
    device = await get_device(device_id, "deviceId")
    if not 1 <= interval_days <= 3650:
        raise UserError(ErrorCode.INVALID, "between 1 and 3650 days", "intervalDays")
    first = interval_days if first_due_days is None else first_due_days
    if not 0 <= first <= 3650:
        raise UserError(ErrorCode.INVALID, "between 0 and 3650 days", "firstDueDays")
    plan = await MaintenancePlan.create(
        device_id=device.id, kind=kind, interval_days=interval_days, next_due=clock.now() + timedelta(days=first)
    )
    audit.note_change("maintenance_plan", plan.id, None, {"device": device.id, "kind": kind.value})
    return plan


async def record_maintenance(
    actor_id: int, device_id: str, kind: MaintenanceKind, notes: str | None, plan_id: str | None
) -> MaintenanceRecord:
    device = await get_device(device_id, "deviceId")
    plan = None
    if plan_id is not None:
        plan = await MaintenancePlan.get_or_none(id=parse_id(plan_id, "plan", "planId"), device_id=device.id)
        if plan is None:
            raise not_found("maintenance plan of this device", "planId")
    text = validation.name(notes, "notes", max_length=1000) if notes and notes.strip() else ""
    now = clock.now()
    record = await MaintenanceRecord.create(
        device_id=device.id, plan_id=plan.id if plan else None, kind=kind, done_at=now, done_by_id=actor_id, notes=text
    )
    if plan is not None:
        plan.next_due = now + timedelta(days=plan.interval_days)
        await plan.save(update_fields=["next_due"])
    return record


async def all_devices() -> list[Device]:
    """Every device, retired ones too (a fleet is tens of devices per site: not paged)."""
    return await Device.all().order_by("id")


async def plans_page(device_id: int | None, first: int, after_id: int | None) -> list[MaintenancePlan]:
    """Maintenance plans (of one device, or all), by id, up to first + 1 after `after_id`."""
    query = MaintenancePlan.all() if device_id is None else MaintenancePlan.filter(device_id=device_id)
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    return await query.order_by("id").limit(first + 1)


async def overdue_page(first: int, after_id: int | None) -> list[MaintenancePlan]:
    """Plans whose next date has passed, by id, up to first + 1 after `after_id`. Paged by id
    rather than by date: recording the work moves the date, and must not lose the reader's place."""
    query = MaintenancePlan.filter(next_due__lt=clock.now())
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    return await query.order_by("id").limit(first + 1)


async def check_fleet(rt: Runtime) -> None:
    """Offline devices and devices below target each raise one alert per episode."""
    now = clock.now()
    silent_for = timedelta(seconds=3 * rt.settings.heartbeat_seconds)
    watched = [DeviceStatus.COMMISSIONED, DeviceStatus.IN_SERVICE]
    # Only a device not seen for 3 heartbeats can be offline, and every heartbeat stores when it was
    # seen: the query rules out a campus's live gates, not 10,000 connection look-ups (a Redis round
    # trip each) every upkeep interval. A device seen long ago may still be connected here or at
    # another worker (a gate that scans without heartbeats): its connection is asked.
    # Ids and names only: whole rows cost their dates' parsing, 0.3 s on the event loop while a
    # campus of thousands was still connecting (bench/stall_watch.py).
    quiet_filter = Q(status__in=watched, offline_alerted_at=None) & (
        Q(last_seen_at=None) | Q(last_seen_at__lt=now - silent_for)
    )
    quiet = await Device.filter(quiet_filter).order_by("id").values_list("id", "name")
    # A page at a time, each page's connections in one look-up and its marks in one statement: a
    # campus's switch failing takes thousands of gates off at once, and a look-up, an UPDATE and an
    # alert's transaction apiece held the writer from the gate events for seconds (issue 13).
    for start in range(0, len(quiet), HEALTH_PAGE):
        if not still_leads():
            return
        page = dict(quiet[start : start + HEALTH_PAGE])
        connected = await rt.state.device_connections(list(page))
        marked = await _mark_alerted([i for i in page if i not in connected], quiet_filter, {"offline_alerted_at": now})
        specs = [AlertSpec("offline", f"device {page[i]} is offline", device_id=i) for i in marked]
        if specs:
            await raise_alerts(rt, specs)
    # Devices alerted for their health within the hour are not judged again (one alert per episode).
    # A page of devices at a time: the whole campus's rows at once held the event loop ~50 ms.
    judged = Q(status__in=watched) & (Q(health_alerted_at=None) | Q(health_alerted_at__lte=now - timedelta(hours=1)))
    after = 0
    window: FleetWindow | None = None  # counted once, with the first page that has devices to judge
    while True:
        if not still_leads():
            return
        due = [
            (device_id, name, DeviceKind(kind))
            for device_id, name, kind in await Device.filter(judged, id__gt=after)
            .order_by("id")
            .limit(HEALTH_PAGE)
            .values_list("id", "name", "kind")
        ]
        if not due:
            return
        after = due[-1][0]
        names = {device_id: name for device_id, name, _ in due}
        if window is None:
            window = await fleet_window()
        reports = await fleet_problems([(device_id, kind) for device_id, _, kind in due], window)
        problems = {device_id: report.problems for device_id, report in reports.items() if report.problems}
        marked = await _mark_alerted(list(problems), judged, {"health_alerted_at": now})
        specs = [
            AlertSpec("below_target", f"device {names[i]}: " + "; ".join(problems[i]), device_id=i) for i in marked
        ]
        if specs:
            await raise_alerts(rt, specs)


async def _mark_alerted(device_ids: list[int], still_due: Q, marks: dict[str, Any]) -> list[int]:
    """Sets `marks` on those of `device_ids` that `still_due` still selects; their ids. A device
    heard from or alerted since the check's query is left out: one alert per episode."""
    if not device_ids:
        return []
    async with in_transaction() as conn:
        found = (
            await Device.filter(still_due, id__in=device_ids)
            .using_db(conn)
            .select_for_update()
            .order_by("id")
            .values_list("id", flat=True)
        )
        ids: list[int] = list(found)  # type: ignore[arg-type]  # flat=True: the ids themselves
        if ids:
            await Device.filter(id__in=ids).using_db(conn).update(**marks)
    return ids


class FleetUpkeep(Periodic):
    """Every worker: commands to the devices connected to this worker, resent until acknowledged
    (retries are due to the second)."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__("fleet upkeep", lambda: retry_unacknowledged(rt), 1.0, log, first_delay=1.0)


class FleetCheck(Periodic):
    """The leading worker only (resolvers/core/leadership.py): the site-wide fleet check
    (offline and below-target devices), a second after it starts leading, then every
    GATEHOUSE_UPKEEP_SECONDS."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__("fleet check", lambda: check_fleet(rt), float(rt.settings.upkeep_seconds), log, 1.0)
