"""People's scanning (POLICY 7.2): presence without an entry passage, repeated denials."""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from tortoise import connections

from resolvers.attendance import anomalies, attendance
from resolvers.core.models import Decision, GateEvent
from resolvers.runtime import Runtime
from resolvers.supervision.findings import common
from resolvers.supervision.proposals import Period, Proposal, source

DAY = timedelta(days=1)


@source("tailgating", "entry", "People present without an entry passage (tailgating)")
async def tailgating(rt: Runtime, period: Period) -> list[Proposal]:
    """An employee's attendance day (the site's outermost gates, as attendance reads them) with
    a granted exit before any granted entry: they were inside with no passage in, so they came
    in behind someone or through a door that was not scanned. Days HR corrected are left out:
    the correction is the explanation already on record.

    The days come from attendance's own SQL tallies (one grouped query for everyone), so the
    rule is exactly attendance's `exit_without_entry`, days cut by each person's shift."""
    first, last = common.local_days(rt, period)
    days = await attendance.days_for(rt, None, first, last)
    hits: list[tuple[int, date, int, datetime | None, int]] = []
    for pid, rows in days.items():
        for row in rows:
            exits = row.flags.count("exit_without_entry")
            if exits and not row.corrected:
                hits.append((pid, row.day, exits, row.last_out, row.passages))
    names = await common.people(pid for pid, *_ in hits)
    out = []
    for pid, day, exits, last_out, passages in hits:
        name, dept = names.get(pid, (f"#{pid}", None))
        out.append(
            Proposal(
                source="tailgating",
                area="entry",
                key=f"tailgating:{pid}:{day.isoformat()}",
                summary=f"{name} left the site on {day.isoformat()} with no entry passage before",
                department_id=dept,
                subject_type="person",
                subject_id=str(pid),
                evidence={
                    "personId": pid,
                    "day": day.isoformat(),
                    "exitsWithoutEntry": exits,
                    "passages": passages,
                    "lastOut": common.iso(last_out),
                },
            )
        )
    return out


