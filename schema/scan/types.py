"""GraphQL object types and mutation payloads: scan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from realtime.messages import GateEventMessage, PersonRef
from resolvers.core import models
from resolvers.scan.gate_event import GateEventRecord
from schema.access.types import Gate
from schema.core.context import Info
from schema.core.enums import (
    Decision,
    Direction,
    EntryMethod,
)
from schema.core.pagination import Connection, encode_cursor, page_of
from schema.core.payloads import UserError
from schema.people.types import Person

# What a gate event carries of its person (the bus message, the writer's record): asking for
# no more than this costs no query, which matters for subscriptions — one render per guard per event.
CARRIED_PERSON_FIELDS = frozenset({"id", "displayName", "__typename"})
# The kind a gate event's cursor carries: the same for the log's pages and the live stream.
EVENT_CURSOR_KIND = "ev"


@strawberry.type(
    description="One passage or attempt at a gate (a scan, a face, a manual entry, a remote open) "
    "or a door alarm. Stored before anyone sees it."
)
class GateEvent:
    id: strawberry.ID = strawberry.field(description="Opaque; also the order events were stored in.")
    at: datetime = strawberry.field(description="When it happened at the gate.")
    decision: Decision | None = strawberry.field(description="GRANTED or DENIED; null for a door alarm.")
    reason: str = strawberry.field(
        description="The rule that decided (contracts/PASS_TOKEN.md reason codes: ok, no_access, replayed, ...), "
        "or forced / held_open for a door alarm."
    )
    method: EntryMethod | None = strawberry.field(description="QR, FACE, MANUAL or REMOTE; null for a door alarm.")
    direction: Direction | None = strawberry.field(description="IN or OUT; null for a door alarm.")
    offline: bool = strawberry.field(description="Decided by the gate alone while its link was down, uploaded later.")
    gate_id_: strawberry.Private[int]
    person_id_: strawberry.Private[int | None]
    # Set when built from a bus message or a just-written record, which carry them.
    carried_gate_: strawberry.Private[Gate | None] = None
    carried_person_: strawberry.Private[PersonRef | None] = None

    @classmethod
    def of_row(cls, row: dict[str, Any]) -> GateEvent:
        return cls(
            id=strawberry.ID(str(row["id"])),
            at=row["at"],
            decision=models.Decision(row["decision"]) if row["decision"] else None,
            reason=row["reason"],
            method=models.EntryMethod(row["method"]) if row["method"] else None,
            direction=models.Direction(row["direction"]) if row["direction"] else None,
            offline=bool(row["offline"]),
            gate_id_=row["gate_id"],
            person_id_=row["person_id"],
        )

    @classmethod
    def of_message(cls, msg: GateEventMessage) -> GateEvent:
        """An event as the bus carries it; ValueError for a value this release does not know."""
        return cls(
            id=strawberry.ID(str(msg.id)),
            at=msg.at,
            decision=models.Decision(msg.decision) if msg.decision else None,
            reason=msg.reason,
            method=models.EntryMethod(msg.method) if msg.method else None,
            direction=models.Direction(msg.direction) if msg.direction else None,
            offline=msg.offline,
            gate_id_=msg.gate.id,
            person_id_=msg.person.id if msg.person is not None else None,
            carried_gate_=Gate(
                id=strawberry.ID(str(msg.gate.id)),
                name=msg.gate.name,
                direction=models.GateDirection(msg.gate.direction),
                zone_id_=msg.zone_id,
            ),
            carried_person_=msg.person,
        )

    @classmethod
    def of_record(cls, event: GateEventRecord) -> GateEvent:
        """An event the writer just stored (a guard's remote open or manual entry)."""
        assert event.id is not None, "only a stored event has an id"
        return cls(
            id=strawberry.ID(str(event.id)),
            at=event.at,
            decision=event.decision,
            reason=event.reason.value,
            method=event.method,
            direction=event.direction,
            offline=event.offline,
            gate_id_=event.gate_id,
            person_id_=event.person_id,
            carried_gate_=Gate(
                id=strawberry.ID(str(event.gate.id)),
                name=event.gate.name,
                direction=event.gate.direction,
                zone_id_=event.gate.zone_id,
            ),
            carried_person_=event.person,
        )

    @strawberry.field(
        description="This event's place in commit order: pass the last one seen as `after` to the "
        "`gateEvents` subscription (or query) to resume after it."
    )
    def cursor(self) -> str:
        return encode_cursor(EVENT_CURSOR_KIND, int(self.id))

    # `gate` and `person` answer a carried value at once and return an awaitable only when they must
    # load: a live event's GraphQL execution then needs no await at all, where two async resolvers
    # made graphql-core gather them as tasks, two or three turns of a busy event loop for every event
    # each guard's stream had to wait (at 500 events/s it fell seconds behind; issue 13).
    @strawberry.field(description="Where it happened.")
    def gate(self, info: Info) -> Gate:
        if self.carried_gate_ is not None:
            return self.carried_gate_
        return self._load_gate(info)  # type: ignore[return-value]  # graphql-core awaits it

    async def _load_gate(self, info: Info) -> Gate:
        row = await info.context.loaders.gate.load(self.gate_id_)
        assert row is not None  # gates with events cannot be deleted (RESTRICT)
        return Gate.of(row)

    @strawberry.field(
        description="Who passed; null when nobody is named (a door alarm, a remote open, or a scan whose "
        "token failed before its signature was verified)."
    )
    def person(self, info: Info) -> Person | None:
        if self.person_id_ is None:
            return None
        if self.carried_person_ is not None and _asks_only(info, CARRIED_PERSON_FIELDS):
            # Strawberry reads a Person's plain fields by attribute, and only `id` and
            # `displayName` were asked for: the carried reference answers them as they are.
            return cast(Person, self.carried_person_)
        return self._load_person(info, self.person_id_)  # type: ignore[return-value]  # graphql-core awaits it

    async def _load_person(self, info: Info, person_id: int) -> Person | None:
        row = await info.context.loaders.person.load(person_id)
        return Person.of(row) if row else None


def _asks_only(info: Info, allowed: frozenset[str]) -> bool:
    """Whether the selection under the current field names no field outside `allowed`."""
    return all(name in allowed for field in info.selected_fields for name in _field_names(field.selections))


def _field_names(selections: list[Selection]) -> Iterator[str]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection.name
        else:  # a fragment: its fields are the current field's too
            yield from _field_names(selection.selections)


def event_connection(rows: list[dict[str, Any]], first: int, after: str | None) -> Connection[GateEvent]:
    return page_of(rows, first, EVENT_CURSOR_KIND, GateEvent.of_row, key=lambda r: int(r["id"]), after=after)


@strawberry.type(description="What a guard's gate action recorded.")
class GateEventPayload:
    event: GateEvent | None = strawberry.field(default=None, description="Null when `errors` is not empty.")
    errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was recorded.")
