"""Commands to gate devices (open, lockdown, release): stored, then routed to whichever
server process holds the device's connection (over the bus)."""

from __future__ import annotations

from typing import Any

from api import clock
from api.models import DeviceCommand
from resolvers.runtime import Runtime

CHANNEL = "device_commands"


async def online_devices(rt: Runtime, device_ids: frozenset[int] | set[int]) -> list[int]:
    return [d for d in sorted(device_ids) if await rt.state.device_connection(d) is not None]


async def send_command(
    rt: Runtime, device_id: int, gate_id: int | None, command: str, extra: dict[str, Any], issued_by: int | None
) -> DeviceCommand:
    row = await DeviceCommand.create(
        device_id=device_id, gate_id=gate_id, command=command, payload=extra, issued_by_id=issued_by
    )
    frame: dict[str, Any] = {"type": "command", "id": f"c-{row.id}", "command": command}
    if gate_id is not None:
        frame["gateId"] = str(gate_id)
    frame.update(extra)
    rt.bus.publish(CHANNEL, {"deviceId": device_id, "frame": frame})
    return row


async def acknowledge(device_id: int, command_ref: object) -> bool:
    if not isinstance(command_ref, str) or not command_ref.startswith("c-") or not command_ref[2:].isdigit():
        return False
    updated = await DeviceCommand.filter(id=int(command_ref[2:]), device_id=device_id, acked_at=None).update(
        acked_at=clock.now()
    )
    return bool(updated)
