"""Device alerts: stored, then pushed to guards on the `device_alerts` channel."""

from __future__ import annotations

import time
from typing import Any

from realtime.messages import DeviceAlertMessage
from resolvers.core import clock
from resolvers.core.models import DeviceAlert
from resolvers.runtime import Runtime


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
    rt.bus.send(DeviceAlertMessage(alert.id, alert.at, kind, message, device_id=device_id, gate_id=gate_id))
    return alert


_last_raised: dict[tuple[str, int | None, int | None], float] = {}
THROTTLE_SECONDS = 60.0


async def raise_alert_throttled(
    rt: Runtime,
    kind: str,
    message: str,
    device_id: int | None = None,
    gate_id: int | None = None,
) -> DeviceAlert | None:
    """At most one alert a minute per (kind, device, gate) from this process: a device stuck
    on a wrong gate id must not flood the guards or the table."""
    key = (kind, device_id, gate_id)
    now = time.monotonic()
    if now - _last_raised.get(key, -THROTTLE_SECONDS) < THROTTLE_SECONDS:
        return None
    _last_raised[key] = now
    if len(_last_raised) > 10_000:
        _last_raised.clear()
    return await raise_alert(rt, kind, message, device_id=device_id, gate_id=gate_id)
