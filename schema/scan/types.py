"""GraphQL object types and mutation payloads: scan."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import strawberry

from resolvers.core import models
from schema.access.types import Gate
from schema.core.context import Info
from schema.core.enums import (
    Decision,
    Direction,
    EntryMethod,
)
from schema.core.pagination import Connection, page_of
from schema.core.payloads import UserError
from schema.people.types import Person

if TYPE_CHECKING:
    pass


@strawberry.type
class GateEvent:
    id: strawberry.ID
    at: datetime
    decision: Decision | None
    reason: str
    method: EntryMethod | None
    direction: Direction | None
    offline: bool
    gate_id_: strawberry.Private[int]
    person_id_: strawberry.Private[int | None]

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
    def of_message(cls, msg: dict[str, Any]) -> GateEvent:
        return cls.of_row(
            {
                "id": msg["id"],
                "at": datetime.fromisoformat(msg["at"]),
                "decision": msg["decision"],
                "reason": msg["reason"],
                "method": msg["method"],
                "direction": msg["direction"],
                "offline": msg["offline"],
                "gate_id": msg["gateId"],
                "person_id": msg["personId"],
            }
        )

    @strawberry.field
    async def gate(self, info: Info) -> Gate:
        row = await info.context.loaders.gate.load(self.gate_id_)
        assert row is not None  # gates with events cannot be deleted (RESTRICT)
        return Gate.of(row)

    @strawberry.field
    async def person(self, info: Info) -> Person | None:
        if self.person_id_ is None:
            return None
        row = await info.context.loaders.person.load(self.person_id_)
        return Person.of(row) if row else None


def event_connection(rows: list[dict[str, Any]], first: int) -> Connection[GateEvent]:
    return page_of(rows, first, "ev", GateEvent.of_row, key=lambda r: int(r["id"]))


@strawberry.type
class GateEventPayload:
    event: GateEvent | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
