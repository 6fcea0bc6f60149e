"""Device alerts: stored, then pushed to guards on the `device_alerts` channel."""

from __future__ import annotations

from typing import Any

from api import clock
from api.models import DeviceAlert
from resolvers.runtime import Runtime

CHANNEL = "device_alerts"


async def raise_alert(
    rt: Runtime,
    kind: str,
    message: str,
    device_id: int | None = None,
    gate_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> DeviceAlert:
    alert = await DeviceAlert.create(
        at=clock.now(), device_id=device_id, gate_id=gate_id, kind=kind, message=message, payload=payload or {}
    )
    rt.bus.publish(
        CHANNEL,
        {
            "id": alert.id,
            "at": alert.at.isoformat(),
            "deviceId": device_id,
            "gateId": gate_id,
            "kind": kind,
            "message": message,
        },
    )
    return alert
