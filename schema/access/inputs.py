"""GraphQL input types: access."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.core.enums import (
    AntiPassback,
    GateDirection,
    ZoneKind,
)


@strawberry.input
class CreateZoneInput:
    name: str
    parent_id: strawberry.ID | None = None
    anti_passback: AntiPassback | None = AntiPassback.OFF
    kind: ZoneKind | None = ZoneKind.OFFICE
    department_id: strawberry.ID | None = strawberry.field(
        default=None, description="The department owning the zone: its head may grant it."
    )
    responsible_id: strawberry.ID | None = strawberry.field(
        default=None, description="Who approves access requests for this zone (a maintenance area's head)."
    )


@strawberry.input
class UpdateZoneInput:
    name: str | None = None
    parent_id: strawberry.ID | None = strawberry.field(
        default=None, description="Move the zone under this one; it cannot go inside its own subtree."
    )
    move_to_root: bool = False
    anti_passback: AntiPassback | None = None
    kind: ZoneKind | None = None
    department_id: strawberry.ID | None = None
    responsible_id: strawberry.ID | None = None


@strawberry.input
class CreateGateInput:
    name: str
    zone_id: strawberry.ID
    direction: GateDirection


@strawberry.input(description="A weekly window in the site's time zone; end before start crosses midnight.")
class ScheduleWindowInput:
    weekdays: list[int] = strawberry.field(description="1 = Monday … 7 = Sunday")
    start: str = strawberry.field(description="HH:MM")
    end: str = strawberry.field(description="HH:MM")

    def to_dict(self) -> dict[str, object]:
        return {"weekdays": list(self.weekdays), "start": self.start, "end": self.end}


@strawberry.input
class GrantAccessInput:
    zone_id: strawberry.ID
    person_id: strawberry.ID | None = None
    department_id: strawberry.ID | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    position: str | None = strawberry.field(default=None, description="Everyone holding this position.")
    schedule: list[ScheduleWindowInput] | None = None
