"""`/devices/ws`: one gate device's connection, from hello to close (protocol v1)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from devices.frames import incoming as inc
from devices.frames.budget import CLOSE_OVER_BUDGET, FrameBudget
from devices.frames.incoming import INCOMING
from devices.frames.outgoing import EventsAck, Welcome
from devices.hub import DeviceHub
from devices.protocol import BadMessage, Frame, error_frame, frame_size, parse_frame
from realtime import metrics
from resolvers.access.sites import DeviceSession
from resolvers.access.topology import Topology
from resolvers.alerts.raising import raise_alert_throttled
from resolvers.attendance.anomalies import AnomalyDetector
from resolvers.core import clock, log_context
from resolvers.core.addresses import client_address
from resolvers.core.errors import is_id
from resolvers.core.models import EntryMethod
from resolvers.devices import commands as device_commands
from resolvers.devices import connections, hello_limits, snapshots
from resolvers.devices import fleet as device_fleet
from resolvers.devices import offline_uploads as offline_events
from resolvers.faces import offline_block
from resolvers.faces.encoding import MAX_PHOTO_BYTES
from resolvers.faces.gate import FaceShown, count_recognition, decide_face
from resolvers.items import gate_checks as item_checks
from resolvers.items import stocktakes
from resolvers.items.catalogue import PREFIX as LABEL_PREFIX
from resolvers.runtime import Runtime
from resolvers.scan.decision import DirectionRequired, ScanOutcome, decide_scan
from resolvers.scan.outcome import AlreadyAnswered
from resolvers.scan.reasons import Reason

log = logging.getLogger("gatehouse.devices")
MAX_SCANS_IN_FLIGHT = 32
ANSWERS_KEPT = 1000
FACE_METHOD = EntryMethod.FACE.value
SCAN_METHOD = EntryMethod.QR.value  # a pass or a printed badge, both QR codes (as the event records it)

ITEM_LABEL = LABEL_PREFIX + ":"
_last_scan = [0.0]  # time.monotonic() of the latest scan frame this process received

# A device cut off for its frame budget again soon after is kept off for a while, its hello refused
# (4429) before anything is looked up: each of its connections cost the other gates committed writes
# (last seen, firmware) and a burst of frames to parse, and a flooder reconnects at once (issue 11;
# bench/scans_under_abuse.py). The first cut-off costs nothing; the next within COOL_OFF_MEMORY
# seconds keeps the device off COOL_OFF_FIRST seconds, doubling up to COOL_OFF_MAX.
COOL_OFF_FIRST, COOL_OFF_MAX, COOL_OFF_MEMORY = 5.0, 60.0, 300.0
COOL_OFF_HOLD = 2.0  # seconds a refused hello waits for its close
_cut_offs: dict[str, tuple[int, float, float]] = {}  # device id -> (cut-offs, last one, kept off until)


def _note_cut_off(device_id: str) -> None:
    now = time.monotonic()
    count, last, _ = _cut_offs.get(device_id, (0, 0.0, 0.0))
    count = 1 if now - last > COOL_OFF_MEMORY else count + 1
    if len(_cut_offs) > 10_000:
        _cut_offs.clear()
    _cut_offs[device_id] = (
        count,
        now,
        now + (min(COOL_OFF_MAX, COOL_OFF_FIRST * 2 ** (count - 2)) if count > 1 else 0),
    )


def cooling_off(device_id: object) -> bool:
    """The device was cut off for its frame budget twice lately and may not connect yet."""
    if not isinstance(device_id, str) or not is_id(device_id) or len(device_id) > 18:
        return False
    entry = _cut_offs.get(str(int(device_id)))  # "021" is device 21 too
    return entry is not None and time.monotonic() < entry[2]


def gates_scanning(within: float) -> bool:
    """A gate sent a scan to this process within `within` seconds (the API paces heavy work then)."""
    return time.monotonic() - _last_scan[0] < within


Handler = Callable[["DeviceConnection", Frame[Any]], Awaitable[None]]
H = TypeVar("H", bound=Callable[..., Awaitable[None]])
# Incoming frame type → the DeviceConnection method that handles it (registered by @handles).
HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[H], H]:
    """Registers a DeviceConnection method as the handler of one declared incoming frame type."""
    if kind not in INCOMING:
        raise TypeError(f"{kind!r} is not a declared incoming frame (devices/frames/incoming.py)")

    def register(method: H) -> H:
        if kind in HANDLERS:
            raise TypeError(f"{kind!r} frames already have a handler")
        HANDLERS[kind] = method
        return method

    return register


class DeviceConnection:
    def __init__(
        self, ws: WebSocket, rt: Runtime, hub: DeviceHub, anomalies: AnomalyDetector, device: DeviceSession
    ) -> None:
        self.ws = ws
        self.rt = rt
        self.hub = hub
        self.anomalies = anomalies
        self.device_id = device.id
        self.device_name = device.name
        self.connection_id = hub.new_connection_id()
        self.last_frame = time.monotonic()
        self._send_lock = asyncio.Lock()
        self._in_flight = asyncio.Semaphore(MAX_SCANS_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()
        # The newest heartbeat not yet stored, and the task storing them (one at a time).
        self._beat: inc.Heartbeat | None = None
        self._beats: asyncio.Task[None] | None = None
        self.closed = False
        self._budget = FrameBudget()
        self.test_scan_seen = device.test_scan_done
        self.config_recorded = device.config_loaded  # a reconnect of a configured device writes nothing
        # ref → (credential, answer) of scans answered on this connection, and of those being decided:
        # the device's retry (same ref and credential) gets that answer, never another credential.
        self._answered: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self._deciding: dict[str, tuple[str, asyncio.Future[dict[str, Any] | None]]] = {}
        # Devices that decide offline say so in hello ("capabilities": ["offline"]); only they get
        # snapshots and revocation frames, so firmware that predates them sees nothing new.
        self.offline_capable = False
        # Face terminals say so in hello ("capabilities": ["face"]); only they may send face frames.
        self.face_capable = False
        # An offline face terminal's X25519 key (hello.faceKey): its snapshots carry the templates it
        # may match, encrypted to it. Kept for this connection only; the device sends it every hello.
        self.face_key: bytes | None = None

    async def send(self, frame: Mapping[str, Any]) -> None:
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

    def welcome(self, topo: Topology) -> Welcome:
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

    async def run(self, watchdog: Watchdog) -> None:
        watchdog.watch(self)
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                self.last_frame = time.monotonic()
                raw = message.get("text")
                if raw is None:
                    raw = message.get("bytes") or b""
                size = frame_size(raw)
                broken = self._budget.over(size) or await self._handle(raw)
                if broken is not None:
                    await self._cut_off(broken)
                    return
                # Frames already queued would otherwise be read without a pause: give the other
                # gates' connections their turn between two frames of this one.
                await asyncio.sleep(0)
        except WebSocketDisconnect:
            return
        finally:
            watchdog.unwatch(self)
            self.closed = True
            # Scans already accepted are finished: their events are stored even if the reply cannot go out;
            # and the last heartbeat is stored before the connection is forgotten (after, it would
            # register a connection that is gone).
            pending = [*self._tasks, *([self._beats] if self._beats is not None else [])]
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def _cut_off(self, why: str) -> None:
        """A device over its frame budget: the guards hear of it (once a minute) and it is closed."""
        log.warning("device %s over its frame budget (%s): disconnected", self.device_id, why)
        await raise_alert_throttled(
            self.rt, "frame_flood", f"device {self.device_name} sent {why}: disconnected", device_id=self.device_id
        )
        _note_cut_off(str(self.device_id))
        await self.close(CLOSE_OVER_BUDGET, "frame budget exceeded")

    async def _handle(self, raw: str | bytes) -> str | None:
        """Handles one frame; returns why the device is over its budget of refused frames, if it is."""
        try:
            frame = parse_frame(raw)
        except BadMessage as exc:
            await self.send(error_frame(str(exc), exc.ref))
            return self._budget.over_on_refusal()
        try:
            await HANDLERS[frame.type](self, frame)
        except BadMessage as exc:  # a rule a declaration cannot say (a face frame's, for one)
            await self.send(error_frame(str(exc), frame.ref))
            return self._budget.over_on_refusal()
        except Exception:
            # Whatever one frame does wrong, the device keeps its connection and hears why.
            log.exception("frame %s from device %s failed", frame.type, self.device_id)
            await self.send(
                error_frame(f"the server could not handle this {frame.type} frame", frame.ref, code="server_error")
            )
        return None

    @handles("scan")
    async def _start_scan(self, frame: Frame[inc.Scan]) -> None:
        # Decided concurrently (up to MAX_SCANS_IN_FLIGHT): a slow decision does not hold the next scan.
        _last_scan[0] = time.monotonic()
        await self._in_flight.acquire()
        # The frame arrived when it was read (run() noted it): the decision's latency counts from there.
        task = asyncio.create_task(self._scan(frame, self.last_frame))
        self._tasks.add(task)
        task.add_done_callback(self._scan_done)

    @handles("face")
    async def _start_face(self, frame: Frame[inc.Face]) -> None:
        shown = self._face_shown(frame)  # BadMessage: answered with an error frame, nothing decided
        if not self._budget.face_allowed(photo=shown.image is not None):
            # Faster than people show faces: refused undecided, so it costs the other gates nothing.
            await self.send(ScanOutcome.refused(Reason.UNAVAILABLE).frame(frame.data["ref"], 0))
            metrics.scan_answered(False, Reason.UNAVAILABLE.value, FACE_METHOD, time.monotonic() - self.last_frame)
            return
        await self._in_flight.acquire()
        task = asyncio.create_task(self._face(frame, shown, self.last_frame))
        self._tasks.add(task)
        task.add_done_callback(self._scan_done)

    def _face_shown(self, frame: Frame[inc.Face]) -> FaceShown:
        """The contract's rules beyond the declared shape (DEVICE_PROTOCOL.md "Faces")."""
        data = frame.data
        if not self.face_capable:
            raise BadMessage(
                'face frames come only from a device whose hello declared the "face" capability', frame.ref
            )
        if ("image" in data) == ("embedding" in data):
            raise BadMessage("a face frame carries exactly one of image and embedding", frame.ref)
        if "embedding" in data:
            return FaceShown(None, tuple(float(x) for x in data["embedding"]), data.get("liveness"))
        try:
            image = base64.b64decode(data["image"], validate=True)
        except (binascii.Error, ValueError):
            raise BadMessage("image must be standard base64 of one JPEG", frame.ref) from None
        if len(image) > MAX_PHOTO_BYTES:
            raise BadMessage("image must be a JPEG of at most 512 KiB", frame.ref)
        return FaceShown(image, None, data.get("liveness"))

    async def _face(self, frame: Frame[inc.Face], shown: FaceShown, arrived: float) -> None:
        ref = frame.data["ref"]
        try:
            # A retry of this very frame (same ref, same face) gets the same answer, as a scan does.
            fingerprint = shown.fingerprint()
            remembered = await self.rt.state.recall_ref(self.device_id, str(ref), fingerprint)
            if remembered is not None:
                await self.send(remembered)
                return
            gate_text = frame.data["gateId"]
            gate_id = int(gate_text) if is_id(gate_text) and len(gate_text) <= 18 else None
            try:
                outcome = await decide_face(
                    self.rt, self.device_id, gate_id, shown, frame.data.get("direction"), str(ref)
                )
            except DirectionRequired as exc:
                await self.send(error_frame(str(exc), ref))
                return
            reply = outcome.frame(ref, self.rt.settings.door_open_ms)
            await self.send(reply)
            metrics.scan_answered(outcome.granted, outcome.reason._value_, FACE_METHOD, time.monotonic() - arrived)
            if outcome.event_id is not None and outcome.reason is not Reason.UNAVAILABLE:
                await self.rt.state.remember_ref(self.device_id, str(ref), fingerprint, reply)
            await count_recognition(self.device_id, outcome)
        except Exception:
            log.exception("face %s from device %s failed", ref, self.device_id)
            with contextlib.suppress(Exception):
                await self.send(ScanOutcome.refused(Reason.UNAVAILABLE).frame(ref, 0))
                metrics.scan_answered(False, Reason.UNAVAILABLE.value, FACE_METHOD, time.monotonic() - arrived)

    @handles("ack")
    async def _ack(self, frame: Frame[inc.Ack]) -> None:
        await device_commands.acknowledge(self.device_id, frame.data["id"])

    @handles("snapshot_ack")
    async def _snapshot_ack(self, frame: Frame[inc.SnapshotAck]) -> None:
        await connections.record_snapshot_loaded(self.device_id)

    @handles("hello")
    async def _hello_again(self, frame: Frame[inc.Hello]) -> None:
        await self.send(error_frame("already connected: hello comes once", frame.ref))

    def _scan_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._in_flight.release()

    async def _scan(self, frame: Frame[inc.Scan], arrived: float) -> None:
        ref = frame.data["ref"]
        ref_key = str(ref)
        credential = frame.data["credential"]
        try:
            remembered = await self._remembered(ref_key, credential)
            if remembered is not None:
                await self.send(remembered)
                return
            answer: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
            self._deciding[ref_key] = (credential, answer)
            try:
                decided = await self._decide(frame, ref, ref_key, credential)
                answer.set_result(decided[0] if decided is not None else None)
            finally:
                if self._deciding.get(ref_key, (None, None))[1] is answer:
                    del self._deciding[ref_key]
                if not answer.done():
                    answer.set_result(None)
            if decided is None:
                return
            reply, outcome = decided
            await self.send(reply)
            if outcome is None:
                return  # a retry answered as before
            metrics.scan_answered(outcome.granted, outcome.reason._value_, SCAN_METHOD, time.monotonic() - arrived)
            if outcome.reason is not Reason.UNAVAILABLE and not outcome.shared:
                await self.rt.state.remember_ref(self.device_id, ref_key, credential, reply)
            if not self.test_scan_seen and outcome.event_id is not None:
                self.test_scan_seen = True
                await connections.record_test_scan(self.device_id)
        except Exception:
            log.exception("scan %s from device %s failed", ref, self.device_id)
            # Fail closed: the door stays shut and the device hears why.
            with contextlib.suppress(Exception):
                await self.send(ScanOutcome.refused(Reason.UNAVAILABLE).frame(ref, 0))
                metrics.scan_answered(False, Reason.UNAVAILABLE.value, SCAN_METHOD, time.monotonic() - arrived)

    async def _remembered(self, ref_key: str, credential: str) -> dict[str, Any] | None:
        """The answer already given to this very scan (same ref, same credential) on this connection,
        if any; a scan still being decided on this connection is waited for. The answers other
        connections gave are looked up by the decision (decide_scan), with its token claim."""
        deciding = self._deciding.get(ref_key)
        if deciding is not None and deciding[0] == credential:
            reply = await deciding[1]
            if reply is not None:
                return reply
        answered = self._answered.get(ref_key)
        if answered is not None:
            return answered[1] if answered[0] == credential else None
        return None

    async def _decide(
        self, frame: Frame[inc.Scan], ref: Any, ref_key: str, credential: str
    ) -> tuple[dict[str, Any], ScanOutcome | None] | None:
        """The reply and the outcome decided now (None for a retry answered as before)."""
        if credential.startswith(ITEM_LABEL):
            # A warehouse handheld in stocktake mode: its label scans count into the stocktake
            # (README "Stocktakes"), answered in the decision frame's shape; nothing opens.
            counted = await stocktakes.device_scan(self.rt, self.device_id, credential)
            if counted is not None:
                reply = {"type": "decision", "ref": ref, "granted": False, "reason": counted}
                self._remember(ref_key, credential, reply)
                return reply, None
        gate_text = frame.data["gateId"]
        gate_id = int(gate_text) if is_id(gate_text) and len(gate_text) <= 18 else None
        try:
            outcome = await decide_scan(
                self.rt, self.device_id, gate_id, credential, frame.data.get("direction"), ref_key, reply_ref=ref
            )
        except DirectionRequired as exc:
            await self.send(error_frame(str(exc), ref))
            return None
        except AlreadyAnswered as again:
            self._answered[ref_key] = (credential, again.reply)
            return again.reply, None
        reply = outcome.frame(ref, self.rt.settings.door_open_ms)
        if outcome.reason is Reason.UNAVAILABLE:
            return reply, outcome  # not an answer to repeat: the retry is decided once the server can
        # Remembered on this connection before it is sent (a resend right after the answer finds
        # it), shared with other workers after: the device is not kept waiting for that.
        self._remember(ref_key, credential, reply)
        return reply, outcome

    def _remember(self, ref_key: str, credential: str, reply: dict[str, Any]) -> None:
        self._answered[ref_key] = (credential, reply)
        self._answered.move_to_end(ref_key)
        if len(self._answered) > ANSWERS_KEPT:
            self._answered.popitem(last=False)

    @handles("heartbeat")
    async def _heartbeat(self, frame: Frame[inc.Heartbeat]) -> None:
        # Stored beside the frames that follow, not before them: a heartbeat waits for the campus's
        # heartbeat group commit (hundreds of milliseconds at 333 a second), and a scan read after
        # it waited as long (bench/guards_and_campus.py: the campus scan p99 was 0.14-0.5 s). The
        # counters are totals since the device booted, so a newer heartbeat replaces one not yet stored.
        self._beat = frame.data
        if self._beats is None or self._beats.done():
            self._beats = asyncio.create_task(self._store_heartbeats())

    async def _store_heartbeats(self) -> None:
        while self._beat is not None:
            beat, self._beat = self._beat, None
            try:
                holding = device_fleet.Holding(self.rt.state, self.connection_id, self._offline_after())
                await device_fleet.record_heartbeat(self.device_id, beat.get("stats"), holding)
                if not self.offline_capable and not self.config_recorded:
                    # Commissioning's "configuration loaded" (an offline device acks a snapshot instead).
                    self.config_recorded = True
                    await connections.record_config_loaded(self.device_id)
            except Exception:
                # The device hears nothing back for a heartbeat; the next one is stored as usual.
                log.exception("heartbeat from device %s not stored", self.device_id)

    @handles("item")
    async def _item(self, frame: Frame[inc.Item]) -> None:
        gate = await connections.served_gate(self.rt, self.device_id, frame.data["gateId"])
        if gate is None:
            await self.send(error_frame("item scan at a gate this device does not serve", frame.ref))
            return
        # A label's carrier is the pass scanned before it at that gate: scans this connection is
        # still deciding are stored first, so a label sent right behind its carrier's pass finds it.
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        result = await item_checks.scan_label(self.rt, self.device_id, gate.id, frame.data["code"])
        await self.send({"type": "item_result", "ref": frame.data["ref"], **result})

    @handles("events")
    async def _upload(self, frame: Frame[inc.Events]) -> None:
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
        ack: EventsAck = {
            "type": "events_ack",
            "ref": frame.ref,
            "upTo": max(e.seq for e in events),
            "stored": stored,
            "duplicates": duplicates,
        }
        await self.send(ack)

    @handles("door")
    async def _door(self, frame: Frame[inc.Door]) -> None:
        gate = await connections.served_gate(self.rt, self.device_id, frame.data["gateId"])
        if gate is None:
            await self.send(error_frame("door report for a gate this device does not serve", frame.ref))
            return
        await connections.record_door_report(
            self.rt, self.anomalies, self.device_id, gate, frame.data["state"], frame.data.get("at")
        )

    def _offline_after(self) -> int:
        return 3 * self.rt.settings.heartbeat_seconds

    async def went_silent(self) -> None:
        limit = self._offline_after()
        await connections.record_silence(self.rt, self.device_id, self.device_name, limit)
        await self.close(4408, "no frame within 3 heartbeats")