@source("repeated_denials", "entry", "Repeated denials of one credential or at one gate")
async def repeated_denials(rt: Runtime, period: Period) -> list[Proposal]:
    """The live anomaly rule (resolvers/attendance/anomalies.py) over the period's log: at least
    CREDENTIAL_DENIALS denials of one credential, or GATE_DENIALS at one gate, within WINDOW.
    One finding per credential (or gate) and site-local day, however many windows that day.

    One query: the period's denials only (a small share of the passages), oldest first."""
    rows = (
        await GateEvent.filter(decision=Decision.DENIED, at__gte=period.start, at__lt=period.end)
        .order_by("at", "id")
        .values_list("id", "at", "credential_cid", "gate_id", "person_id")
    )
    by_credential: dict[str, deque[datetime]] = defaultdict(deque)
    by_gate: dict[int, deque[datetime]] = defaultdict(deque)
    found: dict[tuple[str, str, date], _Burst] = {}

    def note(kind: str, subject: str, at: datetime, count: int, event_id: int, person: int | None, gate: int) -> None:
        burst = found.setdefault((kind, subject, common.local_day(rt, at)), _Burst(event_id))
        burst.peak = max(burst.peak, count)
        burst.gate_ids.add(gate)
        burst.person_id = burst.person_id or person

    for event_id, at, cid, gate_id, person_id in rows:
        if cid:
            recent = anomalies.AnomalyDetector._trim(by_credential[cid], at)
            recent.append(at)
            if len(recent) >= anomalies.CREDENTIAL_DENIALS:
                note("credential", cid, at, len(recent), event_id, person_id, gate_id)
        recent = anomalies.AnomalyDetector._trim(by_gate[gate_id], at)
        recent.append(at)
        if len(recent) >= anomalies.GATE_DENIALS:
            note("gate", str(gate_id), at, len(recent), event_id, None, gate_id)

    topo = await rt.topology.get()
    names = await common.people(b.person_id for b in found.values())
    out = []
    minutes = int(anomalies.WINDOW.total_seconds() // 60)
    for (kind, subject, day), burst in sorted(found.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        gate_ids = sorted(burst.gate_ids)
        gate_names = ", ".join(topo.gates[g].name if g in topo.gates else f"#{g}" for g in gate_ids)
        extra: dict[str, object] = {}
        if kind == "credential":
            pid = burst.person_id
            name, dept = names.get(pid or 0, ("an unknown holder", None))
            summary = f"{burst.peak} denials within {minutes} min of a credential of {name} at {gate_names} on {day}"
            subject_type, subject_id = ("person", str(pid)) if pid is not None else ("credential", subject)
            threshold = anomalies.CREDENTIAL_DENIALS
            extra = {"credentialId": subject, "personId": pid}
        else:
            gate = topo.gates.get(int(subject))
            zone = topo.zones.get(gate.zone_id) if gate is not None else None
            dept = zone.department_id if zone is not None else None
            summary = f"{burst.peak} denials within {minutes} min at {gate_names} on {day}"
            subject_type, subject_id = "gate", subject
            threshold = anomalies.GATE_DENIALS
        out.append(
            Proposal(
                source="repeated_denials",
                area="entry",
                key=f"repeated_denials:{kind}:{subject}:{day.isoformat()}",
                summary=summary,
                department_id=dept,
                subject_type=subject_type,
                subject_id=subject_id,
                evidence={
                    "day": day.isoformat(),
                    "peakDenialsInWindow": burst.peak,
                    "windowMinutes": minutes,
                    "threshold": threshold,
                    "firstEventId": burst.first_event_id,
                    "gateIds": gate_ids,
                    **extra,
                },
            )
        )
    return out


@dataclass
class _Burst:
    """Denials past the threshold on one day: the most within one window, and where."""

    first_event_id: int
    peak: int = 0
    person_id: int | None = None
    gate_ids: set[int] = field(default_factory=set)


@source("zone_exit_without_entry", "entry", "People leaving an inner zone they were not let into")
async def zone_exit_without_entry(rt: Runtime, period: Period) -> list[Proposal]:
    """Presence inside an inner zone (one with a parent: a lab, a store) with no granted entry:
    a granted exit of the zone in the period whose person's latest granted passage of that zone
    before it — since a day before the period — is not an entry (none, or another exit). The
    site's outer gates are `tailgating`'s, through attendance. One finding per person, zone and
    site-local day.

    One query: the period's inner-zone exits, each checked against the person's previous
    passage through the (person_id, at, zone_id, direction) index of migration 0017."""
    topo = await rt.topology.get()
    inner = sorted(z.id for z in topo.zones.values() if z.parent_id is not None)
    if not inner:
        return []
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    params: list[object] = []

    def p(value: object, cast: str = "") -> str:
        params.append(value)
        return (f"${len(params)}" + (f"::{cast}" if cast else "")) if postgres else "?"

    zones = ", ".join(p(z) for z in inner)
    start, end = p(period.start, "timestamptz"), p(period.end, "timestamptz")
    since = p(period.start - DAY, "timestamptz")
    # decision and direction are literals so the partial index of migration 0017 applies.
    query = f"""SELECT e.id, e.at, e.person_id, e.zone_id, e.gate_id FROM gate_event e
WHERE e.decision = 'GRANTED' AND e.direction = 'OUT' AND e.person_id IS NOT NULL
  AND e.zone_id IN ({zones}) AND e.at >= {start} AND e.at < {end}
  AND COALESCE((
    SELECT b.direction FROM gate_event b
    WHERE b.person_id = e.person_id AND b.zone_id = e.zone_id AND b.decision = 'GRANTED'
      AND b.direction IS NOT NULL AND b.at >= {since} AND (b.at < e.at OR (b.at = e.at AND b.id < e.id))
    ORDER BY b.at DESC, b.id DESC LIMIT 1
  ), 'OUT') = 'OUT'
ORDER BY e.at, e.id"""
    _, rows = await conn.execute_query(query, params)
    found: dict[tuple[int, int, date], list[tuple[int, int]]] = defaultdict(list)
    for row in rows:
        event_id, at, person_id, zone_id, gate_id = (row[k] for k in range(5))
        if isinstance(at, str):  # SQLite answers ISO text
            at = datetime.fromisoformat(at)
        found[(int(person_id), int(zone_id), common.local_day(rt, at))].append((int(event_id), int(gate_id)))
    names = await common.people(pid for pid, _, _ in found)
    out = []
    for (pid, zone_id, day), exits in sorted(found.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        name, dept = names.get(pid, (f"#{pid}", None))
        zone = topo.zones.get(zone_id)
        out.append(
            Proposal(
                source="zone_exit_without_entry",
                area="entry",
                key=f"zone_exit_without_entry:{pid}:{zone_id}:{day.isoformat()}",
                summary=f"{name} left {zone.name if zone else f'zone #{zone_id}'} on {day} with no entry passage before"
                + (f" ({len(exits)} times)" if len(exits) > 1 else ""),
                department_id=dept,
                subject_type="person",
                subject_id=str(pid),
                evidence={
                    "personId": pid,
                    "zoneId": zone_id,
                    "zoneDepartmentId": zone.department_id if zone else None,
                    "day": day.isoformat(),
                    "gateEventIds": [e for e, _ in exits[:50]],
                    "gateIds": sorted({g for _, g in exits}),
                },
            )
        )
    return out
