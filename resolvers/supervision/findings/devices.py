"""Devices running and maintained (POLICY 5, 7.2): doors forced or held open, devices offline,
maintenance overdue. A device answers to the department of the zone its gates are in."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from tortoise.expressions import Q

from resolvers.access.topology import Topology
from resolvers.core import clock
from resolvers.core.models import Device, DeviceAlert, DeviceStatus, GateEvent, MaintenancePlan
from resolvers.runtime import Runtime
from resolvers.scan.reasons import Reason
from resolvers.supervision.findings import common
from resolvers.supervision.proposals import Period, Proposal, source

# The statuses fleet.check_fleet watches: a device registered but not commissioned, under
# repair or retired is expected to be silent.
WATCHED = (DeviceStatus.COMMISSIONED, DeviceStatus.IN_SERVICE)


def device_department(topo: Topology, device_id: int) -> int | None:
    """The department of the first (lowest id) gate's zone that has one."""
    for gate_id in sorted(topo.device_gates.get(device_id, ())):
        gate = topo.gates.get(gate_id)
        zone = topo.zones.get(gate.zone_id) if gate is not None else None
        if zone is not None and zone.department_id is not None:
            return zone.department_id
    return None


@source("door_forced", "devices", "Doors forced or held open")
async def door_forced(rt: Runtime, period: Period) -> list[Proposal]:
    """The alarm events devices reported (gate events of reason `forced` or `held_open`, which
    the writer stores once per alarm window) in the period: one finding per gate, state and
    site-local day, with the count and the events' ids."""
    rows = (
        await GateEvent.filter(
            reason__in=[Reason.FORCED.value, Reason.HELD_OPEN.value], at__gte=period.start, at__lt=period.end
        )
        .order_by("id")
        .values_list("id", "at", "gate_id", "zone_id", "reason", "device_id")
    )
    groups: dict[tuple[int, str, date], list[tuple[int, int, int | None]]] = defaultdict(list)
    for event_id, at, gate_id, zone_id, reason, device_id in rows:
        groups[(gate_id, str(reason), common.local_day(rt, at))].append((event_id, zone_id, device_id))
    topo = await rt.topology.get()
    out = []
    for (gate_id, reason, day), events in sorted(groups.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        gate = topo.gates.get(gate_id)
        zone = topo.zones.get(events[0][1])
        what = "forced" if reason == Reason.FORCED.value else "held open"
        out.append(
            Proposal(
                source="door_forced",
                area="devices",
                key=f"door_forced:{reason}:{gate_id}:{day.isoformat()}",
                summary=f"door {what} at {gate.name if gate else f'gate #{gate_id}'} on {day}"
                + (f" ({len(events)} times)" if len(events) > 1 else ""),
                department_id=zone.department_id if zone is not None else None,
                subject_type="gate",
                subject_id=str(gate_id),
                evidence={
                    "state": reason,
                    "day": day.isoformat(),
                    "count": len(events),
                    "gateEventIds": [e[0] for e in events[:50]],
                    "deviceIds": sorted({e[2] for e in events if e[2] is not None}),
                },
            )
        )
    return out


@source("device_offline", "devices", "Devices offline")
async def device_offline(rt: Runtime, period: Period) -> list[Proposal]:
    """A device in service (or commissioned) with an `offline` alert raised in the period, or,
    when the period reaches the present, one silent now for 3 heartbeats (fleet.check_fleet's
    rule, without asking live connections: a record of the period, not a probe). One finding
    per device: its alerts' ids and its last contact."""
    now = clock.now()
    alerts = (
        await DeviceAlert.filter(kind="offline", at__gte=period.start, at__lt=period.end, device_id__not_isnull=True)
        .order_by("id")
        .values_list("id", "device_id", "at")
    )
    alerted: dict[int, list[int]] = defaultdict(list)
    for alert_id, device_id, _ in alerts:
        alerted[device_id].append(alert_id)
    silent: set[int] = set()
    if period.end >= now:
        silent_for = timedelta(seconds=3 * rt.settings.heartbeat_seconds)
        quiet = Device.filter(status__in=WATCHED).filter(Q(last_seen_at=None) | Q(last_seen_at__lt=now - silent_for))
        silent = {int(row[0]) for row in await quiet.values_list("id")}
    ids = silent | set(alerted)
    if not ids:
        return []
    devices = {
        d[0]: d for d in await Device.filter(id__in=ids, status__in=WATCHED).values_list("id", "name", "last_seen_at")
    }
    topo = await rt.topology.get()
    out = []
    for device_id in sorted(devices):
        _, name, last_seen = devices[device_id]
        mine = alerted.get(device_id, [])
        # Named by the first alert of the period, else by the silence's start: the same episode
        # keeps its key while it lasts.
        episode = f"alert:{mine[0]}" if mine else f"silent_since:{common.iso(last_seen) or 'never'}"
        seen = f"last seen {common.local_day(rt, last_seen)}" if last_seen else "never seen"
        out.append(
            Proposal(
                source="device_offline",
                area="devices",
                key=f"device_offline:{device_id}:{episode}",
                summary=f"device {name} was offline"
                + (f" ({len(mine)} alerts)" if len(mine) > 1 else "")
                + (f", silent now, {seen}" if device_id in silent else ""),
                department_id=device_department(topo, device_id),
                subject_type="device",
                subject_id=str(device_id),
                evidence={
                    "deviceId": device_id,
                    "offlineAlertIds": mine[:50],
                    "offlineAlerts": len(mine),
                    "silentNow": device_id in silent,
                    "lastSeenAt": common.iso(last_seen),
                },
            )
        )
    return out


@source("maintenance_overdue", "devices", "Device maintenance overdue")
async def maintenance_overdue(rt: Runtime, period: Period) -> list[Proposal]:
    """A maintenance plan of a device not retired whose next date had passed by the period's end
    (or now). Recording the work moves the date, so the key names the date missed."""
    at = common.judged_at(period)
    plans = await MaintenancePlan.filter(next_due__lt=at).order_by("id")
    if not plans:
        return []
    devices = dict(
        await Device.filter(id__in={p.device_id for p in plans})
        .exclude(status=DeviceStatus.RETIRED)
        .values_list("id", "name")
    )
    topo = await rt.topology.get()
    out = []
    for plan in plans:
        if plan.device_id not in devices:
            continue
        out.append(
            Proposal(
                source="maintenance_overdue",
                area="devices",
                key=f"maintenance_overdue:{plan.id}:{plan.next_due.isoformat()}",
                summary=f"{plan.kind.value.lower().replace('_', ' ')} of device {devices[plan.device_id]}"
                f" was due on {common.local_day(rt, plan.next_due)}",
                department_id=device_department(topo, plan.device_id),
                subject_type="device",
                subject_id=str(plan.device_id),
                evidence={
                    "planId": plan.id,
                    "deviceId": plan.device_id,
                    "kind": plan.kind.value,
                    "nextDue": plan.next_due.isoformat(),
                    "intervalDays": plan.interval_days,
                    "daysOverdue": (at - plan.next_due).days,
                },
            )
        )
    return out
