"""The reference gate agent: one gate controller on the device protocol.

`gatehouse-gate run` (gatehouse_gate.cli) reads QR text lines from stdin the way a USB
keyboard-wedge scanner types them, asks the server while the link is up, decides from the
signed snapshot while it is down (fail closed once the snapshot expires), buffers those
events with a sequence number on disk, and uploads them when the link is back. The door is
driven through a pluggable output: `log`, `gpio:[chip:]<line>` (the GPIO character device,
gatehouse_gate.gpio) or an `http(s)://` relay URL. The link may be `wss://` (TLS, verified).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import websockets

from gatehouse_gate import faces as faces_offline
from gatehouse_gate.offline import BadSnapshot, OfflineDecider, verify_snapshot

log = logging.getLogger("gatehouse.gate")
ONLINE_ANSWER_SECONDS = 2.0
UPLOAD_BATCH = 500
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MOST_SECONDS = 10.0


def reconnect_delay(failures: int, draw: Callable[[], float] = random.random) -> float:
    """How long to wait before the next attempt after `failures` in a row: doubling from half a second
    to ten, each wait drawn at random up to that bound ("full jitter"). A switch coming back brings a
    whole building's gates back at once; waits of the same length kept them in step, every attempt
    of all of them landing together on the server's accept queue."""
    bound = min(RECONNECT_FIRST_SECONDS * 2 ** min(failures, 16), RECONNECT_MOST_SECONDS)
    return draw() * bound


class Door:
    """Where an open goes. Subclasses drive real hardware.

    `hold` keeps the door open (an evacuation) until `close` — the `release` command.
    """

    async def open(self, gate_id: str, duration_ms: int, hold: bool = False) -> None:
        print(f"door {gate_id}: " + ("held open" if hold else f"open for {duration_ms} ms"), flush=True)

    async def close(self, gate_id: str) -> None:
        print(f"door {gate_id}: closed", flush=True)


class GpioDoor(Door):
    """A relay on a GPIO line (gatehouse_gate.gpio): active for the open time, or until `close`
    while held. `set_active` drives the line; the agent's timing is all here."""

    def __init__(self, set_active: Callable[[bool], None]) -> None:
        self.set_active = set_active
        self.held = False
        self.opens = 0  # a later open restarts the time: an earlier one's timer must not close it

    async def open(self, gate_id: str, duration_ms: int, hold: bool = False) -> None:
        self.set_active(True)
        if hold or duration_ms <= 0:
            self.held = True
            return
        self.opens += 1
        mine = self.opens
        await asyncio.sleep(duration_ms / 1000)
        if not self.held and self.opens == mine:
            self.set_active(False)

    async def close(self, gate_id: str) -> None:
        self.held = False
        self.set_active(False)


class HttpRelayDoor(Door):
    def __init__(self, url: str) -> None:
        self.url = url

    async def open(self, gate_id: str, duration_ms: int, hold: bool = False) -> None:
        body = json.dumps({"gateId": gate_id, "durationMs": duration_ms, "hold": hold}).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        await asyncio.to_thread(urllib.request.urlopen, request, None, 5)


def make_door(spec: str) -> Door:
    if spec == "log":
        return Door()
    if spec.startswith("gpio:"):
        from gatehouse_gate import gpio  # libgpiod only where a GPIO door is asked for

        return GpioDoor(gpio.output_line(*gpio.parse_spec(spec[5:])))
    if spec.startswith(("http://", "https://")):
        return HttpRelayDoor(spec)
    raise ValueError(f"--door must be log, gpio:[chip:]<line> or an http(s) URL, not {spec!r}")