class Watchdog:
    """Closes the connections that sent nothing within 3 heartbeats: one task for all of them.

    A task per connection sleeping in a loop cost a campus of 10,000 gates 2,000 timers a second,
    each leaving a future, a handle and a coroutine frame that outlived the young GC generation:
    they filled the middle one until its collection held the event loop 0.2-0.5 s every few
    seconds (the scan p99 of 1.5 s). One pass over the connections every few seconds costs
    about 2 ms per 10,000, in turns of CHUNK."""

    CHUNK = 2000  # connections checked between two turns of the event loop

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt
        self._watched: set[DeviceConnection] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def watch(self, conn: DeviceConnection) -> None:
        self._watched.add(conn)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._sweep(), name="device-watchdog")

    def unwatch(self, conn: DeviceConnection) -> None:
        self._watched.discard(conn)

    async def _sweep(self) -> None:
        while self._watched:
            limit = 3 * self._rt.settings.heartbeat_seconds
            # As each connection's own watchdog did: a third of the silence allowed, at most 5 s.
            await asyncio.sleep(min(limit / 3, 5))
            now = time.monotonic()
            for i, conn in enumerate(list(self._watched)):
                if i and not i % self.CHUNK:
                    await asyncio.sleep(0)
                if conn in self._watched and now - conn.last_frame > limit:
                    self._watched.discard(conn)
                    task = asyncio.create_task(conn.went_silent())
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)


