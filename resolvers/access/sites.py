"""Zones (a tree), gates and gate devices: the site's shape, set by ADMIN and SECURITY_ADMIN."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from resolvers.core import validation
from resolvers.core.crypto import random_token
from resolvers.core.db import read_now
from resolvers.core.errors import ErrorCode, UserError, is_id, not_found, parse_id
from resolvers.core.models import (
    AntiPassback,
    Department,
    Device,
    DeviceGate,
    DeviceKind,
    DeviceStatus,
    Gate,
    GateDirection,
    Person,
    PersonKind,
    PersonStatus,
    Zone,
    ZoneKind,
)
from resolvers.people import audit
from resolvers.runtime import Runtime


async def all_zones() -> list[Zone]:
    """Every zone, in creation order (a site has tens of zones: the list is not paged)."""
    return await Zone.all().order_by("id")


async def all_gates() -> list[Gate]:
    """Every gate, in creation order (bounded by the site's doors: not paged)."""
    return await Gate.all().order_by("id")


async def find_zone(zone_id: str | None, field: str) -> Zone:
    zone = await Zone.get_or_none(id=parse_id(zone_id, "zone", field))
    if zone is None:
        raise not_found("zone", field)
    return zone


@dataclass(frozen=True)
class ZoneSpec:
    name: str | None
    parent_id: str | None = None
    anti_passback: AntiPassback | None = None
    kind: ZoneKind | None = None
    department_id: str | None = None
    responsible_id: str | None = None


async def _owner(department_id: str | None) -> int | None:
    if department_id is None:
        return None
    dept = await Department.get_or_none(id=parse_id(department_id, "department", "departmentId"))
    if dept is None:
        raise not_found("department", "departmentId")
    return dept.id


async def _responsible(person_id: str | None) -> int | None:
    if person_id is None:
        return None
    person = await Person.get_or_none(
        id=parse_id(person_id, "person", "responsibleId"), kind=PersonKind.EMPLOYEE, status=PersonStatus.ACTIVE
    )
    if person is None:
        raise not_found("employee", "responsibleId")
    return person.id


async def create_zone(rt: Runtime, spec: ZoneSpec) -> Zone:
    clean = validation.name(spec.name or "", "name")
    parent = await find_zone(spec.parent_id, "parentId") if spec.parent_id is not None else None
    department_id = await _owner(spec.department_id)
    responsible_id = await _responsible(spec.responsible_id)
    if await Zone.filter(name=clean, parent_id=parent.id if parent else None).exists():
        raise UserError(ErrorCode.CONFLICT, f"a zone named {clean!r} exists at that place", "name")
    zone = await Zone.create(
        name=clean,
        parent=parent,
        anti_passback=spec.anti_passback or AntiPassback.OFF,
        kind=spec.kind or ZoneKind.OFFICE,
        department_id=department_id,
        responsible_id=responsible_id,
    )
    audit.note_change("zone", zone.id, None, _describe(zone))
    rt.topology_changed()
    return zone


def _describe(zone: Zone) -> dict[str, object]:
    return {
        "name": zone.name,
        "parent": zone.parent_id,
        "antiPassback": zone.anti_passback,
        "kind": zone.kind,
        "department": zone.department_id,
        "responsible": zone.responsible_id,
    }


# PostgreSQL advisory lock (transaction-scoped) taken by every zone move: one move at a time per site.
ZONE_TREE_LOCK = 714023
_ANCESTRY = """
WITH RECURSIVE up(id, parent_id) AS (
    SELECT id, parent_id FROM zone WHERE id = {start}
    UNION
    SELECT z.id, z.parent_id FROM zone z JOIN up ON z.id = up.parent_id
)
SELECT 1 FROM up WHERE id = {zone} LIMIT 1
"""


async def _lock_zone_tree(conn: BaseDBAsyncClient) -> None:
    """Serialise zone moves across server processes until the transaction ends.

    Row locks on the two zones would not do: moving A under B and B under A each lock a different
    row, and each sees the other's old parent. On SQLite the process's one connection already runs
    one transaction at a time (and the database file takes one writer)."""
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query("SELECT pg_advisory_xact_lock($1)", [ZONE_TREE_LOCK])


async def _within(conn: BaseDBAsyncClient, start_id: int, zone_id: int) -> bool:
    """Whether `zone_id` is `start_id` or one of its ancestors, as stored now (not as a process's
    cached tree says): a recursive walk up the parents, in SQL both dialects speak."""
    postgres = conn.capabilities.dialect == "postgres"
    sql = _ANCESTRY.format(start="$1" if postgres else "?", zone="$2" if postgres else "?")
    _, rows = await conn.execute_query(sql, [start_id, zone_id])
    return bool(rows)


async def update_zone(rt: Runtime, zone_id: str, spec: ZoneSpec, move_to_root: bool) -> Zone:
    zone = await find_zone(zone_id, "id")
    name = validation.name(spec.name, "name") if spec.name is not None else None
    parent = await find_zone(spec.parent_id, "parentId") if spec.parent_id is not None and not move_to_root else None
    department_id = await _owner(spec.department_id) if spec.department_id is not None else None
    responsible_id = await _responsible(spec.responsible_id) if spec.responsible_id is not None else None
    async with in_transaction() as conn:
        if parent is not None:
            await _lock_zone_tree(conn)
        # Read again inside the transaction: the change applies to the zone as stored now.
        zone = await Zone.filter(id=zone.id).select_for_update().get()
        before = _describe(zone)
        if name is not None:
            zone.name = name
        if move_to_root:
            zone.parent_id = None
        elif parent is not None:
            # Checked against the database under the tree lock: a move another process just made
            # counts, so two moves at once can never close a loop.
            if await _within(conn, parent.id, zone.id):
                raise UserError(
                    ErrorCode.INVALID, "a zone cannot be placed inside itself or its own sub-zone", "parentId"
                )
            zone.parent_id = parent.id
        if spec.anti_passback is not None:
            zone.anti_passback = spec.anti_passback
        if spec.kind is not None:
            zone.kind = spec.kind
        if spec.department_id is not None:
            zone.department_id = department_id
        if spec.responsible_id is not None:
            zone.responsible_id = responsible_id
        await zone.save()
    audit.note_change("zone", zone.id, before, _describe(zone))
    rt.topology_changed()
    return zone


async def create_gate(rt: Runtime, name: str, zone_id: str, direction: GateDirection) -> Gate:
    clean = validation.name(name, "name")
    zone = await find_zone(zone_id, "zoneId")
    gate = await Gate.create(name=clean, zone=zone, direction=direction)
    rt.topology_changed()
    return gate


async def register_device(rt: Runtime, name: str, kind: DeviceKind, gate_ids: list[str]) -> tuple[Device, str]:
    """A new gate device and its secret, which is shown this once and stored only as a keyed hash."""
    clean = validation.name(name, "name")
    if not gate_ids:
        raise UserError(ErrorCode.INVALID, "a device serves at least one gate", "gateIds")
    wanted = {parse_id(g, "gate", "gateIds") for g in gate_ids}
    gates = await Gate.filter(id__in=wanted)
    if len(gates) != len(wanted):
        raise not_found("gate", "gateIds")
    secret = random_token(24)
    async with in_transaction():
        device = await Device.create(name=clean, kind=kind, secret_hash=rt.sealer.device_secret_hash(secret))
        await DeviceGate.bulk_create([DeviceGate(device=device, gate=g) for g in gates])
    rt.topology_changed()
    return device, secret


@dataclass(frozen=True, slots=True)
class DeviceSession:
    """The device a connection authenticated as: what its hello needs of its row, who it is and
    what its connection still has to record (a reconnect writes nothing already recorded)."""

    id: int
    name: str
    firmware: str
    network_reached: bool
    test_scan_done: bool
    config_loaded: bool


_LOGIN_COLUMNS = (
    '"id", "name", "status", "secret_hash", "firmware", "network_reached_at" IS NOT NULL,'
    ' "test_scan_at" IS NOT NULL, "config_loaded_at" IS NOT NULL'
)


async def authenticate_device(rt: Runtime, device_id: object, secret: object) -> DeviceSession | None:
    """The device, when the credentials of its hello hold. Read at once on SQLite (the event loop's
    own read connection) and only the columns a hello needs: a campus reconnecting after a network
    cut is 10,000 hellos, and each one's model, read on the writer's connection behind the gate
    events' commits, made the fleet's return as slow as those reads."""
    if not isinstance(device_id, str) or not isinstance(secret, str) or not is_id(device_id) or len(device_id) > 18:
        return None
    rows = read_now(f'SELECT {_LOGIN_COLUMNS} FROM "device" WHERE "id" = ?', [int(device_id)])
    if rows is None:
        conn = connections.get("default")
        placeholder = "$1" if conn.capabilities.dialect == "postgres" else "?"
        _, rows = await conn.execute_query(
            f'SELECT {_LOGIN_COLUMNS} FROM "device" WHERE "id" = {placeholder}', [int(device_id)]
        )
    if not rows:
        return None
    id_, name, status, secret_hash, firmware, reached, tested, loaded = tuple(rows[0])
    if status == DeviceStatus.RETIRED.value:
        return None
    if not hmac.compare_digest(secret_hash, rt.sealer.device_secret_hash(secret)):
        return None
    return DeviceSession(id_, name, firmware, bool(reached), bool(tested), bool(loaded))
