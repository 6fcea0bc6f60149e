"""GraphQL input types: devices."""

from __future__ import annotations

import strawberry

from schema.core.enums import (
    DeviceKind,
)


@strawberry.input
class RegisterDeviceInput:
    name: str
    kind: DeviceKind
    gate_ids: list[strawberry.ID]