# Every declared incoming frame has its handler: a declaration added without one fails at import.
if _unhandled := set(INCOMING) - set(HANDLERS):
    raise TypeError(f"incoming frames with no handler: {sorted(_unhandled)}")


class DeviceEndpoint:
    """`/devices/ws`, built with what its connections need (mounted as `DeviceEndpoint(...).serve`)."""

    PATH = "/devices/ws"

    def __init__(self, rt: Runtime, hub: DeviceHub, anomalies: AnomalyDetector) -> None:
        self.rt = rt
        self.hub = hub
        self.anomalies = anomalies
        self.watchdog = Watchdog(rt)

    async def serve(self, ws: WebSocket) -> None:
        rt, hub = self.rt, self.hub
        await ws.accept()
        try:
            message = await asyncio.wait_for(ws.receive(), timeout=rt.settings.hello_timeout_seconds)
        except TimeoutError:
            await ws.close(4408, "no hello within 5 s")
            return
        if message["type"] == "websocket.disconnect":
            return
        hello = _hello(message.get("text") or message.get("bytes") or b"")
        if hello is not None and cooling_off(hello["deviceId"]):
            # Held a moment before the close: a flooder reconnecting at once would otherwise cost a
            # handshake per attempt, hundreds a second; an idle connection costs nothing.
            await asyncio.sleep(COOL_OFF_HOLD)
            await ws.close(CLOSE_OVER_BUDGET, "frame budget exceeded again: connect later")
            return
        peer = ws.client.host if ws.client is not None else "unknown"
        # Behind the proxy every gate comes from it: its X-Forwarded-For names the gate.
        address = client_address(peer, ws.headers.get("x-forwarded-for"), rt.settings.trusted_proxies)
        # An address that failed too many hellos is refused before any credential is looked up.
        if hello_limits.refused(address, hello["deviceId"] if hello is not None else None):
            await ws.close(4401, "bad or missing device credentials")
            return
        device = None
        if hello is not None:
            device = await connections.connect(rt, hello["deviceId"], hello["secret"], hello.get("firmware"))
        if hello is None or device is None:
            await ws.close(4401, "bad or missing device credentials")
            await hello_limits.failed(rt, address)
            return
        hello_limits.succeeded(address, hello["deviceId"])
        # Every line written for this connection from here on names the device (this task and the
        # scan tasks it starts share the context; nothing to undo: the task ends with the connection).
        log_context.device_id.set(str(device.id))
        conn = DeviceConnection(ws, rt, hub, self.anomalies, device)
        conn.offline_capable = "offline" in hello.get("capabilities", ())
        conn.face_capable = "face" in hello.get("capabilities", ())
        key_refused = None
        if "faceKey" in hello and conn.offline_capable and conn.face_capable:
            try:
                conn.face_key = offline_block.parse_device_key(hello["faceKey"])
            except offline_block.BadFaceKey as exc:
                key_refused = error_frame(str(exc))  # after welcome; the device stays, without templates
        await hub.attach(conn)
        await rt.state.set_device_connection(device.id, conn.connection_id, conn._offline_after())
        try:
            await conn.send(conn.welcome(await rt.topology.get()))
            if key_refused is not None:
                await conn.send(key_refused)
            if conn.offline_capable:
                await conn.send(await snapshots.signed_frame(rt, device.id, conn.face_key))
            await conn.run(self.watchdog)
        finally:
            hub.detach(conn)
            await rt.state.clear_device_connection(device.id, conn.connection_id)


def _hello(raw: str | bytes) -> inc.Hello | None:
    """The first frame, when it is a well-formed hello."""
    try:
        frame = parse_frame(raw)
    except BadMessage:
        return None
    hello: inc.Hello | None = frame.data if frame.type == "hello" else None
    return hello
