"""Lockdown, evacuation and release: per gate, per zone subtree or site-wide (POLICY 1, safety first).

The state is stored (so every process and every restart knows it) and each affected
device gets a command; the scan path refuses with `lockdown` from the moment the row
is committed, whether or not a device has acknowledged yet.
"""

from __future__ import annotations

from resolvers.access.topology import Topology
from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, UserError, not_found, parse_id
from resolvers.core.models import Lockdown
from resolvers.devices.commands import send_command
from resolvers.people import audit, second_factor
from resolvers.runtime import Runtime

EVACUATION_HOLD_MS = 0  # 0 = hold open until released


def _affected_gates(topo: Topology, zone_id: int | None, gate_id: int | None) -> list[int]:
    if gate_id is not None:
        return [gate_id]
    if zone_id is None:
        return sorted(topo.gates)
    zones = topo.subtree(zone_id)
    return sorted(g.id for g in topo.gates.values() if g.zone_id in zones)


async def _target(rt: Runtime, zone_id: str | None, gate_id: str | None) -> tuple[int | None, int | None]:
    if zone_id is not None and gate_id is not None:
        raise UserError(ErrorCode.INVALID, "name a zone or a gate, not both", "gateId")
    topo = await rt.topology.get()
    zid = parse_id(zone_id, "zone", "zoneId") if zone_id is not None else None
    gid = parse_id(gate_id, "gate", "gateId") if gate_id is not None else None
    if zid is not None and zid not in topo.zones:
        raise not_found("zone", "zoneId")
    if gid is not None and gid not in topo.gates:
        raise not_found("gate", "gateId")
    return zid, gid


async def _command_all(rt: Runtime, actor: Actor, gates: list[int], command: str, extra: dict[str, object]) -> int:
    topo = await rt.topology.get()
    sent = 0
    for gate_id in gates:
        for device_id in sorted(topo.gate_devices.get(gate_id, ())):
            await send_command(rt, device_id, gate_id, command, extra, actor.person_id)
            sent += 1
    return sent


async def start(
    rt: Runtime, actor: Actor, mode: str, zone_id: str | None, gate_id: str | None, reason: str
) -> Lockdown:
    why = validation.name(reason, "reason", max_length=500)
    zid, gid = await _target(rt, zone_id, gate_id)
    if mode == "EVACUATION" or (zid is None and gid is None):
        # Opening every door of a zone, or shutting the whole site, needs a fresh confirmation.
        await second_factor.require_confirmation(rt, actor)
    existing = await Lockdown.filter(zone_id=zid, gate_id=gid, mode=mode, released_at=None).first()
    if existing is not None:
        return existing  # already in force: nothing changes
    row = await Lockdown.create(
        zone_id=zid, gate_id=gid, mode=mode, reason=why, started_by_id=actor.person_id, started_at=clock.now()
    )
    rt.topology_changed()
    gates = _affected_gates(await rt.topology.get(), zid, gid)
    if mode == "LOCKDOWN":
        await _command_all(rt, actor, gates, "lockdown", {"reason": why})
    else:
        await _command_all(rt, actor, gates, "open", {"durationMs": EVACUATION_HOLD_MS, "hold": True, "reason": why})
    audit.note_change("lockdown", row.id, None, {"mode": mode, "zone": zid, "gate": gid, "gates": gates})
    return row


async def release(rt: Runtime, actor: Actor, lockdown_id: str) -> Lockdown:
    row = await Lockdown.get_or_none(id=parse_id(lockdown_id, "lockdown", "id"))
    if row is None:
        raise not_found("lockdown", "id")
    if row.released_at is not None:
        return row
    row.released_at, row.released_by_id = clock.now(), actor.person_id
    await row.save(update_fields=["released_at", "released_by_id"])
    rt.topology_changed()
    gates = _affected_gates(await rt.topology.get(), row.zone_id, row.gate_id)
    await _command_all(rt, actor, gates, "release", {})
    audit.note_change("lockdown", row.id, {"released": False}, {"released": True, "gates": gates})
    return row


async def active() -> list[Lockdown]:
    return await Lockdown.filter(released_at=None).order_by("id")
