"""Commands to gate devices (open, lockdown, release): stored, then routed to whichever
server process holds the device's connection (over the bus); retried until acknowledged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from realtime.messages import DeviceCommandMessage
from resolvers.alerts.raising import raise_alert
from resolvers.core import clock
from resolvers.core.errors import is_id
from resolvers.core.models import DeviceCommand
from resolvers.runtime import Runtime

RETRY_AFTER_SECONDS = 5
MAX_ATTEMPTS = 5


async def online_devices(rt: Runtime, device_ids: frozenset[int] | set[int]) -> list[int]:
    connected = await rt.state.device_connections(sorted(device_ids))
    return sorted(connected)


async def send_command(
    rt: Runtime, device_id: int, gate_id: int | None, command: str, extra: dict[str, Any], issued_by: int | None
) -> DeviceCommand:
    row = await DeviceCommand.create(
        device_id=device_id,
        gate_id=gate_id,
        command=command,
        payload=extra,
        issued_by_id=issued_by,
        last_sent_at=clock.now(),
    )
    _publish(rt, row)
    return row


def _publish(rt: Runtime, row: DeviceCommand) -> None:
    frame: dict[str, Any] = {"type": "command", "id": f"c-{row.id}", "command": row.command}
    if row.gate_id is not None:
        frame["gateId"] = str(row.gate_id)
    frame.update(row.payload)
    rt.bus.send(DeviceCommandMessage(device_id=row.device_id, frame=frame))


async def acknowledge(device_id: int, command_ref: object) -> bool:
    if not isinstance(command_ref, str) or not command_ref.startswith("c-") or not is_id(command_ref[2:]):
        return False
    updated = await DeviceCommand.filter(id=int(command_ref[2:]), device_id=device_id, acked_at=None).update(
        acked_at=clock.now()
    )
    return bool(updated)


async def retry_unacknowledged(rt: Runtime) -> tuple[int, int]:
    """Send again what a device has not acknowledged; after the last try, tell the guards.

    Returns (resent, given up). Each resend is claimed by a conditional update, so several
    workers running this at once send a command once per round.
    """
    now = clock.now()
    resent = failed = 0
    due = await DeviceCommand.filter(
        acked_at=None, failed_at=None, last_sent_at__lte=now - timedelta(seconds=RETRY_AFTER_SECONDS)
    )
    for row in due:
        if row.attempts >= MAX_ATTEMPTS:
            if await DeviceCommand.filter(id=row.id, failed_at=None).update(failed_at=now):
                failed += 1
                await raise_alert(
                    rt,
                    "command_unacknowledged",
                    f"device {row.device_id} did not acknowledge {row.command} after {row.attempts} tries",
                    device_id=row.device_id,
                    gate_id=row.gate_id,
                    payload={"commandId": row.id},
                )
            continue
        claimed = await DeviceCommand.filter(id=row.id, attempts=row.attempts, acked_at=None).update(
            attempts=row.attempts + 1, last_sent_at=now
        )
        if claimed:
            _publish(rt, row)
            resent += 1
    return resent, failed
