"""Input types, named and shaped as contracts/README.md has them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.core.enums import (
    AntiPassback,
    DeviceKind,
    Direction,
    GateDirection,
    Gender,
    IdentityDocument,
    Role,
    ZoneKind,
)


@strawberry.input
class CreateDepartmentInput:
    name: str
    parent_id: strawberry.ID | None = None
    head_id: strawberry.ID | None = None


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


@strawberry.input
class RegisterDeviceInput:
    name: str
    kind: DeviceKind
    gate_ids: list[strawberry.ID]


@strawberry.input
class OnboardEmployeeInput:
    display_name: str
    gender: Gender | None = None
    id_number: str
    phone: str
    department_id: strawberry.ID
    position: str
    username: str
    roles: list[Role] | None = None
    document_type: IdentityDocument | None = IdentityDocument.ID_CARD


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


@strawberry.input
class ManualEntryInput:
    person_id: strawberry.ID
    gate_id: strawberry.ID
    direction: Direction
    document_type: IdentityDocument
    document_number_last4: str
    note: str | None = None
