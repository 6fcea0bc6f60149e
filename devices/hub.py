"""The gate devices connected to this process, and the routes to them.

Commands published on the bus reach the process that holds the device's socket; a
device that connects again (anywhere) replaces its older connection (4409); a retired
device or a rotated secret closes the live connection (4401); revocations and fresh
offline snapshots go to every connected device.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from devices.frames.outgoing import Revoke
from realtime.bus import Bus
from realtime.messages import (
    AccessChanged,
    CredentialsRevoked,
    DeviceCommandMessage,
    DeviceSessionMessage,
    FacesChanged,
    M,
)

log = logging.getLogger("gatehouse.devices")
SNAPSHOT_DEBOUNCE_SECONDS = 1.0


class DeviceLink(Protocol):
    device_id: int
    connection_id: str
    offline_capable: bool
    face_key: bytes | None  # an offline face terminal's X25519 key: its snapshots carry templates

    async def send(self, frame: Mapping[str, Any]) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


SnapshotMaker = Callable[[int, bytes | None], Awaitable[dict[str, Any]]]


class DeviceHub:
    def __init__(self, bus: Bus, snapshot_for: SnapshotMaker | None = None) -> None:
        self._bus = bus
        self._snapshot_for = snapshot_for
        self._links: dict[int, DeviceLink] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._access_changed = False  # since the last push (else only face templates changed)
        self.process_id = uuid.uuid4().hex[:12]

    async def start(self) -> None:
        ready: list[asyncio.Event] = []
        self._tasks = [
            self._listen(DeviceCommandMessage, self._on_command, ready),
            self._listen(DeviceSessionMessage, self._on_session, ready),
            self._listen(CredentialsRevoked, self._on_revocation, ready),
        ]
        if self._snapshot_for is not None:
            snapshot_ready = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._route_access(snapshot_ready), name="hub-snapshots"))
            ready.append(snapshot_ready)
        for event in ready:
            await event.wait()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for link in list(self._links.values()):
            with contextlib.suppress(Exception):
                await link.close(1001, "server stopping")

    def new_connection_id(self) -> str:
        return f"{self.process_id}:{uuid.uuid4().hex[:12]}"

    async def attach(self, link: DeviceLink) -> None:
        old = self._links.get(link.device_id)
        self._links[link.device_id] = link
        if old is not None and old is not link:
            with contextlib.suppress(Exception):
                await old.close(4409, "replaced by a newer connection of this device")
        self._bus.send(DeviceSessionMessage(device_id=link.device_id, connection=link.connection_id))

    def detach(self, link: DeviceLink) -> None:
        if self._links.get(link.device_id) is link:
            del self._links[link.device_id]

    def local(self, device_id: int) -> DeviceLink | None:
        return self._links.get(device_id)

    @property
    def connected(self) -> int:
        return len(self._links)

    def _listen(
        self, kind: type[M], handler: Callable[[M], Awaitable[None]], ready: list[asyncio.Event]
    ) -> asyncio.Task[None]:
        subscribed = asyncio.Event()
        ready.append(subscribed)
        return asyncio.create_task(self._route(kind, handler, subscribed), name=f"hub-{kind.CHANNEL}")

    async def _route(self, kind: type[M], handler: Callable[[M], Awaitable[None]], ready: asyncio.Event) -> None:
        async with self._bus.receive(kind) as messages:
            ready.set()
            async for message in messages:
                try:
                    await handler(message)
                except Exception:
                    log.exception("handling %s failed", kind.CHANNEL)

    async def _on_command(self, message: DeviceCommandMessage) -> None:
        link = self._links.get(message.device_id)
        if link is not None:
            await link.send(message.frame)

    async def _on_session(self, message: DeviceSessionMessage) -> None:
        link = self._links.get(message.device_id)
        if link is None or link.connection_id == message.connection:
            return
        self.detach(link)
        code = message.close_code
        reason = "device retired or secret rotated" if code == 4401 else "replaced by a newer connection"
        with contextlib.suppress(Exception):
            await link.close(code, reason)

    async def _on_revocation(self, message: CredentialsRevoked) -> None:
        # A new frame type; firmware that does not know it ignores it.
        frame: Revoke = {"type": "revoke", "credentialIds": list(message.credential_ids)}
        for link in list(self._links.values()):
            if link.offline_capable:
                with contextlib.suppress(Exception):
                    await link.send(frame)

    async def _route_access(self, ready: asyncio.Event) -> None:
        """Access changed somewhere: after a short pause (changes come in bursts) resend snapshots."""
        assert self._snapshot_for is not None
        changed = asyncio.Event()
        pusher = asyncio.create_task(self._push_when(changed), name="hub-snapshot-push")
        try:
            # A template enrolled or deleted changes what offline face terminals may match.
            faces_ready = asyncio.Event()
            faces = asyncio.create_task(self._watch_faces(changed, faces_ready), name="hub-face-snapshots")
            try:
                async with self._bus.receive(AccessChanged) as changes:
                    await faces_ready.wait()
                    ready.set()
                    async for _ in changes:
                        self._access_changed = True
                        changed.set()
            finally:
                faces.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await faces
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher

    async def _watch_faces(self, changed: asyncio.Event, ready: asyncio.Event) -> None:
        async with self._bus.receive(FacesChanged) as changes:
            ready.set()
            async for _ in changes:
                changed.set()

    async def _push_when(self, changed: asyncio.Event) -> None:
        while True:
            await changed.wait()
            await asyncio.sleep(SNAPSHOT_DEBOUNCE_SECONDS)
            changed.clear()  # everything that arrived during the pause is in this push
            # Only templates changed: only offline face terminals' snapshots differ.
            faces_only, self._access_changed = not self._access_changed, False
            await self.push_snapshots(faces_only)

    async def push_snapshots(self, faces_only: bool = False) -> None:
        assert self._snapshot_for is not None
        links = [x for x in self._links.values() if x.offline_capable and (x.face_key or not faces_only)]
        for link in links:
            try:
                await link.send(await self._snapshot_for(link.device_id, link.face_key))
            except Exception:
                log.warning("snapshot to device %s not delivered", link.device_id)