class EventBuffer:
    """Offline decisions, one JSON line each, kept until the server acknowledges them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        self.next_seq = 1
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    self.events.append(json.loads(line))
            self.next_seq = max((e["seq"] for e in self.events), default=0) + 1
        seq_file = path.with_suffix(".seq")
        if seq_file.exists():
            self.next_seq = max(self.next_seq, int(seq_file.read_text() or 1))

    def add(self, event: dict[str, Any]) -> dict[str, Any]:
        event = {"seq": self.next_seq, **event}
        self.next_seq += 1
        self.events.append(event)
        with self.path.open("a") as f:
            f.write(json.dumps(event) + "\n")
        self.path.with_suffix(".seq").write_text(str(self.next_seq))
        return event

    def acknowledge(self, up_to: int) -> None:
        self.events = [e for e in self.events if e["seq"] > up_to]
        self.path.write_text("".join(json.dumps(e) + "\n" for e in self.events))


class GateAgent:
    def __init__(
        self,
        server: str,
        device_id: str,
        secret: str,
        state_dir: Path,
        door: Door,
        tls: ssl.SSLContext | None = None,
        faces: bool = False,
    ) -> None:
        self.url = server.rstrip("/") + "/devices/ws"
        self.tls = tls  # for a wss:// server: whom to trust (a private CA); None: the system's CAs
        self.device_id = device_id
        self.secret = secret
        self.door = door
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        self.buffer = EventBuffer(state_dir / "offline-events.jsonl")
        self.decider: OfflineDecider | None = None
        self.server_key: str | None = None
        self.ws: Any = None
        self.online = asyncio.Event()
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.gates: dict[str, dict[str, Any]] = {}
        self.refs = 0
        self.stopping = False
        self._door_tasks: set[asyncio.Task[None]] = set()
        self._uploader: asyncio.Task[None] | None = None
        # A face terminal: its X25519 key (state dir) and the templates its snapshot opened to.
        self.face_key = faces_offline.load_or_create_key(state_dir) if faces else None
        self.face_people: list[dict[str, Any]] = []
        self._load_snapshot()

    def _load_snapshot(self) -> None:
        path = self.state_dir / "snapshot.json"
        if path.exists():
            saved = json.loads(path.read_text())
            try:
                self.server_key = saved["serverKey"]
                self.decider = OfflineDecider(verify_snapshot(saved["frame"], saved["serverKey"]))
                self._open_faces(self.decider.snapshot)
            except (BadSnapshot, KeyError):
                log.warning("the saved snapshot does not verify; deciding offline is off until a new one")

    def _open_faces(self, snapshot: dict[str, Any]) -> None:
        if self.face_key is not None:
            self.face_people = faces_offline.open_templates(self.face_key, snapshot)

    def _hello(self) -> dict[str, Any]:
        hello: dict[str, Any] = {
            "type": "hello",
            "deviceId": self.device_id,
            "secret": self.secret,
            "firmware": "gatehouse-gate/1",
            "capabilities": ["offline"],
        }
        if self.face_key is not None:
            hello["capabilities"] = ["offline", "face"]
            hello["faceKey"] = faces_offline.public_b64(self.face_key)
        return hello

    async def run_link(self) -> None:
        """Keep the link up; reconnect with backoff; upload buffered events after each connect."""
        failures = 0
        while not self.stopping:
            try:
                link = (
                    websockets.connect(self.url, max_size=2**21, open_timeout=5)
                    if self.tls is None  # ws://, or wss:// checked against the system's CAs
                    else websockets.connect(self.url, max_size=2**21, open_timeout=5, ssl=self.tls)
                )
                async with link as ws:
                    self.ws = ws
                    await ws.send(json.dumps(self._hello()))
                    welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if welcome.get("type") != "welcome":
                        raise ConnectionError(f"no welcome: {welcome}")
                    self.server_key = self.server_key or welcome.get("snapshotKey")
                    self.gates = {g["id"]: g for g in welcome.get("gates", [])}
                    self.online.set()
                    failures = 0
                    self.kick_upload()
                    try:
                        async for raw in ws:
                            await self._on_frame(json.loads(raw))
                    finally:
                        if self._uploader is not None:
                            self._uploader.cancel()
            except ssl.SSLCertVerificationError as exc:
                # Never talk to a server that cannot prove it is ours: the hello carries the secret.
                log.error("link refused: the server's certificate is not trusted (%s); --ca-file names a CA", exc)
            except (TimeoutError, OSError, ConnectionError, websockets.WebSocketException) as exc:
                log.info("link down: %s", exc)
            finally:
                self.online.clear()
                self.ws = None
                for fut in self.pending.values():
                    if not fut.done():
                        fut.set_exception(ConnectionError("link lost"))
                self.pending.clear()
            if not self.stopping:
                await asyncio.sleep(reconnect_delay(failures))
                failures += 1

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "decision":
            fut = self.pending.pop(str(frame.get("ref")), None)
            if fut is not None and not fut.done():
                fut.set_result(frame)
        elif kind == "snapshot" and self.server_key:
            try:
                snapshot = verify_snapshot(frame, self.server_key)
            except BadSnapshot:
                log.warning("ignored a snapshot whose signature does not verify")
                return
            if self.decider is None:
                self.decider = OfflineDecider(snapshot)
            else:
                self.decider.replace(snapshot)
            self._open_faces(snapshot)
            (self.state_dir / "snapshot.json").write_text(json.dumps({"serverKey": self.server_key, "frame": frame}))
            await self._send({"type": "snapshot_ack", "issuedAt": snapshot["issuedAt"]})
        elif kind == "revoke" and self.decider is not None:
            self.decider.revoked |= set(frame.get("credentialIds", []))
        elif kind == "command":
            await self._command(frame)
        elif kind == "events_ack":
            self.buffer.acknowledge(int(frame.get("upTo", 0)))

    async def _command(self, frame: dict[str, Any]) -> None:
        gate = str(frame.get("gateId", ""))
        if frame.get("command") == "open":
            # Acknowledge at once; the door stays open for its duration on its own.
            hold = bool(frame.get("hold"))
            task = asyncio.create_task(self.door.open(gate, int(frame.get("durationMs", 3000)), hold))
            self._door_tasks.add(task)
            task.add_done_callback(self._door_tasks.discard)
            if hold and self.decider is not None:
                self.decider.evacuated.add(gate)
        elif frame.get("command") == "lockdown" and self.decider is not None:
            self.decider.locked.add(gate)
        elif frame.get("command") == "release":
            if self.decider is not None:
                self.decider.locked.discard(gate)
                self.decider.evacuated.discard(gate)
            await self.door.close(gate)
        await self._send({"type": "ack", "id": frame.get("id")})

    async def _send(self, frame: dict[str, Any]) -> None:
        if self.ws is not None:
            with contextlib.suppress(websockets.WebSocketException):
                await self.ws.send(json.dumps(frame))

    def kick_upload(self) -> None:
        """Send buffered events now if the link is up (one uploader at a time)."""
        if self.ws is not None and self.buffer.events and (self._uploader is None or self._uploader.done()):
            self._uploader = asyncio.create_task(self.upload())

    async def upload(self) -> None:
        while self.buffer.events and self.ws is not None:
            batch = self.buffer.events[:UPLOAD_BATCH]
            await self._send({"type": "events", "ref": f"up-{batch[-1]['seq']}", "events": batch})
            await asyncio.sleep(0.2)
            if self.buffer.events and self.buffer.events[0]["seq"] <= batch[-1]["seq"]:
                await asyncio.sleep(1)  # not acknowledged yet: send again (the server stores each once)

    async def scan(self, gate_id: str, token: str, direction: str | None = None) -> tuple[bool, str, bool]:
        """(granted, reason, decided offline)."""
        gate = self.gates.get(gate_id, {})
        way: str = direction or (gate["direction"] if gate.get("direction") in ("IN", "OUT") else "IN")
        if self.online.is_set() and self.ws is not None:
            self.refs += 1
            ref = f"{self.device_id}-{int(time.time())}-{self.refs}"
            fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self.pending[ref] = fut
            frame = {"type": "scan", "ref": ref, "gateId": gate_id, "credential": token}
            if gate.get("direction") == "BOTH":
                frame["direction"] = way
            try:
                await self.ws.send(json.dumps(frame))
                answer = await asyncio.wait_for(fut, ONLINE_ANSWER_SECONDS)
                if answer.get("granted"):
                    await self.door.open(gate_id, int(answer.get("open", {}).get("durationMs", 3000)))
                return bool(answer.get("granted")), str(answer.get("reason")), False
            except (TimeoutError, ConnectionError, websockets.WebSocketException):
                self.pending.pop(ref, None)
                # The server may still decide the frame it got: the ref lets it keep only one of the two.
                return await self.decide_offline(gate_id, token, way, ref)
        return await self.decide_offline(gate_id, token, way)

    async def decide_offline(
        self, gate_id: str, token: str, direction: str, ref: str | None = None
    ) -> tuple[bool, str, bool]:
        now = datetime.now(UTC)
        if self.decider is None:
            granted, reason = False, "snapshot_expired"
        else:
            granted, reason, _ = self.decider.decide(gate_id, token, direction, now)
            self.decider.forget_old_steps(now)
        event: dict[str, Any] = {
            "gateId": gate_id,
            "at": now.isoformat(),
            "credential": token,
            "granted": granted,
            "reason": reason,
            "direction": direction,
        }
        if ref is not None:
            event["ref"] = ref
        self.buffer.add(event)
        self.kick_upload()  # the link may be up though this answer came too late: send it now
        if granted:
            await self.door.open(gate_id, 3000)
        return granted, reason, True

    async def face_offline(
        self, gate_id: str, embedding: list[float], direction: str | None = None, liveness: bool | None = None
    ) -> tuple[bool, str, bool]:
        """A face decided here from the snapshot's templates, buffered for upload like a scan."""
        gate = self.gates.get(gate_id, {})
        way: str = direction or (gate["direction"] if gate.get("direction") in ("IN", "OUT") else "IN")
        now = datetime.now(UTC)
        snapshot = self.decider.snapshot if self.decider is not None else None
        granted, reason, person, distance = faces_offline.decide(
            self.face_people, snapshot, gate_id, embedding, way, now, liveness
        )
        event: dict[str, Any] = {
            "gateId": gate_id,
            "at": now.isoformat(),
            "credential": "",
            "granted": granted,
            "reason": reason,
            "direction": way,
            "method": "FACE",
        }
        if person is not None:
            event["personId"] = person["personId"]
        if distance is not None:
            event["distance"] = round(min(distance, 4.0), 6)
        if liveness is not None:
            event["liveness"] = liveness
        self.buffer.add(event)
        self.kick_upload()
        if granted:
            await self.door.open(gate_id, 3000)
        return granted, reason, True


