"""What a guard does at a gate: open it remotely, register someone who cannot scan, or confirm
that someone the muster list still holds inside has left."""

from __future__ import annotations

from dataclasses import dataclass

from realtime import metrics
from realtime.messages import PersonRef
from realtime.scan_state import ScanStateLost
from resolvers.access.topology import GateNode
from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, UserError, not_found, parse_id
from resolvers.core.models import Direction, EntryMethod, IdentityDocument, Person, PersonStatus
from resolvers.devices.commands import online_devices, send_command
from resolvers.people import audit, second_factor
from resolvers.people.people import ID_NUMBER
from resolvers.runtime import Runtime
from resolvers.scan import writer
from resolvers.scan.decision import (
    after_visitor_passage,
    exit_after_revocation,
    flag_exit_after_revocation,
    policy,
    undo_entry_claim,
)
from resolvers.scan.gate_event import GateEventRecord
from resolvers.scan.presence import start_recovery
from resolvers.scan.reasons import Reason


async def _gate(rt: Runtime, gate_id: str, field: str = "gateId") -> GateNode:
    gid = parse_id(gate_id, "gate", field)
    topo = await rt.topology.get()
    gate = topo.gates.get(gid)
    if gate is None:
        gate = (await rt.topology.reload()).gates.get(gid)
    if gate is None:
        raise not_found("gate", field)
    return gate


async def remote_open(rt: Runtime, actor: Actor, gate_id: str, reason: str) -> GateEventRecord:
    gate = await _gate(rt, gate_id)
    why = validation.name(reason, "reason", max_length=500)
    # An open door from afar needs a fresh confirmation of who asks (a console left signed in).
    await second_factor.require_confirmation(rt, actor)
    topo = await rt.topology.get()
    # Only a device in service opens doors, a guard's remote open too (lockdown and evacuation
    # commands, for safety, still go to every device of the gate).
    serving = await rt.grant_index.get(await rt.state.grants_version())
    online = await online_devices(rt, {d for d in topo.gate_devices.get(gate.id, frozenset()) if serving.in_service(d)})
    if not online:
        raise UserError(ErrorCode.UNAVAILABLE, "no device of this gate is in service and online", "gateId")
    opened = GateEventRecord(
        at=clock.now(),
        gate=gate,
        reason=Reason.REMOTE_OPEN,
        method=EntryMethod.REMOTE,
        device_id=online[0],
        operator_id=actor.person_id,
        payload={"operatorId": actor.person_id, "operatorName": actor.display_name, "text": why},
    )
    # Stored before anything is pushed: the door opens only once the record of it exists.
    event = await writer.record(rt, opened, topo=topo)
    metrics.scan_decided(True, Reason.REMOTE_OPEN.value, EntryMethod.REMOTE.value)
    for device_id in online:
        await send_command(
            rt, device_id, gate.id, "open", {"durationMs": rt.settings.door_open_ms * 2, "reason": why}, actor.person_id
        )
    return event


@dataclass(frozen=True)
class ManualEntry:
    person_id: str
    gate_id: str
    direction: Direction
    document_type: IdentityDocument
    document_last4: str
    note: str | None


