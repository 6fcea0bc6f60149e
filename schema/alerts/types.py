"""GraphQL object types and mutation payloads: alerts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import strawberry

from resolvers.core import models

if TYPE_CHECKING:
    pass


@strawberry.type
class DeviceAlert:
    id: strawberry.ID
    at: datetime
    kind: str
    message: str
    device_id: strawberry.ID | None
    gate_id: strawberry.ID | None

    @classmethod
    def of(cls, row: models.DeviceAlert) -> DeviceAlert:
        return cls(
            id=strawberry.ID(str(row.id)),
            at=row.at,
            kind=row.kind,
            message=row.message,
            device_id=strawberry.ID(str(row.device_id)) if row.device_id else None,
            gate_id=strawberry.ID(str(row.gate_id)) if row.gate_id else None,
        )
