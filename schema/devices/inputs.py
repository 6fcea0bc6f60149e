"""GraphQL input types: devices."""

from __future__ import annotations

import strawberry

from schema.core.enums import (
    DeviceKind,
)


@strawberry.input(description="A new gate device.")
class RegisterDeviceInput:
    name: str = strawberry.field(description="As technicians know it.")
    kind: DeviceKind = strawberry.field(description="What it is.")
    gate_ids: list[strawberry.ID] = strawberry.field(description="The gates it serves: at least one.")
