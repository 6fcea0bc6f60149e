"""Root mutation fields: scan."""

from __future__ import annotations

import strawberry

from resolvers.scan import guard_actions
from schema.core.context import Info, actor_of
from schema.core.enums import Direction
from schema.core.payloads import attempt
from schema.core.permissions import IsGateStaff
from schema.scan.inputs import ConfirmLeftInput, ManualEntryInput
from schema.scan.types import GateEvent, GateEventPayload


@strawberry.type
class ScanMutation:
    @strawberry.mutation(
        permission_classes=[IsGateStaff],
        description="Open a gate from the console; answers once the command is sent (UNAVAILABLE if its device is "
        "offline) and records a REMOTE event with the guard and the reason.",
    )
    async def remote_open(self, info: Info, gate_id: strawberry.ID, reason: str) -> GateEventPayload:
        stored, errors = await attempt(guard_actions.remote_open(info.context.rt, actor_of(info), gate_id, reason))
        return GateEventPayload(event=GateEvent.of_record(stored) if stored else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsGateStaff],
        description="Register a passage by someone who cannot scan; the person's access rules still apply "
        "(a refusal is a DENIED event, not an error).",
    )
    async def record_manual_entry(self, info: Info, input: ManualEntryInput) -> GateEventPayload:
        entry = guard_actions.ManualEntry(
            person_id=input.person_id,
            gate_id=input.gate_id,
            direction=Direction(input.direction),
            document_type=input.document_type,
            document_last4=input.document_number_last4,
            note=input.note,
        )
        result, errors = await attempt(guard_actions.record_manual_entry(info.context.rt, actor_of(info), entry))
        return GateEventPayload(event=GateEvent.of_record(result[0]) if result else None, errors=errors)

    @strawberry.mutation(
        permission_classes=[IsGateStaff],
        description="Confirm that someone the muster list holds inside has left (e.g. their access ended with no "
        "exit on record): an OUT passage, method MANUAL, reason `confirmed_left`, with the guard and the note. "
        "CONFLICT when they are not inside.",
    )
    async def confirm_left(self, info: Info, input: ConfirmLeftInput) -> GateEventPayload:
        result, errors = await attempt(
            guard_actions.confirm_left(info.context.rt, actor_of(info), input.person_id, input.note, input.gate_id)
        )
        return GateEventPayload(event=GateEvent.of_record(result[0]) if result else None, errors=errors)