async def record_manual_entry(rt: Runtime, actor: Actor, entry: ManualEntry) -> tuple[GateEventRecord, Person]:
    """The guard checked a document; the person's access rules still decide (POLICY 3.1.3)."""
    gate = await _gate(rt, entry.gate_id)
    last4 = validation.last4(entry.document_last4, "documentNumberLast4")
    note = validation.name(entry.note, "note", max_length=500) if entry.note else None
    person = await Person.get_or_none(id=parse_id(entry.person_id, "person", "personId"))
    if person is None:
        raise not_found("person", "personId")
    if person.id_number_enc is None:
        raise UserError(ErrorCode.MISMATCH, "no identity document is on file for this person", "documentNumberLast4")
    stored = rt.sealer.open_text(person.id_number_enc, ID_NUMBER)
    if stored[-4:].upper() != last4:
        raise UserError(ErrorCode.MISMATCH, "the document does not match the one on file", "documentNumberLast4")
    if gate.direction.value not in (entry.direction.value, "BOTH"):
        raise UserError(ErrorCode.INVALID, f"this gate only lets people {gate.direction.value}", "direction")
    way = entry.direction
    topo = await rt.topology.get()
    visit = None
    try:
        if person.status is not PersonStatus.ACTIVE:
            # Offboarded: refused on the way in; let out when inside (people may always leave).
            reason = await exit_after_revocation(rt, topo, gate, person.id) if way is Direction.OUT else Reason.REVOKED
        else:
            reason, visit = await policy(
                rt, topo, gate, way, person.id, person.kind.value, person.department_id, person.position
            )
    except ScanStateLost:
        start_recovery(rt.state, rt.topology)  # fail closed until presence is rebuilt
        reason = Reason.UNAVAILABLE
    passage = GateEventRecord(
        at=clock.now(),
        gate=gate,
        reason=reason,
        method=EntryMethod.MANUAL,
        direction=way,
        person=PersonRef(person.id, person.display_name),
        operator_id=actor.person_id,
        payload={"documentType": entry.document_type.value, "note": note, "operatorId": actor.person_id},
    )
    try:
        event = await writer.record(rt, passage, topo=topo)
    except BaseException:
        await undo_entry_claim(rt, topo, gate, way, person.id, reason)
        raise
    metrics.scan_decided(reason.grants, reason.value, EntryMethod.MANUAL.value)
    if reason is Reason.EXIT_AFTER_REVOCATION:
        flag_exit_after_revocation(rt, gate, PersonRef(person.id, person.display_name), None)
    elif reason.grants and visit is not None:
        await after_visitor_passage(rt, topo, gate, way, visit)
    return event, person


async def confirm_left(
    rt: Runtime, actor: Actor, person_id: str, note: str, gate_id: str | None = None
) -> tuple[GateEventRecord, Person]:
    """A guard confirms that someone the muster list still holds inside has left (an evacuation
    roll call; someone let out without a passage on record): an OUT passage, method MANUAL,
    reason `confirmed_left`, with the guard and how they know. It opens nothing.

    The passage is through `gateId` (an OUT or BOTH gate), or by default through an exit of the
    outermost zone they are held in, so that it takes them out of the whole site."""
    how = validation.name(note, "note", max_length=500)
    person = await Person.get_or_none(id=parse_id(person_id, "person", "personId"))
    if person is None:
        raise not_found("person", "personId")
    topo = await rt.topology.get()
    try:
        inside = await rt.state.inside(person.id)
    except ScanStateLost:
        start_recovery(rt.state, rt.topology)
        raise UserError(ErrorCode.UNAVAILABLE, "presence is being rebuilt: try again in a moment") from None
    if gate_id is not None:
        gate = await _gate(rt, gate_id)
        if gate.direction.value not in ("OUT", "BOTH"):
            raise UserError(ErrorCode.INVALID, "a confirmed exit is through an OUT or BOTH gate", "gateId")
    else:
        outermost = {z if not topo.ancestors(z) else topo.ancestors(z)[-1] for z in inside if z in topo.zones}
        exits = sorted(
            g.id for g in topo.gates.values() if g.zone_id in outermost and g.direction.value in ("OUT", "BOTH")
        )
        if not exits:
            raise UserError(ErrorCode.CONFLICT, "this person is not inside any zone with an exit", "personId")
        gate = topo.gates[exits[0]]
    if not inside & topo.subtree(gate.zone_id):
        raise UserError(ErrorCode.CONFLICT, "this person is not inside there: nothing to confirm", "personId")
    passage = GateEventRecord(
        at=clock.now(),
        gate=gate,
        reason=Reason.CONFIRMED_LEFT,
        method=EntryMethod.MANUAL,
        direction=Direction.OUT,
        person=PersonRef(person.id, person.display_name),
        operator_id=actor.person_id,
        payload={"note": how, "operatorId": actor.person_id, "operatorName": actor.display_name},
    )
    event = await writer.record(rt, passage, topo=topo)
    audit.note_change("person", person.id, {"inside": sorted(inside)}, {"confirmedLeft": event.id, "note": how})
    return event, person
