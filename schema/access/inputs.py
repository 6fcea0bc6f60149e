"""GraphQL input types: access."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.core.enums import (
    AntiPassback,
    GateDirection,
    ZoneKind,
)


@strawberry.input(description="A new zone.")
class CreateZoneInput:
    name: str = strawberry.field(description="Unique among its siblings.")
    parent_id: strawberry.ID | None = strawberry.field(default=None, description="The zone it lies in; null: top.")
    anti_passback: AntiPassback | None = strawberry.field(
        default=AntiPassback.OFF, description="How a second IN without an OUT is treated."
    )
    kind: ZoneKind | None = strawberry.field(default=ZoneKind.OFFICE, description="What the zone is used for.")
    department_id: strawberry.ID | None = strawberry.field(
        default=None, description="The department owning the zone: its head may grant it."
    )
    responsible_id: strawberry.ID | None = strawberry.field(
        default=None, description="Who approves access requests for this zone (a maintenance area's head)."
    )


@strawberry.input(description="Changes to a zone; a field left out stays as it is.")
class UpdateZoneInput:
    name: str | None = strawberry.field(default=None, description="A new name.")
    parent_id: strawberry.ID | None = strawberry.field(
        default=None, description="Move the zone under this one; it cannot go inside its own subtree."
    )
    move_to_root: bool = strawberry.field(default=False, description="Make it a top-level zone.")
    anti_passback: AntiPassback | None = strawberry.field(default=None, description="A new anti-passback rule.")
    kind: ZoneKind | None = strawberry.field(default=None, description="A new kind.")
    department_id: strawberry.ID | None = strawberry.field(
        default=None, description="A new owning department: its head may grant the zone."
    )
    responsible_id: strawberry.ID | None = strawberry.field(
        default=None, description="A new approver of access requests for the zone."
    )


@strawberry.input(description="A new gate.")
class CreateGateInput:
    name: str = strawberry.field(description="As guards know it.")
    zone_id: strawberry.ID = strawberry.field(description="The zone it leads into.")
    direction: GateDirection = strawberry.field(description="Which way it lets people pass.")


@strawberry.input(description="A weekly window in the site's time zone; end before start crosses midnight.")
class ScheduleWindowInput:
    weekdays: list[int] = strawberry.field(description="1 = Monday … 7 = Sunday")
    start: str = strawberry.field(description="HH:MM")
    end: str = strawberry.field(description="HH:MM")

    def to_dict(self) -> dict[str, object]:
        return {"weekdays": list(self.weekdays), "start": self.start, "end": self.end}


@strawberry.input(description="A new grant: exactly one of personId, departmentId and position.")
class GrantAccessInput:
    zone_id: strawberry.ID = strawberry.field(description="The zone it opens (with its sub-zones and the way in).")
    person_id: strawberry.ID | None = strawberry.field(default=None, description="One active employee.")
    department_id: strawberry.ID | None = strawberry.field(
        default=None, description="A department's members (not sub-departments')."
    )
    valid_from: datetime | None = strawberry.field(default=None, description="Null: from now.")
    valid_until: datetime | None = strawberry.field(default=None, description="Null: until revoked.")
    position: str | None = strawberry.field(default=None, description="Everyone holding this position.")
    schedule: list[ScheduleWindowInput] | None = strawberry.field(
        default=None, description="Weekly windows it holds in; null or empty: at any hour."
    )