async def run_scanner(agent: GateAgent, gate_id: str, direction: str | None) -> int:
    """Serve one gate from stdin: one QR text per line in, one JSON result per line out."""
    link = asyncio.create_task(agent.run_link())
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(agent.online.wait(), 5)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        token = line.decode(errors="replace").strip("\r\n")  # a wedge scanner ends each code with Enter
        if not token:
            continue
        if token.startswith("face:") and agent.face_key is not None:
            # "face:<file>": a JSON list of the 128 numbers the camera's encoder wrote, decided here.
            try:
                text = await asyncio.to_thread(Path(token[5:]).read_text)
                embedding = [float(x) for x in json.loads(text)]
                if len(embedding) != 128:
                    raise ValueError("not 128 numbers")
            except (OSError, ValueError, TypeError) as exc:
                print(json.dumps({"granted": False, "reason": "bad_input", "error": str(exc)}), flush=True)
                continue
            granted, reason, offline = await agent.face_offline(gate_id, embedding, direction)
        else:
            granted, reason, offline = await agent.scan(gate_id, token, direction)
        print(json.dumps({"granted": granted, "reason": reason, "offline": offline}), flush=True)
    # Input ended: give buffered events a moment to go up.
    if agent.buffer.events and agent.online.is_set():
        await agent.upload()
    agent.stopping = True
    link.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await link
    return 0
