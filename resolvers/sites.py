"""Zones (a tree), gates and gate devices: the site's shape, set by ADMIN and SECURITY_ADMIN."""

from __future__ import annotations

import hmac

from tortoise.transactions import in_transaction

from api.crypto import random_token
from api.models import AntiPassback, Device, DeviceGate, DeviceKind, DeviceStatus, Gate, GateDirection, Zone
from resolvers import validation
from resolvers.errors import UserError, not_found, parse_id
from resolvers.runtime import Runtime


async def find_zone(zone_id: str | None, field: str) -> Zone:
    zone = await Zone.get_or_none(id=parse_id(zone_id, "zone", field))
    if zone is None:
        raise not_found("zone", field)
    return zone


async def create_zone(rt: Runtime, name: str, parent_id: str | None, anti_passback: AntiPassback | None) -> Zone:
    clean = validation.name(name, "name")
    parent = await find_zone(parent_id, "parentId") if parent_id is not None else None
    if await Zone.filter(name=clean, parent_id=parent.id if parent else None).exists():
        raise UserError("CONFLICT", f"a zone named {clean!r} exists at that place", "name")
    zone = await Zone.create(name=clean, parent=parent, anti_passback=anti_passback or AntiPassback.OFF)
    rt.topology_changed()
    return zone


async def update_zone(
    rt: Runtime,
    zone_id: str,
    name: str | None,
    parent_id: str | None,
    move_to_root: bool,
    anti_passback: AntiPassback | None,
) -> Zone:
    zone = await find_zone(zone_id, "id")
    if name is not None:
        zone.name = validation.name(name, "name")
    if move_to_root:
        zone.parent_id = None
    elif parent_id is not None:
        parent = await find_zone(parent_id, "parentId")
        topo = await rt.topology.get()
        if parent.id in topo.subtree(zone.id):
            raise UserError("INVALID", "a zone cannot be placed inside itself or its own sub-zone", "parentId")
        zone.parent_id = parent.id
    if anti_passback is not None:
        zone.anti_passback = anti_passback
    await zone.save()
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
        raise UserError("INVALID", "a device serves at least one gate", "gateIds")
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


async def authenticate_device(rt: Runtime, device_id: object, secret: object) -> Device | None:
    if not isinstance(device_id, str) or not isinstance(secret, str) or not device_id.isdigit() or len(device_id) > 18:
        return None
    device = await Device.get_or_none(id=int(device_id))
    if device is None or device.status is not DeviceStatus.ACTIVE:
        return None
    if not hmac.compare_digest(device.secret_hash, rt.sealer.device_secret_hash(secret)):
        return None
    return device
