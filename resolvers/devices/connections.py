"""What a gate device's connection records: reaching the server, its offline snapshot
loaded and its first decided scan (the commissioning checklist, POLICY 5.2), door reports
and the alarms they raise, and a device gone silent.

The WebSocket endpoint (devices/endpoint.py) parses frames and calls these plain
functions; it touches no model itself.
"""

from __future__ import annotations

from datetime import datetime

from resolvers.access import sites
from resolvers.access.topology import GateNode
from resolvers.alerts.raising import raise_alert, raise_alert_aggregated
from resolvers.attendance.anomalies import AnomalyDetector
from resolvers.core import clock
from resolvers.core.errors import is_id
from resolvers.core.models import Device, DoorReport
from resolvers.devices import fleet
from resolvers.runtime import Runtime
from resolvers.scan.writer import record_door_alarm

ALARM_STATES = frozenset({"forced", "held_open"})


async def connect(rt: Runtime, device_id: str, secret: str, firmware: str | None) -> sites.DeviceSession | None:
    """The device, when its credentials hold (else None: the connection is refused); its
    connection is recorded as seen, and as the checklist's "network reached" the first time."""
    device = await sites.authenticate_device(rt, device_id, secret)
    if device is None:
        return None
    now = clock.now()
    fleet.note_seen(device.id)  # with the heartbeats' next batch
    if firmware is not None and firmware[:64] != device.firmware:
        await Device.filter(id=device.id).update(firmware=firmware[:64])
    if not device.network_reached:  # a write per hello only the first time (a reconnect storm: 10,000)
        await Device.filter(id=device.id, network_reached_at=None).update(network_reached_at=now)
    return device


async def record_snapshot_loaded(device_id: int) -> None:
    """The checklist's "configuration loaded": the first snapshot the device acknowledged."""
    await Device.filter(id=device_id, config_loaded_at=None).update(config_loaded_at=clock.now())


async def record_config_loaded(device_id: int) -> None:
    """The checklist's "configuration loaded" for a device without the offline capability (any kind:
    commissioning needs no snapshot): its configuration is the `welcome` frame (its gates and the
    heartbeat interval), and a heartbeat after it shows the device runs on it."""
    await Device.filter(id=device_id, config_loaded_at=None).update(config_loaded_at=clock.now())


async def record_test_scan(device_id: int) -> None:
    """The checklist's "test scan decided": the first scan that became a gate event."""
    await Device.filter(id=device_id, test_scan_at=None).update(test_scan_at=clock.now())


async def served_gate(rt: Runtime, device_id: int, gate_text: str) -> GateNode | None:
    """The gate a device names, when it is one of the gates the device serves."""
    if not is_id(gate_text) or len(gate_text) > 18:
        return None
    topo = await rt.topology.get()
    gate_id = int(gate_text)
    return topo.gates.get(gate_id) if gate_id in topo.device_gates.get(device_id, ()) else None


async def record_door_report(
    rt: Runtime, anomalies: AnomalyDetector, device_id: int, gate: GateNode, state: str, at: str | None
) -> None:
    """A door sensor report: stored; a door opened with no decision just before is an
    anomaly (tailgating); a forced or held-open door is an alarm (a gate event and an alert)."""
    reported = _device_time(at)
    if state in ALARM_STATES:
        # A door alarm repeated in a loop is one alert with a count per gate and state and
        # window, and one stored report and alarm event per window: not one per frame.
        what = f"door {state.replace('_', ' ')} at {gate.name}"
        first = await raise_alert_aggregated(
            rt, state, lambda n: what if n == 1 else f"{what} ({n} reports)", device_id=device_id, gate_id=gate.id
        )
        if not first:
            return
    await DoorReport.create(device_id=device_id, gate_id=gate.id, state=state, reported_at=reported)
    if state == "opened":
        await anomalies.on_door_opened(device_id, gate.id, reported or clock.now())
    # Forced or held open: the gate-event writer stores an alarm event (other states are none).
    await record_door_alarm(rt, device_id, gate, state, reported)


async def record_silence(rt: Runtime, device_id: int, device_name: str, seconds: int) -> None:
    """The device sent nothing for `seconds` (3 heartbeats): the guards hear of it."""
    await raise_alert(rt, "offline", f"device {device_name} sent nothing for {seconds} s", device_id=device_id)


def _device_time(value: str | None) -> datetime | None:
    """The device's clock when it says a time with an offset; otherwise the server's is used."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
