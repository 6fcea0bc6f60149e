"""`/devices/ws`: one gate device's connection, from hello to close (protocol v1)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from devices.hub import DeviceHub
from devices.protocol import BadMessage, Frame, error_frame, parse_frame
from resolvers.access import sites
from resolvers.access.topology import Topology
from resolvers.alerts.raising import raise_alert
from resolvers.core import clock
from resolvers.core.errors import is_id
from resolvers.core.models import Device, DoorReport
from resolvers.devices import commands as device_commands
from resolvers.devices import fleet as device_fleet
from resolvers.devices import offline_uploads as offline_events
from resolvers.devices import snapshots
from resolvers.items import gate_checks as item_checks
from resolvers.runtime import Runtime
from resolvers.scan.decision import DirectionRequired, ScanOutcome, decide_scan
from resolvers.scan.reasons import Reason
from resolvers.scan.writer import record_door_alarm

log = logging.getLogger("gatehouse.devices")
MAX_SCANS_IN_FLIGHT = 32
ANSWERS_KEPT = 1000


class DeviceConnection:
    def __init__(self, ws: WebSocket, rt: Runtime, hub: DeviceHub, device: Device) -> None:
        self.ws = ws
        self.rt = rt
        self.hub = hub
        self.device_id = device.id
        self.device_name = device.name
        self.connection_id = hub.new_connection_id()
        self.last_frame = time.monotonic()
        self._send_lock = asyncio.Lock()
        self._in_flight = asyncio.Semaphore(MAX_SCANS_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        self.test_scan_seen = device.test_scan_at is not None
        self._answered: OrderedDict[str, dict[str, Any]] = OrderedDict()
        # Devices that decide offline say so in hello ("capabilities": ["offline"]); only they get
        # snapshots and revocation frames, so firmware that predates them sees nothing new.
        self.offline_capable = False

    async def send(self, frame: dict[str, Any]) -> None:
        if self.closed:
            return
        async with self._send_lock:
            await self.ws.send_text(json.dumps(frame))

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        if self.ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(code, reason)

    def welcome(self, topo: Topology) -> dict[str, Any]:
        gates = [topo.gates[g] for g in sorted(topo.device_gates.get(self.device_id, ())) if g in topo.gates]
        return {
            "type": "welcome",
            "deviceId": str(self.device_id),
            "serverTime": clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "gates": [
                {"id": str(g.id), "name": g.name, "direction": g.direction.value, "zoneId": str(g.zone_id)}
                for g in gates
            ],
            "heartbeatSeconds": self.rt.settings.heartbeat_seconds,
            # Protocol additions: the key that signs offline snapshots, which follow this frame.
            "snapshotKey": snapshots.public_key_b64(self.rt),
        }

    async def run(self) -> None:
        watchdog = asyncio.create_task(self._watchdog())
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                self.last_frame = time.monotonic()
                raw = message.get("text")
                if raw is None:
                    raw = message.get("bytes") or b""
                await self._handle(raw)
        except WebSocketDisconnect:
            return
        finally:
            watchdog.cancel()
            self.closed = True
            # Scans already accepted are finished: their events are stored even if the reply cannot go out.
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, raw: str | bytes) -> None:
        try:
            frame = parse_frame(raw)
        except BadMessage as exc:
            await self.send(error_frame(str(exc), exc.ref))
            return
        try:
            await self._dispatch(frame)
        except Exception:
            # Whatever one frame does wrong, the device keeps its connection and hears why.
            log.exception("frame %s from device %s failed", frame.type, self.device_id)
            await self.send(
                error_frame(f"the server could not handle this {frame.type} frame", frame.ref, code="server_error")
            )

    async def _dispatch(self, frame: Frame) -> None:
        if frame.type == "scan":
            await self._in_flight.acquire()
            task = asyncio.create_task(self._scan(frame))
            self._tasks.add(task)
            task.add_done_callback(self._scan_done)
        elif frame.type == "heartbeat":
            await self._heartbeat(frame)
        elif frame.type == "door":
            await self._door(frame)
        elif frame.type == "ack":
            await device_commands.acknowledge(self.device_id, frame.data["id"])
        elif frame.type == "snapshot_ack":
            await Device.filter(id=self.device_id, config_loaded_at=None).update(config_loaded_at=clock.now())
        elif frame.type == "events":
            await self._upload(frame)
        elif frame.type == "item":
            await self._item(frame)
        elif frame.type == "hello":
            await self.send(error_frame("already connected: hello comes once", frame.ref))

    def _scan_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._in_flight.release()

    async def _scan(self, frame: Frame) -> None:
        ref = frame.data["ref"]
        ref_key = str(ref)
        try:
            remembered = self._answered.get(ref_key) or await self.rt.state.recall_ref(self.device_id, ref_key)
            if remembered is not None:
                await self.send(remembered)
                return
            gate_text = frame.data["gateId"]
            gate_id = int(gate_text) if is_id(gate_text) and len(gate_text) <= 18 else None
            try:
                outcome = await decide_scan(
                    self.rt, self.device_id, gate_id, frame.data["credential"], frame.data.get("direction"), ref_key
                )
            except DirectionRequired as exc:
                await self.send(error_frame(str(exc), ref))
                return
            reply = outcome.frame(ref, self.rt.settings.door_open_ms)
            # Remembered on this connection before it is sent (a resend right after the answer finds
            # it), shared with other workers after: the device is not kept waiting for that.
            self._answered[ref_key] = reply
            if len(self._answered) > ANSWERS_KEPT:
                self._answered.popitem(last=False)
            await self.send(reply)
            await self.rt.state.remember_ref(self.device_id, ref_key, reply)
            if not self.test_scan_seen and outcome.event_id is not None:
                self.test_scan_seen = True
                await Device.filter(id=self.device_id, test_scan_at=None).update(test_scan_at=clock.now())
        except Exception:
            log.exception("scan %s from device %s failed", ref, self.device_id)
            # Fail closed: the door stays shut and the device hears why.
            with contextlib.suppress(Exception):
                await self.send(ScanOutcome.refused(Reason.UNAVAILABLE).frame(ref, 0))

    async def _heartbeat(self, frame: Frame) -> None:
        await self.rt.state.set_device_connection(self.device_id, self.connection_id, self._offline_after())
        await device_fleet.record_heartbeat(self.device_id, frame.data.get("stats"))

    async def _item(self, frame: Frame) -> None:
        topo = await self.rt.topology.get()
        gate_text = frame.data["gateId"]
        gate_id = int(gate_text) if is_id(gate_text) and len(gate_text) <= 18 else -1
        if gate_id not in topo.device_gates.get(self.device_id, ()):
            await self.send(error_frame("item scan at a gate this device does not serve", frame.ref))
            return
        result = await item_checks.scan_label(self.rt, self.device_id, gate_id, frame.data["code"])
        await self.send({"type": "item_result", "ref": frame.ref, **result})

    async def _upload(self, frame: Frame) -> None:
        # Scans this connection is still deciding come first: an uploaded event that carries the
        # ref of one of them (its answer came too late for the gate) must find it stored.
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        topo = await self.rt.topology.get()
        try:
            events = offline_events.parse_batch(
                frame.data["events"], topo.device_gates.get(self.device_id, frozenset())
            )
        except offline_events.BadBatch as exc:
            await self.send(error_frame(str(exc), frame.ref))
            return
        stored, duplicates = await offline_events.ingest(self.rt, self.device_id, events)
        await self.send(
            {
                "type": "events_ack",
                "ref": frame.ref,
                "upTo": max(e.seq for e in events),
                "stored": stored,
                "duplicates": duplicates,
            }
        )

    async def _door(self, frame: Frame) -> None:
        topo = await self.rt.topology.get()
        gate_text = frame.data["gateId"]
        gate_id = int(gate_text) if is_id(gate_text) and len(gate_text) <= 18 else -1
        if gate_id not in topo.device_gates.get(self.device_id, ()):
            await self.send(error_frame("door report for a gate this device does not serve", frame.ref))
            return
        state = frame.data["state"]
        reported = _parse_time(frame.data.get("at"))
        await DoorReport.create(device_id=self.device_id, gate_id=gate_id, state=state, reported_at=reported)
        if state == "opened":
            await self.ws.app.state.anomalies.on_door_opened(self.device_id, gate_id, reported or clock.now())
        if state in ("forced", "held_open"):
            gate = topo.gates[gate_id]
            await record_door_alarm(self.rt, self.device_id, gate, state, reported)
            await raise_alert(
                self.rt,
                state,
                f"door {state.replace('_', ' ')} at {gate.name}",
                device_id=self.device_id,
                gate_id=gate_id,
            )

    def _offline_after(self) -> int:
        return 3 * self.rt.settings.heartbeat_seconds

    async def _watchdog(self) -> None:
        limit = self._offline_after()
        while True:
            await asyncio.sleep(min(limit / 3, 5))
            if time.monotonic() - self.last_frame > limit:
                await raise_alert(
                    self.rt,
                    "offline",
                    f"device {self.device_name} sent nothing for {limit} s",
                    device_id=self.device_id,
                )
                await self.close(4408, "no frame within 3 heartbeats")
                return


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


async def device_endpoint(ws: WebSocket) -> None:
    rt: Runtime = ws.app.state.runtime
    hub: DeviceHub = ws.app.state.device_hub
    await ws.accept()
    try:
        message = await asyncio.wait_for(ws.receive(), timeout=rt.settings.hello_timeout_seconds)
    except TimeoutError:
        await ws.close(4408, "no hello within 5 s")
        return
    if message["type"] == "websocket.disconnect":
        return
    try:
        hello = parse_frame(message.get("text") or message.get("bytes") or b"")
    except BadMessage:
        hello = None
    device = None
    if hello is not None and hello.type == "hello":
        device = await sites.authenticate_device(rt, hello.data["deviceId"], hello.data["secret"])
    if device is None:
        await ws.close(4401, "bad or missing device credentials")
        return
    conn = DeviceConnection(ws, rt, hub, device)
    firmware = hello.data.get("firmware") if hello is not None else None
    now = clock.now()
    await Device.filter(id=device.id).update(
        last_seen_at=now,
        firmware=firmware[:64] if isinstance(firmware, str) else device.firmware,
        offline_alerted_at=None,
    )
    await Device.filter(id=device.id, network_reached_at=None).update(network_reached_at=now)
    await hub.attach(conn)
    await rt.state.set_device_connection(device.id, conn.connection_id, conn._offline_after())
    try:
        capabilities = hello.data.get("capabilities") if hello is not None else None
        conn.offline_capable = isinstance(capabilities, list) and "offline" in capabilities
        await conn.send(conn.welcome(await rt.topology.get()))
        if conn.offline_capable:
            await conn.send(await snapshots.signed_frame(rt, device.id))
        await conn.run()
    finally:
        hub.detach(conn)
        await rt.state.clear_device_connection(device.id, conn.connection_id)
